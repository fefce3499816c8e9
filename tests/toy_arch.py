"""A toy architecture, added as a third party would: this one module and one register() call.

The network is one 1x1 convolution; its weights (:func:`negative_weights`) make it output
``1 - x``, the photographic negative, so a test can tell from the pixels that it ran. It
accepts only sizes that are multiples of 7 (its ``input_multiple``), so a run also shows that
tiling padded to the registered size rule, not to MSSNet's 16.
"""

from __future__ import annotations

from typing import Any

from modelkb.pixels.registry import Architecture, register

MULTIPLE = 7


def build(variant: str, width: int) -> Any:
    """A randomly initialised toy network (``width`` is the variant's setting)."""
    import torch
    from torch import nn

    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mix = nn.Conv2d(3, width, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, w = x.shape[-2:]
            if h % MULTIPLE or w % MULTIPLE:
                raise ValueError(f"the toy network needs sizes divisible by {MULTIPLE}, "
                                 f"got {h}x{w}")
            return self.mix(x)

    return Toy()  # defined in this module: the registry finds its architecture by that


def recognise(state_dict: dict[str, Any]) -> str | None:
    """'toy-rgb' for a state_dict of exactly the toy's two tensors, else None."""
    weight = state_dict.get("mix.weight")
    if set(state_dict) == {"mix.weight", "mix.bias"} and tuple(weight.shape) == (3, 3, 1, 1):
        return "toy-rgb"
    return None


def negative_weights() -> dict[str, Any]:
    """The state_dict that makes the toy output 1 - x."""
    import torch

    return {"mix.weight": -torch.eye(3).reshape(3, 3, 1, 1), "mix.bias": torch.ones(3)}


TOY = register(Architecture(
    name="toy",
    module=__name__,
    variants={"toy-rgb": {"width": 3}},
    summary="a one-convolution test network",
    input_multiple=MULTIPLE,
))
