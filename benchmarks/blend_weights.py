"""Blend two MSSNet weights files of one variant: (1 - alpha) x A + alpha x B, per tensor.

Network interpolation (Wang et al., ESRGAN, 2018): between a fidelity-trained network and a
fine-tune of it that favours fine detail, the blend trades PSNR against sharpness smoothly,
because both lie in one basin. Written as fp16 safetensors with both sources' SHA-256 and
alpha in the metadata.

    .venv/bin/python benchmarks/blend_weights.py A.safetensors B.safetensors --alpha 0.5 \
        --out blended.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--alpha", type=float, required=True, help="weight of B, in [0, 1]")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        parser.error(f"--alpha must lie in [0, 1], got {args.alpha}")

    from modelkb.models.weights import load_weights, save_safetensors

    a, b = load_weights(args.a), load_weights(args.b)
    if a.variant != b.variant:
        parser.error(f"{args.a.name} holds {a.variant}, {args.b.name} holds {b.variant}")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    blended = {k: ((1 - args.alpha) * sa[k].float() + args.alpha * sb[k].float()) for k in sa}
    save_safetensors(blended, args.out, metadata={
        "variant": a.variant, "blend_a_sha256": a.sha256, "blend_b_sha256": b.sha256,
        "blend_alpha": repr(args.alpha)})
    print(f"wrote {args.out}: {1 - args.alpha:g} x {a.sha256[:12]} + {args.alpha:g} x "
          f"{b.sha256[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
