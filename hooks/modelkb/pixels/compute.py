"""One picture computed: decode the photo, run the workflow, encode, measure, record.

:func:`compute` writes what a gallery result is (``results/<key>`` in the gallery's cache):
``output.png`` (the workflow's output at full resolution), ``restored.png`` (the last
restore step's output, at the input's size) and ``run.json``
(:class:`~modelkb.pixels.runrecord.RunRecord`). Everything that decides those bytes is in
this package; the gallery (:mod:`modelkb.gallery.single`) chooses the files, the weights
and the cache entry, and reports faults.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelkb.pixels import PIXEL_VERSION
from modelkb.pixels.runrecord import RunRecord, Size, StepInfo, WeightsInfo, from_dict
from modelkb.pixels.usererror import ModelkbError

if TYPE_CHECKING:  # numpy loads only to compute: cached builds skip it
    import numpy as np

    from modelkb.pixels.workflows import Networks, Steps, WeightsFile


class EntryFault(Exception):
    """A problem with one gallery entry's files: (the file or item shown, the reason)."""

    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def __reduce__(self):  # raised in worker processes: travels back whole
        return (EntryFault, (self.path, self.reason))


def decode(path: Path, display: str, max_pixels: int | None = None) -> np.ndarray:
    """Float RGB of the photo at ``path`` (an EntryFault naming ``display`` when it cannot
    be read)."""
    from modelkb.pixels.imaging import read_image

    try:
        picture = read_image(path, max_pixels=max_pixels)
    except ModelkbError as exc:
        reason = str(exc)
        if path.stat().st_size == 0:
            reason = "the file is empty (0 bytes)"
        raise EntryFault(display, reason) from None
    return picture.rgb


def _call(function: Callable, *args: Any, **_options: Any) -> Any:
    return function(*args)


def compute(folder: Path, workflow: Steps, input_path: Path, input_display: str,
            ref_path: Path | None, ref_display: str, weights: Mapping[str, WeightsFile], *,
            device: str, architectures: Mapping[str, str | None], models: Networks,
            max_pixels: int | None = None, model_lock: AbstractContextManager | None = None,
            offload: Callable[..., Any] = _call) -> RunRecord:
    """Compute one picture into ``folder`` (see the module's notes); returns its record.
    ``offload(function, *args, model_device=...)`` runs the metrics (a worker process)."""
    import numpy as np

    from modelkb.pixels.imaging import as_u8, read_rgb, to_pil
    from modelkb.pixels.metrics import image_metrics
    from modelkb.pixels.runrecord import Metrics
    from modelkb.pixels.workflows import run_workflow

    clock = time.perf_counter()
    rgb = decode(input_path, input_display, max_pixels)
    reference = decode(ref_path, ref_display, max_pixels) if ref_path else None
    if reference is not None and reference.shape != rgb.shape:
        raise EntryFault(ref_display,
                         f"reference is {reference.shape[1]}x{reference.shape[0]} but the "
                         f"input is {rgb.shape[1]}x{rgb.shape[0]}; they must match")
    timings = {"decode": time.perf_counter() - clock}
    result = run_workflow(workflow, rgb, weights, device, architectures=architectures,
                          label=input_display, model_lock=model_lock, models=models)
    steps = result.summary()["steps"]
    for step in steps:
        if step["op"] == "restore":
            chosen = weights[step["model"]]
            step.update(weights_name=chosen.name, weights_stand_in=chosen.stand_in)
    load = sum(s.get("load_seconds", 0.0) for s in steps)
    timings["load"] = load
    timings["model"] = sum(s["seconds"] for s in steps) - load
    clock = time.perf_counter()
    to_pil(result.output).save(folder / "output.png")
    restored = None
    if result.restored is not None:
        to_pil(result.restored).save(folder / "restored.png")
        restored = read_rgb(folder / "restored.png")
    timings["encode"] = time.perf_counter() - clock
    # Metrics on the 8-bit images as published, so readers can reproduce them.
    clock = time.perf_counter()
    quantised_in = as_u8(rgb).astype(np.float32) / 255
    quantised_ref = as_u8(reference).astype(np.float32) / 255 if reference is not None \
        else None
    used = next((s["device"] for s in reversed(steps) if s["op"] == "restore"), None)
    metrics = (offload(image_metrics, quantised_in, restored, quantised_ref,
                       model_device=used) if restored is not None else None)
    timings["metrics"] = time.perf_counter() - clock
    restore_steps = [s for s in steps if s["op"] == "restore"]
    last = weights[restore_steps[-1]["model"]] if restore_steps else None
    record = RunRecord(
        workflow=workflow.id,
        input=Size(width=rgb.shape[1], height=rgb.shape[0]),
        output=Size(width=result.output.shape[1], height=result.output.shape[0]),
        steps=[StepInfo(**step) for step in steps],
        seconds=round(sum(s["seconds"] for s in steps), 4),
        timings={k: round(v, 4) for k, v in timings.items()},
        device=restore_steps[-1]["device"] if restore_steps else "cpu",
        variant=restore_steps[-1]["variant"] if restore_steps else None,
        weights=(WeightsInfo(sha256=last.sha256, provenance=last.provenance, name=last.name,
                             model=last.model_id, model_name=last.model_name,
                             licence=last.licence, stand_in=last.stand_in)
                 if last else None),
        metrics=from_dict(Metrics, metrics, "metrics") if metrics is not None else None,
        pixel_version=PIXEL_VERSION)
    record.write(folder / "run.json")
    return record
