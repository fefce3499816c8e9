"""Training batches made by DataLoader worker processes, in the same order as without them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from modelkb.train.data import PairedSource, Spec, SyntheticSource, batch, batch_specs

Source = SyntheticSource | PairedSource
Batch = tuple[np.ndarray, np.ndarray] | list[Spec]


class StepBatches(IterableDataset):
    """The deterministic batches of steps start..end-1; worker k makes steps k, k+n, ..."""

    def __init__(self, source: Source, seed: int, size: int, crop: int, start: int,
                 end: int, specs: bool = False) -> None:
        super().__init__()
        self.source, self.seed, self.size, self.crop = source, seed, size, crop
        self.start, self.end, self.specs = start, end, specs

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        first, stride = (0, 1) if info is None else (info.id, info.num_workers)
        for step in range(self.start + first, self.end, stride):
            yield self.make(step)

    def make(self, step: int) -> Batch:
        """The batch of `step`: arrays, or specs for the device to finish."""
        if self.specs:
            assert isinstance(self.source, SyntheticSource)
            return batch_specs(self.source, self.seed, step, self.size, self.crop)
        return batch(self.source, self.seed, step, self.size, self.crop)


def _as_is(item: Batch) -> Batch:
    """The DataLoader's collate function: batches are made whole by the workers."""
    return item


def iter_batches(source: Source, seed: int, size: int, crop: int, start: int, end: int,
                 workers: int = 0, specs: bool = False) -> Iterator[Batch]:
    """Batches for steps start..end-1 in order, made here or by ``workers`` processes:
    (sharp, blurred) arrays, or with ``specs`` the windows and parameters that
    :func:`modelkb.train.synth.finish` degrades on the device.

    The loader takes one item from each worker in turn, so step order (and therefore the
    run) is the same with any number of workers.
    """
    dataset = StepBatches(source, seed, size, crop, start, end, specs)
    if workers <= 0:
        for step in range(start, end):
            yield dataset.make(step)
        return
    loader = DataLoader(dataset, batch_size=None, collate_fn=_as_is, num_workers=workers,
                        persistent_workers=True, prefetch_factor=4)
    yield from loader
