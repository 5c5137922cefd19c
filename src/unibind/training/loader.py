"""Data loading that resumes exactly: the order is a function of (seed, epoch, rank), the position is saved.

- :class:`EpochBatchSampler` deals each rank its share of a permutation drawn from ``(seed, epoch)`` (as
  ``DistributedSampler`` does, every rank the same number of batches) and starts at a saved batch.
- Every sample is loaded under its own random state, derived from ``(seed, epoch, index)``
  (:func:`sample_seed`, :class:`SeededSamples`): a random caption or crop does not depend on which worker
  loads it, on what was loaded before, or on a restart, and loading never touches the training process's
  random state (dropout keeps its own stream).
- :class:`ResumableLoader` is what a data module returns: Lightning saves its ``state_dict`` in every
  checkpoint and restores it before iterating, so a run resumed mid-epoch sees exactly the batches the
  uninterrupted run would have seen next: none repeated, none skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler

from unibind.objectives.distributed import rank, world_size

MASK64 = (1 << 64) - 1


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed for sample ``index`` in ``epoch`` (SplitMix64 over the three numbers)."""
    state = 0
    for value in (seed, epoch, index):
        state = (state + (value & MASK64) + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        state = z ^ (z >> 31)
    return state >> 1


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's, NumPy's and torch's (CPU) global random states seeded from ``seed`` inside the block and put
    back after it."""
    generator = torch.default_generator  # the CPU generator alone: torch.manual_seed also seeds every accelerator
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), generator.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        generator.set_state(torch_state)


class SeededSamples(Dataset):
    """A map-style dataset read with keys ``(index, seed)``: ``dataset[index]`` under :func:`seeded` ``(seed)``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with seeded(seed):
            return self.dataset[index]


class EpochPosition:
    """An epoch and the batches of it already trained; Lightning calls :meth:`set_epoch` at every epoch's start."""

    def __init__(self) -> None:
        self.epoch = 0
        self.start_batch = 0  #: batches of ``epoch`` already consumed (set when resuming)

    def set_epoch(self, epoch: int) -> None:
        """A new epoch starts from its first batch."""
        if epoch != self.epoch:
            self.epoch, self.start_batch = epoch, 0

    def resume(self, epoch: int, batches: int) -> None:
        """Start the next iteration at batch ``batches`` of ``epoch``."""
        self.epoch, self.start_batch = epoch, batches


class EpochBatchSampler(EpochPosition, Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, seed)`` keys for this rank in one epoch, from a saved position on.

    The epoch's order is a permutation of ``range(num_items)`` drawn from ``seed + epoch`` (``shuffle``) or the
    identity. With ``W`` ranks the order is cut as ``DistributedSampler`` cuts it: rank ``r`` takes positions
    ``r, r + W, ...`` of the order, padded by repeating its start (``drop_last=False``) or truncated
    (``drop_last=True``) so that every rank gets the same number of items, then the same number of batches.

    Args:
        num_items: dataset length.
        batch_size: items per batch.
        shuffle: a new permutation every epoch.
        drop_last: drop a last partial batch (and truncate instead of padding across ranks).
        seed: the run's seed.
    """

    def __init__(self, num_items: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.num_items, self.batch_size = num_items, batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        super().__init__()
        self._cached: tuple[tuple[int, int, int], list[list[int]]] | None = None

    @property
    def sampler(self) -> Sampler:
        """What Lightning inspects to tell a shuffled order (warning on a shuffled evaluation loader)."""
        return self if self.shuffle else SequentialSampler(range(self.num_items))

    def rank_items(self) -> list[int]:
        """This rank's items of the current epoch, in order."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_items, generator=generator).tolist()
        else:
            order = list(range(self.num_items))
        world = world_size()
        if world > 1:
            if self.drop_last:
                order = order[: len(order) - len(order) % world]
            elif order:
                padding = -len(order) % world
                order = order + (order * (padding // len(order) + 1))[:padding]
            order = order[rank() :: world]
        return order

    def batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch (computed once per epoch and world)."""
        key = (self.epoch, rank(), world_size())
        if self._cached is None or self._cached[0] != key:
            items = self.rank_items()
            cut = len(items) - len(items) % self.batch_size if self.drop_last else len(items)
            self._cached = (key, [items[i : i + self.batch_size] for i in range(0, cut, self.batch_size)])
        return self._cached[1]

    def __len__(self) -> int:
        return len(self.batches())

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.epoch
        for batch in self.batches()[self.start_batch :]:
            yield [(index, sample_seed(self.seed, epoch, index)) for index in batch]


class StatefulLoader:
    """What the data modules' loaders share: the position Lightning saves and restores with every checkpoint.

    Lightning treats such a loader as stateful: ``state_dict`` goes into every checkpoint and ``load_state_dict``
    runs before a resumed run iterates. The position is what the trainer finished, read through ``progress``
    (Lightning prefetches a batch, so the loader's own count runs one ahead). Subclasses set ``sampler`` (the
    :class:`EpochPosition` Lightning calls ``set_epoch`` on) and iterate with :meth:`counted`.
    """

    sampler: EpochPosition

    def __init__(self, progress: Callable[[], int | None] | None = None) -> None:
        self.progress = progress
        self.yielded = 0

    def counted(self, batches: Iterable[Any]) -> Iterator[Any]:
        """``batches`` (what is left of the epoch), counted; the next epoch starts from its first batch."""
        self.yielded = self.sampler.start_batch
        for batch in batches:
            self.yielded += 1
            yield batch
        self.sampler.start_batch = 0

    def state_dict(self) -> dict[str, int]:
        done = self.progress() if self.progress is not None else None
        return {"epoch": self.sampler.epoch, "batches": self.yielded if done is None else done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.resume(int(state["epoch"]), int(state["batches"]))


class ResumableLoader(StatefulLoader):
    """Iterable of collated batches over a map-style dataset whose position survives a checkpoint.

    Args:
        dataset: map-style dataset; ``collate`` turns a list of its samples into a batch.
        sampler: the batch order (:class:`EpochBatchSampler`).
        collate: batch function.
        num_workers: worker processes (kept alive across epochs).
        progress: batches of the current epoch the trainer has finished, or None (then the loader's count).
    """

    def __init__(
        self,
        dataset: Dataset,
        sampler: EpochBatchSampler,
        collate: Callable[[Sequence[Any]], Any],
        num_workers: int = 0,
        progress: Callable[[], int | None] | None = None,
    ) -> None:
        super().__init__(progress)
        self.sampler = self.batch_sampler = sampler  # Lightning calls sampler.set_epoch(epoch) every epoch
        self.loader = DataLoader(
            SeededSamples(dataset),
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            # its own generator: creating an iterator draws worker seeds, which must not advance the global
            # random state that dropout uses (a resumed run creates one more iterator than an uninterrupted one)
            generator=torch.Generator().manual_seed(sampler.seed),
        )

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        return self.counted(self.loader)
