"""Size caps for weights files, downloads and zip members, derived from the registry.

A weights file may hold at most :func:`weights_cap` bytes: four times the float32 size of
the largest registered variant (113 MB for mssnet-large, so 451 MB). Downloads of an archive
(a ``member`` is asked for) may be :data:`ARCHIVE_FACTOR` times that. Zip members (of a
downloaded archive, and the tensors inside a PyTorch ``.pt``, which is a zip) are checked
by their declared sizes, encryption and compression method before anything is inflated.
"""

from __future__ import annotations

import zipfile

from modelkb.errors import ModelkbError

ARCHIVE_FACTOR = 4
WEIGHTS_FACTOR = 4  # times the float32 size of the largest registered variant
# Methods Python's zipfile inflates: stored, deflate, bzip2, lzma.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate",
               zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}

_cap: list[int] = []


def weights_cap() -> int:
    """The most bytes a weights file (or a checkpoint's tensors, inflated) may hold."""
    if not _cap:
        import torch

        from modelkb.pixels import registry

        largest = 0
        for variant in registry.variant_names():
            with torch.device("meta"):  # shapes only: no memory, no initialisation
                net = registry.architecture_of_variant(variant).build(variant)
            largest = max(largest, sum(t.numel() for t in net.state_dict().values()))
        _cap.append(WEIGHTS_FACTOR * 4 * largest)
    return _cap[0]


def archive_cap() -> int:
    """The most bytes a downloaded zip archive (holding the weights as a member) may have."""
    return ARCHIVE_FACTOR * weights_cap()


def megabytes(size: int) -> str:
    """``size`` in MB for messages."""
    return f"{size / 1e6:,.0f} MB" if size >= 10**6 else f"{size:,} bytes"


def check_members(infos: list[zipfile.ZipInfo], what: str, cap: int) -> None:
    """Refuse encrypted members, unknown compression methods, and declared sizes (each, and
    in total) over ``cap``: checked before a byte is inflated. ``what`` names the file."""
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise ModelkbError(f"{what}: member {info.filename!r} is encrypted; weights must "
                               "be stored unencrypted")
        if info.compress_type not in ZIP_METHODS:
            raise ModelkbError(
                f"{what}: member {info.filename!r} uses compression method "
                f"{info.compress_type}, which modelkb cannot read (it reads "
                f"{', '.join(ZIP_METHODS.values())}); repack the archive with zip")
        total += info.file_size
        if info.file_size > cap or total > cap:
            raise ModelkbError(
                f"{what}: refused, its members declare {megabytes(total)} or more when "
                f"inflated, more than the cap of {megabytes(cap)} (four times the largest "
                "registered network in float32); is it really a weights file?")
