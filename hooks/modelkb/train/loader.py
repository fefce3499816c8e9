"""Training batches made by DataLoader worker processes, in the same order as without them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from modelkb.train.data import PairedSource, SyntheticSource, batch

Source = SyntheticSource | PairedSource


class StepBatches(IterableDataset):
    """The deterministic batches of steps start..end-1; worker k makes steps k, k+n, ..."""

    def __init__(self, source: Source, seed: int, size: int, crop: int, start: int,
                 end: int) -> None:
        super().__init__()
        self.source, self.seed, self.size, self.crop = source, seed, size, crop
        self.start, self.end = start, end

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        info = get_worker_info()
        first, stride = (0, 1) if info is None else (info.id, info.num_workers)
        for step in range(self.start + first, self.end, stride):
            yield batch(self.source, self.seed, step, self.size, self.crop)


def iter_batches(source: Source, seed: int, size: int, crop: int, start: int, end: int,
                 workers: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Batches for steps start..end-1 in order, made here or by ``workers`` processes.

    The loader takes one item from each worker in turn, so step order (and therefore the
    run) is the same with any number of workers.
    """
    if workers <= 0:
        for step in range(start, end):
            yield batch(source, seed, step, size, crop)
        return
    loader = DataLoader(StepBatches(source, seed, size, crop, start, end), batch_size=None,
                        num_workers=workers, persistent_workers=True, prefetch_factor=4,
                        pin_memory=torch.cuda.is_available())
    for sharp, blurred in loader:
        yield np.asarray(sharp), np.asarray(blurred)
