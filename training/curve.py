"""The curve of the run of issue 32: one row per evaluated branch (training/branch.sh).

    .venv/bin/python training/curve.py [RUN_FOLDER]

Reads RUN-branches/<step>/eval.json (benchmarks/eval_weights.py) and gallery.json
(benchmarks/gallery_sharpness.py) of every branch, and the run's log for the hours each step
took, and prints the model card's Markdown tables: gains per condition (mean over the
held-out photos and the 5-20 px shakes), per shake length, and the gallery's band error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CONDITIONS = ("blur", "light", "heavy")


def hours_at(log: Path) -> dict[int, float]:
    """Hours of training (wall time of the steps themselves) up to each step."""
    total, out = 0.0, {}
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "event" in record:
            continue
        total += 4.0 / max(record["img_s"], 1e-9) / 3600  # batch 4 / images a second
        out[record["step"]] = total
    return out


def main(argv: list[str]) -> int:
    run = Path(argv[0]) if argv else Path.home() / ".cache/modelkb/runs/deblur"
    branches = sorted((p for p in Path(f"{run}-branches").glob("*") if p.name.isdigit()),
                      key=lambda p: int(p.name))
    hours = hours_at(run / "log.jsonl")
    rows, lengths_rows, band_rows = [], [], []
    for branch in branches:
        evaluated = branch / "eval.json"
        if not evaluated.is_file():
            continue
        (label, result), = json.loads(evaluated.read_text(encoding="utf-8")).items()
        step = int(branch.name)
        cool = json.loads((branch / "log.jsonl").read_text().splitlines()[-1])["step"] - step
        conds = result["conditions"]
        gains = [f"{conds[c]['mean']['psnr_gain']:+.2f} dB" for c in CONDITIONS if c in conds]
        detail = " / ".join(f"{conds[c]['mean']['output_sharpness']:.3f}" for c in CONDITIONS
                            if c in conds)
        rows.append(f"| {step:,} (+{cool} cool-down) | {hours.get(step, 0):.1f} | "
                    + " | ".join(gains) + f" | {detail} | `{label.split('(')[-1][:-1]}` |")
        for c in CONDITIONS:
            if c in conds:
                per = " / ".join(f"{v['psnr_gain']:+.2f}" for v in conds[c]["by_length"].values())
                lengths_rows.append(f"| {step:,} | {c} | {per} |")
        gallery = branch / "gallery.json"
        if gallery.is_file():
            found = json.loads(gallery.read_text(encoding="utf-8"))
            bands = " / ".join(f"{r['photo']} {r['band_error_ratio']:.3f}" for r in found)
            met = sum(r["band_error_ratio"] <= 0.9 for r in found)
            band_rows.append(f"| {step:,} | {bands} | {met} of {len(found)} |")
    print("| run step | hours | blur | light | heavy | fine detail out (blur / light / heavy) "
          "| weights |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| run step | condition | gain at 5 / 10 / 15 / 20 px |\n|---|---|---|")
    print("\n".join(lengths_rows))
    print("\n| run step | band error to the resize, per gallery photo | at 0.90 or below |"
          "\n|---|---|---|")
    print("\n".join(band_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
