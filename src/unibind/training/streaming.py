"""Training from WebDataset shards (a local folder or an object-store URL), resumable and rank-balanced.

Each epoch the shards are put in an order drawn from ``(seed, epoch)`` and read as one stream of records. The
stream is cut into ``S = ranks x workers`` equal, contiguous ranges, one per (rank, data-loader worker): a
range touches only the shards it overlaps, so each process reads about ``1 / S`` of the bytes. In training
every range holds the same number of whole batches (the remainder, under ``S x batch_size`` samples, waits
for a later epoch, like ``drop_last``), so every rank runs the same number of steps and no rank waits in a
collective for one that has finished; evaluation ranges cover every sample once. Within its range a worker
shuffles through a buffer (seeded from ``(seed, epoch, range)``), decodes each record under its own random
state (:func:`~unibind.training.loader.sample_seed` of its manifest index) and batches in the worker.

A position is the number of batches the trainer finished in the epoch. Batch ``k`` of an epoch comes from the
rank's range ``k mod W`` (``W`` workers, taken in turn); on resume each range skips the batches it already gave,
before decoding, and the workers are matched to the ranges so that the next batch is the one an uninterrupted
run would take next.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from unibind.datasets.manifest import OnError, collate_items
from unibind.datasets.shard_index import ShardSet
from unibind.datasets.shards import ShardRecord, decode_record, iter_records
from unibind.modalities import InputError, ModalitySpec
from unibind.objectives.distributed import rank, world_size
from unibind.training.loader import EpochPosition, StatefulLoader, sample_seed, seeded


@dataclass(frozen=True)
class StreamRange:
    """Records ``start .. stop - 1`` of shard ``shard`` (positions within the shard)."""

    shard: int
    start: int
    stop: int


def stream_ranges(
    counts: list[int], order: list[int], streams: int, batch_size: int, drop_last: bool
) -> list[list[StreamRange]]:
    """Cut the concatenation of the shards in ``order`` into ``streams`` contiguous ranges.

    With ``drop_last`` each range holds ``floor(total / streams)`` records rounded down to whole batches;
    otherwise the ranges split every record as evenly as possible (the first ``total mod streams`` one longer).
    """
    total = sum(counts[shard] for shard in order)
    if drop_last:
        quota = total // streams // batch_size * batch_size
        bounds = [(s * quota, (s + 1) * quota) for s in range(streams)]
    else:
        base, extra = divmod(total, streams)
        edges = [s * base + min(s, extra) for s in range(streams + 1)]
        bounds = list(itertools.pairwise(edges))
    offsets, offset = [], 0
    for shard in order:
        offsets.append(offset)
        offset += counts[shard]
    ranges = []
    for first, last in bounds:
        parts = []
        for shard, begin in zip(order, offsets, strict=True):
            lo, hi = max(first, begin), min(last, begin + counts[shard])
            if lo < hi:
                parts.append(StreamRange(shard, lo - begin, hi - begin))
        ranges.append(parts)
    return ranges


class ShardStream(IterableDataset):
    """Collated batches of one (rank, worker) range of a shard set, for one epoch, from a position on.

    Args:
        shards: the shard set (:func:`~unibind.datasets.shards.open_shards`).
        specs: modality -> spec of the modalities to read.
        batch_size: items per batch.
        train: shuffle, random captions, equal whole batches per range (else: shard order, first captions,
            every record once).
        seed: the run's seed.
        on_error: ``raise`` at a bad record (the error names shard, key and id) or ``skip`` and count it.
        shuffle_buffer: records a worker shuffles among in training.
        random_captions: in training, a random caption of each item (else the first).
        position: the epoch and finished batches (shared with the loader in the main process).
    """

    def __init__(
        self,
        shards: ShardSet,
        specs: Mapping[str, ModalitySpec],
        batch_size: int,
        train: bool,
        seed: int = 0,
        on_error: OnError = "raise",
        shuffle_buffer: int = 1000,
        random_captions: bool = True,
        position: EpochPosition | None = None,
    ) -> None:
        missing = set(specs) - set(shards.modalities)
        if missing:
            raise ValueError(f"{shards.location}: the shards hold {shards.modalities}, not {sorted(missing)}")
        self.shards, self.specs, self.batch_size, self.train = shards, dict(specs), batch_size, train
        self.seed, self.on_error, self.shuffle_buffer = seed, on_error, shuffle_buffer
        self.position = position or EpochPosition()
        #: (rank, world size), read in the main process: data-loader workers have no process group
        self.ranks: tuple[int, int] | None = None
        self.text_sampling: Literal["random", "first"] = "random" if train and random_captions else "first"

    def ranges(self, epoch: int, streams: int) -> list[list[StreamRange]]:
        counts = [shard.count for shard in self.shards.shards]
        order = list(range(len(counts)))
        if self.train:
            order = torch.randperm(len(counts), generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()
        return stream_ranges(counts, order, streams, self.batch_size, drop_last=self.train)

    def batches_per_rank(self, workers: int) -> int:
        """Batches this rank yields in an epoch (every rank the same in training)."""
        workers = max(1, workers)
        streams = self.ranges(self.position.epoch, world_size() * workers)
        per_stream = [sum(r.stop - r.start for r in parts) for parts in streams]
        return sum(-(-n // self.batch_size) for n in per_stream[rank() * workers : (rank() + 1) * workers])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        this_rank, world = self.ranks or (rank(), world_size())
        epoch, done = self.position.epoch, self.position.start_batch
        # batch k of the epoch comes from range k mod W; the loader starts with worker 0, so after ``done`` batches
        # worker w serves range (w + done) mod W, which has already given ceil((done - range) / W) batches
        local = (worker + done) % workers
        parts = self.ranges(epoch, world * workers)[this_rank * workers + local]
        skip = max(0, -(-(done - local) // workers)) * self.batch_size
        batch: list[dict[str, Any] | None] = []
        for index, record in enumerate(self._records(parts, epoch, this_rank * workers + local)):
            if index < skip:
                continue
            batch.append(self._decode(record, epoch))
            if len(batch) == self.batch_size:
                yield collate_items(batch, self.specs)
                batch = []
        if batch:
            yield collate_items(batch, self.specs)

    def _records(self, parts: list[StreamRange], epoch: int, stream: int) -> Iterator[ShardRecord]:
        records = (record for part in parts for record in iter_records(self.shards, part.shard, part.start, part.stop))
        if not self.train or self.shuffle_buffer <= 1:
            yield from records
            return
        rng = random.Random(sample_seed(self.seed, epoch, -1 - stream))
        buffer: list[ShardRecord] = []
        for record in records:
            buffer.append(record)
            if len(buffer) >= self.shuffle_buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer

    def _decode(self, record: ShardRecord, epoch: int) -> dict[str, Any] | None:
        try:
            with seeded(sample_seed(self.seed, epoch, int(record.meta["index"]))):
                sample = decode_record(record, self.specs, self.text_sampling)
        except InputError:
            if self.on_error == "raise":
                raise
            return None
        return sample if sample["inputs"] else None


class StreamingLoader(StatefulLoader):
    """The loader of a :class:`ShardStream`: a stateful iterable, as :class:`~unibind.training.ResumableLoader`.

    Args:
        stream: the dataset.
        num_workers: worker processes (each reads its own range).
        progress: batches of the current epoch the trainer has finished, or None (then the loader's count).
    """

    def __init__(
        self, stream: ShardStream, num_workers: int = 0, progress: Callable[[], int | None] | None = None
    ) -> None:
        super().__init__(progress)
        self.stream, self.num_workers = stream, num_workers
        self.sampler = stream.position  # what Lightning calls set_epoch on

    def __len__(self) -> int:
        return self.stream.batches_per_rank(self.num_workers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # a fresh loader per epoch: workers get a copy of the stream with this epoch's position and the ranks
        self.stream.ranks = (rank(), world_size())
        loader = DataLoader(
            self.stream,
            batch_size=None,
            num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.stream.seed),
        )
        return self.counted(loader)
