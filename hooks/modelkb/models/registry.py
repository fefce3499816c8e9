"""What can run a model, known without importing torch: devices and architecture variants.

The one place these lists are written; the CLI, the settings and the network read them here.
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")

# MSSNet variant -> (wf, scale, vscale): channel widths of the three encoder levels.
MSSNET_VARIANTS: dict[str, tuple[int, int, int]] = {
    "mssnet-small": (20, 40, 40),
    "mssnet": (54, 42, 42),
    "mssnet-large": (80, 50, 50),
}
VARIANT_NAMES = tuple(MSSNET_VARIANTS)


def check_device(name: str) -> str:
    """``name`` if it is a known device name, else a ModelkbError listing them."""
    if name not in DEVICES:
        from modelkb.errors import ModelkbError

        raise ModelkbError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    return name


def check_variant(name: str) -> str:
    """``name`` if it is a known MSSNet variant, else a ModelkbError listing them."""
    if name not in MSSNET_VARIANTS:
        from modelkb.errors import ModelkbError

        raise ModelkbError(f"unknown variant {name!r}: choose one of {', '.join(VARIANT_NAMES)}")
    return name
