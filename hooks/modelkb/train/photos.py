"""Assemble the training photos: scikit-image's bundled photos plus Debian wallpaper photos.

``python -m modelkb.train.photos OUT`` writes ``OUT/train/*.png|jpg`` and ``OUT/heldout/*``
at full resolution and ``OUT/SOURCES.md`` (every file with its SHA-256 and licence).

Debian's wallpaper packages are fetched with ``apt-get download`` and unpacked with
``dpkg -x`` into a work folder (nothing is installed); each file is verified against the
SHA-256 recorded here, so a different package version is an error, not silent drift. The
licences are those of each package's ``copyright`` file. Photos are copied byte for byte
(JPEGs stay JPEGs); the trainer scales them to about 1.6 MP when it loads them.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from modelkb.errors import ModelkbError


@dataclass(frozen=True)
class DebianPhoto:
    """One photograph inside a Debian package, pinned by SHA-256."""

    name: str
    package: str
    path: str  # inside the package's data
    sha256: str
    licence: str
    role: str  # "train" or "heldout"


_MATE = "usr/share/backgrounds/mate/nature"
_PLASMA = "usr/share/wallpapers"
_MATE_LIC = "GPL-2+ (mate-backgrounds copyright file; photographer named there)"
_PLASMA_LIC = "GPL-2+ (plasma-workspace-wallpapers copyright file, KDE Visual Design Group)"

PACKAGES = {"mate-backgrounds": "1.26.0-1", "plasma-workspace-wallpapers": "4:5.27.5-2"}

DEBIAN_PHOTOS: tuple[DebianPhoto, ...] = tuple(
    DebianPhoto(name, pkg, path, sha, lic, role)
    for name, pkg, path, sha, lic, role in [
        ("mate-aqua", "mate-backgrounds", f"{_MATE}/Aqua.jpg",
         "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce", _MATE_LIC, "train"),
        ("mate-blinds", "mate-backgrounds", f"{_MATE}/Blinds.jpg",
         "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600", _MATE_LIC, "train"),
        ("mate-dune", "mate-backgrounds", f"{_MATE}/Dune.jpg",
         "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91", _MATE_LIC, "train"),
        ("mate-freshflower", "mate-backgrounds", f"{_MATE}/FreshFlower.jpg",
         "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e", _MATE_LIC, "train"),
        ("mate-garden", "mate-backgrounds", f"{_MATE}/Garden.jpg",
         "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78", _MATE_LIC, "train"),
        ("mate-greenmeadow", "mate-backgrounds", f"{_MATE}/GreenMeadow.jpg",
         "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832", _MATE_LIC, "train"),
        ("mate-ladybird", "mate-backgrounds", f"{_MATE}/LadyBird.jpg",
         "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d", _MATE_LIC,
         "heldout"),
        ("mate-raindrops", "mate-backgrounds", f"{_MATE}/RainDrops.jpg",
         "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16", _MATE_LIC, "train"),
        ("mate-storm", "mate-backgrounds", f"{_MATE}/Storm.jpg",
         "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957", _MATE_LIC,
         "heldout"),
        ("mate-twowings", "mate-backgrounds", f"{_MATE}/TwoWings.jpg",
         "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb", _MATE_LIC, "train"),
        ("mate-wood", "mate-backgrounds", f"{_MATE}/Wood.jpg",
         "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07", _MATE_LIC, "train"),
        ("mate-yellowflower", "mate-backgrounds", f"{_MATE}/YellowFlower.jpg",
         "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306", _MATE_LIC, "train"),
        ("plasma-autumn", "plasma-workspace-wallpapers",
         f"{_PLASMA}/Autumn/contents/images/2560x1600.jpg",
         "dfded25df13f5c2dfee68cafb23f69c3efb32b8a6931d82ebbe42de9810dd1e4", _PLASMA_LIC, "train"),
        ("plasma-bythewater", "plasma-workspace-wallpapers",
         f"{_PLASMA}/BytheWater/contents/images/2560x1600.jpg",
         "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f", _PLASMA_LIC, "train"),
        ("plasma-coldripple", "plasma-workspace-wallpapers",
         f"{_PLASMA}/ColdRipple/contents/images/2560x1600.jpg",
         "05bef6722fc0ed81292cceb3ed026c38d17e510f3c84be7d68610c2b1a723c3f", _PLASMA_LIC, "train"),
        ("plasma-colorfulcups", "plasma-workspace-wallpapers",
         f"{_PLASMA}/ColorfulCups/contents/images/2560x1600.jpg",
         "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d", _PLASMA_LIC,
         "heldout"),
        ("plasma-darkesthour", "plasma-workspace-wallpapers",
         f"{_PLASMA}/DarkestHour/contents/images/2560x1600.jpg",
         "8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce", _PLASMA_LIC, "train"),
        ("plasma-eveningglow", "plasma-workspace-wallpapers",
         f"{_PLASMA}/EveningGlow/contents/images/2560x1600.jpg",
         "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a", _PLASMA_LIC, "train"),
        ("plasma-fallenleaf", "plasma-workspace-wallpapers",
         f"{_PLASMA}/FallenLeaf/contents/images/2560x1600.jpg",
         "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de", _PLASMA_LIC, "train"),
        ("plasma-grey", "plasma-workspace-wallpapers",
         f"{_PLASMA}/Grey/contents/images/2560x1600.jpg",
         "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed", _PLASMA_LIC, "train"),
        ("plasma-kite", "plasma-workspace-wallpapers",
         f"{_PLASMA}/Kite/contents/images/2560x1600.jpg",
         "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8", _PLASMA_LIC,
         "heldout"),
        ("plasma-onestandsout", "plasma-workspace-wallpapers",
         f"{_PLASMA}/OneStandsOut/contents/images/2560x1600.jpg",
         "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd", _PLASMA_LIC, "train"),
        ("plasma-path", "plasma-workspace-wallpapers",
         f"{_PLASMA}/Path/contents/images/2560x1600.jpg",
         "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8", _PLASMA_LIC, "train"),
        ("plasma-summer-1am", "plasma-workspace-wallpapers",
         f"{_PLASMA}/summer_1am/contents/images/2560x1600.jpg",
         "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8", _PLASMA_LIC, "train"),
    ]
)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack_packages(work: Path, debs: Path | None = None) -> Path:
    """`apt-get download` (unless `debs` holds the .deb files) and `dpkg -x` into work/root."""
    root = work / "root"
    source = debs or work
    if debs is None:
        wanted = [f"{name}={version}" for name, version in PACKAGES.items()]
        done = subprocess.run(["apt-get", "download", *wanted], cwd=work,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise ModelkbError(
                "apt-get download failed (run 'apt-get update' first, or pass --debs with "
                f"the .deb files): {done.stderr.strip().splitlines()[-1:]}"
            )
    for name in PACKAGES:
        found = sorted(source.glob(f"{name}_*.deb"))
        if not found:
            raise ModelkbError(f"{source}: no {name}_*.deb (pass --debs FOLDER holding it)")
        subprocess.run(["dpkg", "-x", str(found[-1]), str(root)], check=True)
    return root


def assemble(out: Path, debs: Path | None = None) -> list[tuple[str, str, str, str]]:
    """Write OUT/train, OUT/heldout and OUT/SOURCES.md; returns (role, file, sha256, licence)."""
    from modelkb.train import skimage_photos

    rows: list[tuple[str, str, str, str]] = []
    for role, paths in skimage_photos.export(out, max_side=None).items():
        for path in paths:
            licence = skimage_photos.PHOTOS[path.stem][1]
            rows.append((role, path.name, sha256_file(path), f"scikit-image: {licence}"))
    with tempfile.TemporaryDirectory(prefix="modelkb-photos-") as tmp:
        root = unpack_packages(Path(tmp), debs)
        for photo in DEBIAN_PHOTOS:
            src = root / photo.path
            if not src.is_file():
                raise ModelkbError(f"{photo.package}: {photo.path} is missing")
            digest = sha256_file(src)
            if digest != photo.sha256:
                raise ModelkbError(
                    f"{photo.package}: {photo.path} has SHA-256 {digest[:12]}..., expected "
                    f"{photo.sha256[:12]}... (package version {PACKAGES[photo.package]} "
                    "is the one pinned)"
                )
            dest = out / photo.role / f"{photo.name}{src.suffix}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            rows.append((photo.role, dest.name, digest,
                         f"Debian {photo.package} {PACKAGES[photo.package]}: {photo.licence}"))
    lines = ["# Training photos", "", "| role | file | SHA-256 | licence |", "|---|---|---|---|"]
    lines += [f"| {r} | {f} | `{s[:16]}` | {lic} |" for r, f, s, lic in sorted(rows)]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m modelkb.train.photos OUT [--debs FOLDER]."""
    parser = argparse.ArgumentParser(prog="python -m modelkb.train.photos", description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--debs", type=Path, default=None,
                        help="folder already holding the .deb files (no apt-get download)")
    args = parser.parse_args(argv)
    try:
        rows = assemble(args.out, args.debs)
    except ModelkbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = {role: sum(1 for r in rows if r[0] == role) for role in ("train", "heldout")}
    print(f"wrote {counts['train']} training and {counts['heldout']} held-out photos to "
          f"{args.out} (list: {args.out / 'SOURCES.md'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
