"""HumanML3D / KIT-ML as Lightning data: text-motion pairs with the captions' sentence embeddings.

Every item yields one of its captions (random in training, the first otherwise) and its frames (random
196-frame crop in training, centre crop otherwise, normalised with the dataset's Mean/Std). With a
``sentence_encoder``, each batch also carries ``sentence_embeddings: [B, E]`` of the chosen captions,
computed once for all captions and cached on disk, so that an objective with ``filter_threshold`` can
leave near-duplicate negatives out (TMR).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from unibind.cache import cache_dir
from unibind.datasets.humanml3d import HumanML3D
from unibind.datasets.manifest import OnError, collate_items
from unibind.features import cached_features
from unibind.modalities import InputError, MotionSpec, TextSpec
from unibind.training.datamodule import SplitDataModule


class MotionTextDataset(Dataset):
    """Items of a :class:`HumanML3D` split as ``{"id", "group", "inputs": {"text", "motion"}}`` samples."""

    def __init__(
        self,
        dataset: HumanML3D,
        spec: MotionSpec,
        random_captions: bool,
        sentence_embeddings: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.dataset, self.spec, self.random_captions = dataset, spec, random_captions
        self.items = dataset.items
        self.sentence_embeddings = sentence_embeddings
        self.text_spec = TextSpec()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        item = self.items[index]
        caption = random.choice(item.captions) if self.random_captions else item.captions[0]
        try:
            motion = self.dataset.motion(item, self.spec)
        except InputError:
            if self.dataset.on_error == "raise":
                raise
            return None
        sample = {"id": item.id, "index": index, "group": index, "inputs": {"text": caption, "motion": motion}}
        if self.sentence_embeddings is not None:
            sample["sentence_embedding"] = self.sentence_embeddings[caption]
        return sample

    def collate(self, samples: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
        batch = collate_items(samples, {"text": self.text_spec, "motion": self.spec})
        if self.sentence_embeddings is not None:
            batch["sentence_embeddings"] = torch.stack([s["sentence_embedding"] for s in samples if s is not None])
        return batch


class HumanML3DDataModule(SplitDataModule):
    """Train / val / test splits of a HumanML3D-layout folder.

    Args:
        root: the dataset folder (``new_joint_vecs/``, ``texts/``, ``train.txt`` ..., ``Mean.npy``, ``Std.npy``).
        dataset_format: ``humanml3d`` (263 features, 20 fps) or ``kitml`` (251, 12.5 fps).
        splits: names of the train, val and test split files (val/test may be None).
        batch_size: items per batch (TMR: 32).
        max_frames: crop length (HumanML3D: 196).
        sentence_encoder: a transformers text model (id, folder or ``package:NAME``) whose mean-pooled
            embeddings of the captions go into each batch; None for none.
        on_error: ``raise`` on a bad item, or ``skip`` and count it.
        num_workers: DataLoader workers.
    """

    missing = "no {split} split configured (data.splits)"

    def __init__(
        self,
        root: str | Path,
        dataset_format: str = "humanml3d",
        splits: tuple[str, str | None, str | None] = ("train", "val", "test"),
        batch_size: int = 32,
        max_frames: int = 196,
        sentence_encoder: str | None = None,
        on_error: OnError = "raise",
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.root, self.dataset_format = Path(root), dataset_format
        self.split_names = dict(zip(("train", "val", "test"), splits, strict=True))
        self.batch_size, self.max_frames, self.on_error = batch_size, max_frames, on_error
        self.sentence_encoder, self.num_workers = sentence_encoder, num_workers
        self.datasets: dict[str, MotionTextDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits = {
            role: HumanML3D(self.root, name, self.dataset_format, on_error=self.on_error)
            for role, name in self.split_names.items()
            if name is not None
        }
        embeddings = self._sentence_embeddings([c for d in splits.values() for item in d.items for c in item.captions])
        for role, dataset in splits.items():
            spec = dataset.spec(crop="random" if role == "train" else "center", max_frames=self.max_frames)
            self.datasets[role] = MotionTextDataset(dataset, spec, role == "train", embeddings)

    def _sentence_embeddings(self, captions: list[str]) -> dict[str, torch.Tensor] | None:
        if self.sentence_encoder is None:
            return None
        from unibind.encoders import HFTextEncoder

        encoder = HFTextEncoder(self.sentence_encoder, pooling="mean").lock()
        unique = sorted(set(captions))
        vectors = cached_features(encoder, TextSpec(), unique, cache_dir() / "features", batch_size=128)
        return dict(zip(unique, F.normalize(vectors, dim=-1), strict=True))
