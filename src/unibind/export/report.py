"""What an ONNX export reports: each modality's outcome and the export as a whole."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["exported", "mismatch", "skipped"]


@dataclass
class ModalityExport:
    """What happened to one modality: exported (and how close to PyTorch), a mismatch, or skipped and why.

    ``max_abs_diff``: largest ``|onnx - torch|`` over the validation embeddings (fp32 graph); the ``int8_*``
    fields compare the quantised graph with PyTorch (largest difference, least and mean cosine per row).
    """

    modality: str
    status: Status
    reason: str | None = None
    file: str | None = None
    int8_file: str | None = None
    size_bytes: int | None = None
    int8_size_bytes: int | None = None
    max_abs_diff: float | None = None
    int8_max_abs_diff: float | None = None
    int8_min_cosine: float | None = None
    int8_mean_cosine: float | None = None
    validated_on: str | None = None
    batch_sizes: list[int] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    fixed_axes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ExportReport:
    """The export of a model: ``modalities`` maps each modality to its :class:`ModalityExport`."""

    out_dir: Path
    embed_dim: int
    matryoshka_dims: list[int] | None
    modalities: dict[str, ModalityExport]

    @property
    def exported(self) -> list[str]:
        return [m for m, part in self.modalities.items() if part.status == "exported"]

    @property
    def skipped(self) -> dict[str, str]:
        return {m: part.reason or "" for m, part in self.modalities.items() if part.status == "skipped"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "embed_dim": self.embed_dim,
            "matryoshka_dims": self.matryoshka_dims,
            "modalities": {m: asdict(part) for m, part in self.modalities.items()},
        }
