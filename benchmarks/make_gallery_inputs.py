"""Write the shipped gallery inputs: photos of several subjects, each degraded reproducibly.

For each photo: ``gallery_src/<name>_sharp.png`` (the reference) and
``gallery_src/<name>_blurred.jpg`` (the input: camera shake, sensor noise and, for the
low-light photo, a dimmed exposure, from :mod:`modelkb.train.degrade` with a fixed seed,
saved as a JPEG like a phone snapshot), plus ``gallery_src/SOURCES.md`` with sources,
licences and every degradation parameter. Rerunning it writes the same files.

The photos cover what real snapshots hold: a portrait (skin), lettering, foliage, a
building's lines, fur, and a low-light scene with strong noise. They come from
scikit-image's bundled data and from Debian's ``mate-backgrounds`` and
``plasma-workspace-wallpapers`` packages (GPL-2+, pinned by SHA-256 in
:mod:`modelkb.train.photos`). Only the small derived files are committed, so a fresh clone
rebuilds the gallery without these packages. To rerun this script, unpack the packages
(``apt-get download mate-backgrounds plasma-workspace-wallpapers`` and ``dpkg -x`` each
into one folder) and pass that folder::

    python benchmarks/make_gallery_inputs.py [OUT_DIR] [--debian-root FOLDER]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from modelkb.train.degrade import DegradeConfig, degrade, describe, linear_to_srgb, srgb_to_linear
from modelkb.train.photos import DEBIAN_PHOTOS, PACKAGES, sha256_file
from modelkb.train.skimage_photos import PHOTOS, load

DEBIAN_ROOT = Path("/work/debphotos/x")
# Moderate, visible shake; JPEG is applied once, at the end, at a fixed quality.
SHAKE = DegradeConfig(length=(9.0, 13.0), defocus_prob=0.0, photons=(1500.0, 2500.0),
                      read_noise=(0.001, 0.003), jpeg_prob=0.0)


@dataclass(frozen=True)
class Photo:
    """One gallery photo: where it comes from and how it is degraded."""

    name: str
    subject: str
    source: str  # "skimage:<function>" or "debian:<name in modelkb.train.photos>"
    url: str
    licence: str
    seed: int
    config: DegradeConfig
    max_side: int = 768
    jpeg_quality: int = 85
    exposure: float = 1.0  # linear-light gain before the shake (below 1: a dim scene)
    trained_on: bool = False  # among the shipped weights' training photos


GALLERY: tuple[Photo, ...] = (
    Photo("astronaut", "Astronaut Eileen Collins, NASA portrait (skin tones, fabric, flag)",
          "skimage:astronaut", "https://flic.kr/p/r9qvLn", "public domain (NASA)", 5, SHAKE,
          max_side=512),
    Photo("chelsea", "Chelsea the cat (fur, whiskers)", "skimage:chelsea",
          "https://github.com/scikit-image/scikit-image/tree/main/skimage/data",
          "CC0 (photographer Stefan van der Walt)", 11, SHAKE, max_side=512),
    Photo("text", "Handwritten formulas on paper, photographed at an angle (lettering)",
          "skimage:text", "https://en.wikipedia.org/wiki/File:Corner.png",
          "public domain (no known copyright restrictions; Wikipedia)", 23,
          DegradeConfig(length=(6.0, 8.0), defocus_prob=0.0, photons=(1500.0, 2500.0),
                        read_noise=(0.001, 0.003), jpeg_prob=0.0), jpeg_quality=80),
    Photo("ladybird", "Ladybird on a grass stem among forget-me-nots (foliage, flowers)",
          "debian:mate-ladybird", "https://packages.debian.org/bookworm/mate-backgrounds",
          "GPL-2+ (Charles Barbin, 2008; Debian mate-backgrounds)", 31,
          DegradeConfig(length=(10.0, 12.0), defocus_prob=1.0, defocus_radius=(0.8, 1.0),
                        photons=(1500.0, 2500.0), read_noise=(0.001, 0.003), jpeg_prob=0.0)),
    Photo("building", "Curved facade of a modern building in black and white (architecture "
          "lines)", "debian:plasma-grey",
          "https://packages.debian.org/bookworm/plasma-workspace-wallpapers",
          "GPL-2+ (KDE Visual Design Group; Debian plasma-workspace-wallpapers)", 41, SHAKE,
          trained_on=True),
    Photo("storm", "Storm clouds over a road at dusk, underexposed (low light, strong noise)",
          "debian:mate-storm", "https://packages.debian.org/bookworm/mate-backgrounds",
          "GPL-2+ (Sergey Nazarov, 2008; Debian mate-backgrounds)", 53,
          DegradeConfig(length=(6.0, 8.0), defocus_prob=0.0, photons=(60.0, 90.0),
                        read_noise=(0.006, 0.008), jpeg_prob=0.0),
          jpeg_quality=80, exposure=0.35),
)


def _open(photo: Photo, debian_root: Path) -> Image.Image:
    kind, name = photo.source.split(":", 1)
    if kind == "skimage":
        if PHOTOS.get(name, ("heldout",))[0] != "heldout":
            raise SystemExit(f"{name} is a training photo; mark it trained_on or pick another")
        return Image.fromarray(load(name) if name in PHOTOS else _skimage(name))
    pinned = next(p for p in DEBIAN_PHOTOS if p.name == name)
    if (pinned.role == "train") != photo.trained_on:
        raise SystemExit(f"{name}: its training role is {pinned.role}; set trained_on to match")
    path = debian_root / pinned.path
    if not path.is_file():
        raise SystemExit(f"{path} is missing: unpack {pinned.package} "
                         f"{PACKAGES[pinned.package]} with dpkg -x into --debian-root")
    if sha256_file(path) != pinned.sha256:
        raise SystemExit(f"{path}: SHA-256 differs from the pinned {pinned.sha256[:12]}...")
    with Image.open(path) as image:
        return image.convert("RGB")


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


def make(photo: Photo, out_dir: Path, debian_root: Path) -> dict[str, str]:
    """Write <name>_sharp.png and <name>_blurred.jpg; returns a description of the damage."""
    sharp = _open(photo, debian_root)
    if max(sharp.size) > photo.max_side:
        scale = photo.max_side / max(sharp.size)
        sharp = sharp.resize((round(sharp.width * scale), round(sharp.height * scale)),
                             Image.Resampling.LANCZOS)
    if photo.exposure != 1.0:  # the dim scene is the reference; the camera saw it noisily
        dim = linear_to_srgb(srgb_to_linear(np.asarray(sharp) / 255.0) * photo.exposure)
        sharp = Image.fromarray(np.round(np.clip(dim, 0, 1) * 255).astype(np.uint8))
    blurred, params = degrade(np.asarray(sharp), photo.seed, photo.config)
    params.pop("jpeg_quality", None)  # JPEG is applied below, at the photo's quality
    sharp.save(out_dir / f"{photo.name}_sharp.png", optimize=True)
    u8 = np.round(np.clip(blurred, 0, 1) * 255).astype(np.uint8)
    Image.fromarray(u8).save(out_dir / f"{photo.name}_blurred.jpg", quality=photo.jpeg_quality)
    damage = f"seed {photo.seed}: {describe(params)}, JPEG q{photo.jpeg_quality}"
    if photo.exposure != 1.0:
        damage = f"exposure x{photo.exposure:g} (linear light), {damage}"
    return {"damage": damage, "size": f"{sharp.width}x{sharp.height}"}


def main(argv: list[str] | None = None) -> None:
    """Write every gallery input and SOURCES.md into OUT_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path("gallery_src"))
    parser.add_argument("--debian-root", type=Path, default=DEBIAN_ROOT,
                        help="folder the Debian wallpaper packages were unpacked into")
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Gallery inputs: sources and licences",
        "",
        "Written by `python benchmarks/make_gallery_inputs.py` (fixed seeds: rerunning it",
        "gives the same files). Each `<name>_sharp.png` is the photo, downscaled to at most",
        "768 pixels (512 for the scikit-image portraits); `<name>_blurred.jpg` is the same",
        "photo degraded by `modelkb.train.degrade`: a camera-shake kernel (length, curvature,",
        "inertia, speed jitter, kernel size in pixels; an optional defocus disk), sensor noise",
        "in linear light (photons: full-well electrons, fewer is noisier; read noise), then a",
        "JPEG at the quality given. The low-light photo is dimmed first (its reference is the",
        "dim, clean photo). Every parameter is listed below and shown beside the photo on the",
        "site.",
        "",
        "| Files | Photo | Source | Licence | Degradation |",
        "| --- | --- | --- | --- | --- |",
    ]
    for photo in GALLERY:
        done = make(photo, out_dir, args.debian_root)
        kind, name = photo.source.split(":", 1)
        origin = (f"scikit-image `skimage.data.{name}()`" if kind == "skimage"
                  else f"Debian `{next(p for p in DEBIAN_PHOTOS if p.name == name).path}`")
        trained = " **Among the shipped weights' training photos.**" if photo.trained_on else ""
        lines.append(f"| `{photo.name}_blurred.jpg`, `{photo.name}_sharp.png` ({done['size']}) "
                     f"| {photo.subject}{trained} | {origin}, <{photo.url}> | {photo.licence} "
                     f"| {done['damage']} |")
    lines += [
        "",
        "The astronaut portrait is a NASA photograph from the NASA Great Images database",
        "(scikit-image: \"No known copyright restrictions, released into the public domain\").",
        "The cat photo was released under CC0 by its photographer, Stefan van der Walt, for",
        "scikit-image; the handwriting photo is Wikipedia's `Corner.png`, bundled by",
        "scikit-image as public domain. See scikit-image's `skimage/data/README.txt`.",
        "",
        "The ladybird and storm photos come from Debian's `mate-backgrounds` "
        f"{PACKAGES['mate-backgrounds']}",
        "and the building from `plasma-workspace-wallpapers` "
        f"{PACKAGES['plasma-workspace-wallpapers']}; both packages'",
        "`copyright` files license them under the GNU GPL, version 2 or later (photographers",
        "named in the table). The derived files here are under the same licence. The building",
        "photo was among the shipped weights' training photos (`modelkb.train.photos`), so",
        "its result is optimistic; every other photo was held out of training.",
        "",
    ]
    (out_dir / "SOURCES.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
