"""The LightningDataModule over paired-data manifests."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import lightning as L

from unibind.datasets import ManifestDataset
from unibind.datasets.manifest import OnError
from unibind.datasets.shard_index import ShardSet
from unibind.datasets.shards import is_shard_location, open_shards
from unibind.modalities import ModalitySpec, default_spec
from unibind.training.loader import EpochBatchSampler, ResumableLoader
from unibind.training.streaming import ShardStream, StreamingLoader


def make_loader(
    dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int,
    seed: int = 0,
    progress: Callable[[], int | None] | None = None,
) -> ResumableLoader:
    """The loader of a dataset with a ``collate`` method; training (``shuffle``) drops a last partial batch."""
    drop_last = shuffle and len(dataset) > batch_size
    sampler = EpochBatchSampler(len(dataset), batch_size, shuffle, drop_last, seed)
    return ResumableLoader(dataset, sampler, dataset.collate, num_workers, progress)


def run_seed() -> int:
    """The seed ``seed_everything`` set for this run (LightningCLI's ``seed_everything``), else 0."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


#: the splits each Lightning stage reads
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",)}


class SplitDataModule(L.LightningDataModule):
    """A data module whose ``setup`` fills ``datasets`` (train / val / test) and whose loaders come from it.

    Subclasses set ``datasets``, ``batch_size`` and ``num_workers``; ``missing`` is the error for a split
    that was not configured (``{split}`` is filled in).
    """

    missing = "no {split} split configured"
    datasets: dict
    batch_size: int
    num_workers: int

    def _loader(self, split: str, shuffle: bool) -> ResumableLoader:
        if split not in self.datasets:
            raise ValueError(self.missing.format(split=split))
        dataset = self.datasets[split]
        return make_loader(dataset, self.batch_size, shuffle, self.num_workers, run_seed(), self._progress(split))

    def _progress(self, split: str) -> Callable[[], int | None] | None:
        """What a loader of ``split`` saves as its position: the training batches the trainer has finished in the
        current epoch (what a checkpoint resumes after); nothing for the other splits."""
        return self._batches_trained if split == "train" else None

    def _batches_trained(self) -> int | None:
        trainer = self.trainer
        if trainer is None:
            return None
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed

    def train_dataloader(self) -> ResumableLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> ResumableLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> ResumableLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> ResumableLoader:
        return self._loader("predict", shuffle=False)


class ManifestDataModule(SplitDataModule):
    """Train / val / test / predict manifests read through modality specs.

    Each split is a manifest file or a folder of WebDataset shards written by ``unibind data shard`` (a local
    folder or an object-store URL such as ``s3://bucket/corpus/``, read through fsspec), streamed by
    :class:`~unibind.training.streaming.ShardStream`.

    Args:
        train: training manifest (``.jsonl``/``.csv``/``.tsv``) or shard folder / URL.
        val: validation manifest (optional).
        test: test manifest (optional).
        predict: manifest that ``unibind predict`` embeds (optional).
        specs: modality -> spec (YAML: ``class_path``); modalities missing here use their default spec.
        modalities: modalities to read (default: the keys of ``specs``).
        batch_size: items per batch.
        num_workers: DataLoader workers.
        on_error: ``raise`` at the first bad row, or ``skip`` it and count it.
        random_captions: in training pick a random caption of each item at every access (else the first).
        shuffle_buffer: records each worker shuffles among when streaming shards in training.
    """

    missing = "no {split} manifest configured (data.{split})"

    def __init__(
        self,
        train: str | Path,
        val: str | Path | None = None,
        test: str | Path | None = None,
        predict: str | Path | None = None,
        specs: Mapping[str, ModalitySpec] | None = None,
        modalities: list[str] | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        on_error: OnError = "raise",
        random_captions: bool = True,
        shuffle_buffer: int = 1000,
    ) -> None:
        super().__init__()
        names = modalities or list(specs or {})
        if not names:
            raise ValueError("give modalities or specs")
        self.specs = {m: (specs or {}).get(m) or default_spec(m) for m in names}
        self.paths = {"train": train, "val": val, "test": test, "predict": predict}
        self.batch_size, self.num_workers, self.on_error = batch_size, num_workers, on_error
        self.random_captions, self.shuffle_buffer = random_captions, shuffle_buffer
        self.datasets: dict[str, ManifestDataset | ShardSet] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in STAGE_SPLITS.get(stage or "", tuple(self.paths)):
            path = self.paths[split]
            if path is None or split in self.datasets:
                continue
            if is_shard_location(path):
                self.datasets[split] = open_shards(path)
                continue
            sampling = "random" if split == "train" and self.random_captions else "first"
            self.datasets[split] = ManifestDataset(path, self.specs, self.on_error, sampling)

    def _loader(self, split: str, shuffle: bool) -> ResumableLoader | StreamingLoader:
        shards = self.datasets.get(split)
        if not isinstance(shards, ShardSet):
            return super()._loader(split, shuffle)
        stream = ShardStream(
            shards, self.specs, self.batch_size, split == "train", run_seed(), self.on_error, self.shuffle_buffer,
            self.random_captions,
        )  # fmt: skip
        return StreamingLoader(stream, self.num_workers, self._progress(split))
