"""Specs for modalities whose issues have not landed yet: each use raises a clear error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from unibind.modalities.base import Modality, ModalitySpec


class _PendingSpec(ModalitySpec):
    def _refuse(self) -> NotImplementedError:
        return NotImplementedError(f"the {self.modality} modality is not implemented yet in unibind")

    def load(self, raw: Any, *, item: str = "input") -> Any:
        raise self._refuse()

    def collate(self, samples: Sequence[Any]) -> Any:
        raise self._refuse()

    def dummy_batch(self, n: int) -> Any:
        raise self._refuse()


class GraphSpec(_PendingSpec):
    modality = Modality.GRAPH
    takes_path = True
