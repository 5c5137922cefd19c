"""The modality vocabulary and the contract every modality spec follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, ClassVar


class Modality(StrEnum):
    """The five modalities unibind binds into one space."""

    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    MOTION = "motion"
    GRAPH = "graph"


class ModalitySpec(ABC):
    """How one modality's raw inputs are checked, loaded and batched.

    Specs know no models: they turn raw inputs (a string, a file path, an array) into samples and
    samples into batches that the modality's encoders accept.
    """

    modality: ClassVar[Modality]
    #: True when raw values are file paths (resolved against a manifest's folder), False when inline.
    takes_path: ClassVar[bool] = False

    @abstractmethod
    def load(self, raw: Any, *, item: str | None = None) -> Any:
        """Validate and preprocess one raw input; ``item`` names it in errors (file, row or id; default: the
        path when ``raw`` is a path, see :func:`item_name`)."""

    @abstractmethod
    def collate(self, samples: Sequence[Any]) -> Any:
        """Stack loaded samples into one batch."""

    @abstractmethod
    def dummy_batch(self, n: int) -> Any:
        """A batch of ``n`` valid random samples, for tests and shape checks."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
