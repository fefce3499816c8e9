"""The architectures modelkb can run, and the devices it can run them on: the one place.

An architecture joins by one registration (BasicSR / timm style): its name, its variants with
their builder settings, the module that holds the network, and the default weights per
variant. The catalog validates ``architecture`` and ``variant`` here, weights loading builds
and recognises networks here, and the gallery's cache keys hash the registered modules and
the code they import (:func:`modelkb.sourcehash.code_digest`), with the registrations
themselves (:func:`registry_json`). Part of the pixel package: a registration decides which
network computes a picture. Nothing here imports torch: the network module is
imported only when a network is built or a state_dict recognised.

The network module (``Architecture.module``) provides two functions:

- ``build(variant: str, **settings) -> torch.nn.Module``: a randomly initialised network;
  ``settings`` are the variant's entry in ``Architecture.variants``;
- ``recognise(state_dict: dict[str, torch.Tensor]) -> str | None``: the variant whose key
  names and shapes the state_dict has, or None when it is not this architecture's.

Adding an architecture is one new module (with ``build`` and ``recognise``) and one
``register(Architecture(...))`` call: the built-in ones are registered at the end of this
file; another package registers its own with :func:`register` (at import) or through the
``modelkb.architectures`` entry point group, whose entries name an :class:`Architecture`
object. ``Architecture.input_multiple`` is the network's size rule: tiling pads every input
to a multiple of it.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from modelkb.pixels.usererror import ModelkbError

DEVICES = ("auto", "cpu", "cuda", "mps")

ENTRY_POINT_GROUP = "modelkb.architectures"

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # modelkb's folder: default_weights
# paths are relative to it
WEIGHTS_DIR = PACKAGE_DIR / "weights"  # the weights files shipped with modelkb


@dataclass(frozen=True)
class Architecture:
    """One architecture: everything modelkb needs to know to run it."""

    name: str
    module: str  # import path of the module with build() and recognise()
    variants: Mapping[str, Mapping[str, Any]]  # variant -> keyword settings for build()
    # variant -> weights file shipped inside the modelkb package (path relative to it)
    default_weights: Mapping[str, str] = field(default_factory=dict)
    summary: str = ""
    input_multiple: int = 1  # height and width must be multiples of this (tiling pads)
    # variant -> work per pixel, relative to mssnet-small (1.0; a variant left out counts
    # 1.0): what the gallery's cost model assumes until timings are measured
    # (modelkb.gallery.forecast), and what shards are balanced by
    cost: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.variants.items()}))
        object.__setattr__(self, "default_weights", MappingProxyType(dict(self.default_weights)))
        object.__setattr__(self, "cost", MappingProxyType(dict(self.cost)))

    def variant_cost(self, variant: str | None) -> float:
        """The work per pixel of ``variant`` (see :attr:`cost`)."""
        return float(self.cost.get(variant or "", 1.0))

    def load_module(self) -> ModuleType:
        """The network's module (imports torch)."""
        return importlib.import_module(self.module)

    def build(self, variant: str) -> Any:
        """A randomly initialised network of ``variant``."""
        check_variant(variant, self.name)
        return self.load_module().build(variant, **self.variants[variant])

    def recognise(self, state_dict: Mapping[str, Any]) -> str | None:
        """The variant these weights are for, or None when they are not this architecture's."""
        found = self.load_module().recognise(dict(state_dict))
        return found if found in self.variants else None


_REGISTRY: dict[str, Architecture] = {}


def register(arch: Architecture, replace: bool = False) -> Architecture:
    """Add an architecture; a name or variant already taken is an error unless ``replace``."""
    if not isinstance(arch, Architecture):
        raise TypeError(f"register() takes an Architecture, not {type(arch).__name__}")
    if not replace:
        if arch.name in _REGISTRY:
            raise ModelkbError(f"architecture {arch.name!r} is registered already")
        taken = {v: a.name for a in _REGISTRY.values() for v in a.variants}
        clash = [v for v in arch.variants if v in taken]
        if clash:
            raise ModelkbError(f"architecture {arch.name!r}: variant {clash[0]!r} belongs to "
                               f"{taken[clash[0]]!r} already; variant names are unique")
    _REGISTRY[arch.name] = arch
    return arch


def unregister(name: str) -> None:
    """Remove an architecture (tests, plugins that replace one)."""
    _REGISTRY.pop(name, None)


@functools.cache
def _load_entry_points() -> None:
    """Register the architectures of the ``modelkb.architectures`` entry points (once per
    process; a broken one is an error each time it is asked for)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            arch = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin is a located error
            raise ModelkbError(f"cannot load architecture entry point {ep.name!r} "
                               f"({ep.value}): {exc}") from None
        if arch.name not in _REGISTRY:
            register(arch)


def architectures() -> dict[str, Architecture]:
    """Every registered architecture by name, in registration order."""
    _load_entry_points()
    return dict(_REGISTRY)


def get(name: str) -> Architecture:
    """The architecture called ``name``, or a ModelkbError listing the known ones."""
    found = architectures().get(name)
    if found is None:
        raise ModelkbError(f"unknown architecture {name!r}: choose one of "
                           f"{', '.join(architectures())}")
    return found


def variant_names() -> tuple[str, ...]:
    """Every registered variant name (unique across architectures)."""
    return tuple(v for a in architectures().values() for v in a.variants)


def architecture_of_variant(variant: str | None) -> Architecture | None:
    """The architecture that has ``variant``, or None."""
    return next((a for a in architectures().values() if variant in a.variants), None)


def check_device(name: str) -> str:
    """``name`` if it is a known device name, else a ModelkbError listing them."""
    if name not in DEVICES:
        raise ModelkbError(f"unknown device {name!r}: choose one of {', '.join(DEVICES)}")
    return name


def check_variant(name: str, architecture: str | None = None) -> str:
    """``name`` if it is a registered variant (of ``architecture`` when given), else a
    ModelkbError listing the choices."""
    names = (get(architecture).variants if architecture is not None else variant_names())
    if name not in names:
        raise ModelkbError(f"unknown variant {name!r}: choose one of {', '.join(names)}")
    return name


def architecture_of_network(network: object) -> Architecture | None:
    """The registered architecture whose module defines ``network``'s class, or None."""
    module = type(network).__module__
    return next((a for a in architectures().values() if a.module == module), None)


def recognise(state_dict: Mapping[str, Any]) -> tuple[Architecture, str] | None:
    """The (architecture, variant) whose key names and shapes these weights have, or None."""
    for arch in architectures().values():
        variant = arch.recognise(state_dict)
        if variant is not None:
            return arch, variant
    return None


def shipped_weights(name: str) -> Path:
    """The real path of the weights file ``name`` in :data:`WEIGHTS_DIR`; a ModelkbError when
    it resolves outside it (an absolute path, '..', a symlink out). The file may be absent."""
    try:
        root = WEIGHTS_DIR.resolve()
        real = (root / name).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL
        raise ModelkbError(f"weights file {name!r}: cannot resolve it ({exc})") from None
    if real == root or not real.is_relative_to(root):
        raise ModelkbError(
            f"weights file {name!r} is outside modelkb's weights folder: give the name of a "
            f"file shipped in {WEIGHTS_DIR} (no '..', no absolute path, no symlink out)")
    return real


def registry_json() -> str:
    """The registered architectures as canonical JSON (names, modules, variants and their
    settings, default weights, size rules): what validation and building depend on."""
    return json.dumps({a.name: {"module": a.module, "variants": {k: dict(v) for k, v in
                                                                 a.variants.items()},
                                "default_weights": dict(a.default_weights),
                                "input_multiple": a.input_multiple}
                       for a in architectures().values()}, sort_keys=True)


# The built-in architectures. Adding one: write its module (build, recognise) and register it.
register(Architecture(
    name="mssnet",
    module="modelkb.pixels.mssnet",
    # (wf, scale, vscale): channel widths of the three encoder levels are wf, wf + scale,
    # wf + scale + vscale.
    variants={
        "mssnet-small": {"wf": 20, "scale": 40, "vscale": 40},
        "mssnet": {"wf": 54, "scale": 42, "vscale": 42},
        "mssnet-large": {"wf": 80, "scale": 50, "vscale": 50},
    },
    default_weights={"mssnet-small": "weights/mssnet-small-modelkb.safetensors"},
    summary="MSSNet (Kim, Lee and Cho, ECCV Workshops 2022), multi-scale-stage deblurring",
    input_multiple=16,
    # the multiply-adds per pixel (41, 144 and 288 GMAC at 256x256, BENCHMARKS.md "MSSNet
    # inference", where the time follows them); `benchmarks/bench_shards.py --measure`
    # times them on a given machine
    cost={"mssnet-small": 1.0, "mssnet": 3.5, "mssnet-large": 7.0},
))
