"""``unibind predict``: embed a manifest and write ids + vectors per modality (safetensors + JSON).

Output folder (``EmbeddingWriter(out_dir)``)::

    embeddings.safetensors   per modality m: "m" [N_m, D] float32 and "m.index" [N_m] int64 (manifest rows)
    ids.json                 {"m": [id, ...]} in the same order

Rows are in manifest order and each item appears once. Under DDP every rank writes its own part files as it
goes (memory stays bounded by ``part_rows``, in ``.NAME.parts/`` beside the output) and rank 0 merges them at
the end, dropping the few items a distributed sampler repeats so that ranks get equal batches. The folder is
written under a temporary name and renamed into place: it is whole or absent. (``unibind index build`` embeds a
manifest straight into a searchable index; this writer is for embedding at the scale of the training cluster.)
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from safetensors.torch import load_file, save_file

from unibind.atomic import atomic_write, write_directory

EMBEDDINGS_NAME = "embeddings.safetensors"
IDS_NAME = "ids.json"


class EmbeddingWriter(L.Callback):
    """Writes what :meth:`UnibindModule.predict_step` returns (see the module docstring for the layout).

    A plain callback rather than Lightning's ``BasePredictionWriter``: the batches carry their items' manifest
    positions, so the writer needs none of the sampler indices Lightning would try to track.

    Args:
        out_dir: the output folder.
        part_rows: rows a rank keeps in memory before writing a part file.
    """

    def __init__(self, out_dir: str | Path, part_rows: int = 65536) -> None:
        self.out_dir, self.part_rows = Path(out_dir), part_rows
        self._buffer: dict[str, list[tuple[torch.Tensor, torch.Tensor, list[str]]]] = defaultdict(list)
        self._rows = 0
        self._parts = 0

    @property
    def parts_dir(self) -> Path:
        return self.out_dir.parent / f".{self.out_dir.name}.parts"

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)  # parts of an earlier, unfinished run
        trainer.strategy.barrier("EmbeddingWriter.start")
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self._buffer.clear()
        self._rows = self._parts = 0

    def on_predict_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: dict[str, Any],
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        indices = prediction["indices"]
        if indices is None:
            raise ValueError("predict batches must carry 'indices' (the items' manifest positions)")
        for modality, embedding in prediction["embeddings"].items():
            positions = torch.as_tensor(prediction["present"][modality], dtype=torch.long)
            ids = [prediction["ids"][p] for p in positions.tolist()]
            rows = indices.detach().cpu()[positions]
            self._buffer[modality].append((rows, embedding.detach().float().cpu(), ids))
            self._rows += len(ids)
        if self._rows >= self.part_rows:
            self._write_part(trainer.global_rank)

    def _write_part(self, rank: int) -> None:
        if not self._buffer:
            return
        stem = self.parts_dir / f"rank-{rank:05d}-part-{self._parts:05d}"
        tensors, ids = {}, {}
        for modality, chunks in self._buffer.items():
            tensors[f"{modality}.index"] = torch.cat([rows for rows, _, _ in chunks])
            tensors[modality] = torch.cat([vectors for _, vectors, _ in chunks])
            ids[modality] = [i for _, _, chunk_ids in chunks for i in chunk_ids]
        atomic_write(stem.with_suffix(".json"), lambda path: path.write_text(json.dumps(ids)))
        atomic_write(stem.with_suffix(".safetensors"), lambda path: save_file(tensors, str(path)))
        self._buffer.clear()
        self._rows, self._parts = 0, self._parts + 1

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write_part(trainer.global_rank)
        trainer.strategy.barrier("EmbeddingWriter.parts")
        if trainer.is_global_zero:
            merge_parts(self.parts_dir, self.out_dir)
            shutil.rmtree(self.parts_dir)
        trainer.strategy.barrier("EmbeddingWriter.merged")


def merge_parts(parts_dir: Path, out_dir: Path) -> dict[str, int]:
    """Merge every rank's part files into ``embeddings.safetensors`` + ``ids.json`` in manifest order, each
    item once; returns rows per modality."""
    rows: dict[str, list[torch.Tensor]] = defaultdict(list)
    vectors: dict[str, list[torch.Tensor]] = defaultdict(list)
    ids: dict[str, list[str]] = defaultdict(list)
    for part in sorted(parts_dir.glob("rank-*.safetensors")):
        tensors = load_file(str(part))
        part_ids = json.loads(part.with_suffix(".json").read_text())
        for modality, modality_ids in part_ids.items():
            rows[modality].append(tensors[f"{modality}.index"])
            vectors[modality].append(tensors[modality])
            ids[modality].extend(modality_ids)
    merged, merged_ids = {}, {}
    for modality in sorted(rows):
        index = torch.cat(rows[modality])
        order = torch.argsort(index, stable=True)
        index = index[order]
        first = torch.ones_like(index, dtype=torch.bool)
        first[1:] = index[1:] != index[:-1]  # a repeated item (sampler padding) keeps its first copy
        keep = order[first]
        merged[modality] = torch.cat(vectors[modality])[keep].contiguous()
        merged[f"{modality}.index"] = index[first].contiguous()
        merged_ids[modality] = [ids[modality][i] for i in keep.tolist()]

    def write(folder: Path) -> None:
        save_file(merged, str(folder / EMBEDDINGS_NAME))
        (folder / IDS_NAME).write_text(json.dumps(merged_ids))

    write_directory(out_dir, write, owned=(EMBEDDINGS_NAME, IDS_NAME))  # both files or neither, even on a kill
    return {modality: len(merged_ids[modality]) for modality in merged_ids}
