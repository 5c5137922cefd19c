"""The Python half of an exported tower: a collated batch -> the named tensors its ONNX graph takes.

Each exportable encoder splits its ``forward`` into a :class:`Preprocessor` (tokeniser, image resize and
standardisation, log-mel front-end, window pooling weights, input checks) and a tensor-only
``export_forward`` that is exported with the projection head and the aligner. A preprocessor is saved as a
JSON config plus the files it needs (a tokenizer, a feature extractor) and rebuilt from them alone, without
the model's weights (:func:`load_preprocessor`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch

from unibind.modalities import (
    ModalitySpec,
)

#: Input axes that vary between batches: input name -> {axis: symbolic name}.
DynamicAxes = dict[str, dict[int, str]]


class Preprocessor(ABC):
    """Turns one modality's collated batch into the graph's input tensors, in :attr:`input_names` order.

    Subclasses set ``kind`` (the name :func:`load_preprocessor` rebuilds them by) and ``input_names``.
    """

    kind: ClassVar[str]
    input_names: tuple[str, ...]
    #: the name of the graph output's first axis (one embedding per batch row, or per audio clip)
    output_rows: ClassVar[str] = "batch"

    @abstractmethod
    def __call__(self, batch: Any) -> dict[str, torch.Tensor]:
        """The graph inputs of ``batch``, on the CPU, keyed (and ordered) by :attr:`input_names`."""

    @abstractmethod
    def dynamic_axes(self) -> DynamicAxes:
        """The axes that vary between batches (batch rows, tokens, frames); every other axis is fixed."""

    def optional_axes(self) -> set[str]:
        """Dynamic axes the export may fix instead when the backbone cannot take them dynamic (e.g. frames of a
        ViT over fixed-length windows)."""
        return set()

    def axis_limits(self) -> dict[str, int]:
        """Largest size of some dynamic axes (e.g. frames under a positional table)."""
        return {}

    def default_spec(self) -> ModalitySpec | None:
        """A spec whose samples fit this tower (motion features, audio rate), or None for the modality default."""
        return None

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON settings that rebuild this preprocessor (with the files :meth:`save` wrote)."""

    def save(self, folder: Path) -> None:
        """Write the files the preprocessor needs besides its config (tokenizer, feature extractor) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> Preprocessor:
        """Inverse of :meth:`config` + :meth:`save`."""

    def describe(self) -> dict[str, Any]:
        """``{"kind": ..., **config}``: what the export's JSON file records."""
        return {"kind": self.kind, **self.config()}


def pool_matrix(clip_index: torch.Tensor, num_clips: int) -> torch.Tensor:
    """``[num_clips, N]`` weights that average window features ``[N, D]`` into clip features by a matmul.

    Row ``c`` holds ``1 / windows_c`` at the windows of clip ``c``: ``pool @ features`` equals
    :func:`unibind.encoders.audio_frontend.pool_windows` (to float rounding) as one graph-friendly op.
    """
    one_hot = torch.nn.functional.one_hot(clip_index.long(), num_clips).T.float()  # [C, N]
    return one_hot / one_hot.sum(dim=1, keepdim=True).clamp_min(1)
