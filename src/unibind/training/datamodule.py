"""The LightningDataModule over paired-data manifests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from unibind.datasets import ManifestDataset
from unibind.datasets.manifest import OnError
from unibind.modalities import ModalitySpec, default_spec


def make_loader(dataset, batch_size: int, shuffle: bool, num_workers: int) -> DataLoader:
    """The loader of a dataset with a ``collate`` method; training (``shuffle``) drops a last partial batch."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle and len(dataset) > batch_size,
        num_workers=num_workers,
        collate_fn=dataset.collate,
        persistent_workers=num_workers > 0,
    )


class SplitDataModule(L.LightningDataModule):
    """A data module whose ``setup`` fills ``datasets`` (train / val / test) and whose loaders come from it.

    Subclasses set ``datasets``, ``batch_size`` and ``num_workers``; ``missing`` is the error for a split
    that was not configured (``{split}`` is filled in).
    """

    missing = "no {split} split configured"
    datasets: dict
    batch_size: int
    num_workers: int

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise ValueError(self.missing.format(split=split))
        return make_loader(self.datasets[split], self.batch_size, shuffle, self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


class ManifestDataModule(SplitDataModule):
    """Train / val / test manifests read through modality specs.

    Args:
        train: training manifest (``.jsonl``/``.csv``/``.tsv``).
        val: validation manifest (optional).
        test: test manifest (optional).
        specs: modality -> spec (YAML: ``class_path``); modalities missing here use their default spec.
        modalities: modalities to read (default: the keys of ``specs``).
        batch_size: items per batch.
        num_workers: DataLoader workers.
        on_error: ``raise`` at the first bad row, or ``skip`` it and count it.
        random_captions: in training pick a random caption of each item at every access (else the first).
    """

    missing = "no {split} manifest configured (data.{split})"

    def __init__(
        self,
        train: str | Path,
        val: str | Path | None = None,
        test: str | Path | None = None,
        specs: Mapping[str, ModalitySpec] | None = None,
        modalities: list[str] | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        on_error: OnError = "raise",
        random_captions: bool = True,
    ) -> None:
        super().__init__()
        names = modalities or list(specs or {})
        if not names:
            raise ValueError("give modalities or specs")
        self.specs = {m: (specs or {}).get(m) or default_spec(m) for m in names}
        self.paths = {"train": train, "val": val, "test": test}
        self.batch_size, self.num_workers, self.on_error = batch_size, num_workers, on_error
        self.random_captions = random_captions
        self.datasets: dict[str, ManifestDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for split, path in self.paths.items():
            if path is not None and split not in self.datasets:
                sampling = "random" if split == "train" and self.random_captions else "first"
                self.datasets[split] = ManifestDataset(path, self.specs, self.on_error, sampling)
