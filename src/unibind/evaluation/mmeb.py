"""MMEB v1 (Massive Multimodal Embedding Benchmark, Jiang et al., 2024, arXiv 2410.05160): embed, score, tabulate.

The datasets are read by :mod:`unibind.evaluation.mmeb_data` (layout, columns, the 36 tasks). A query or
candidate holding both a text and an image is embedded as a fused vector (:mod:`unibind.evaluation.embedding`).

Scoring as the official evaluation (VLM2Vec ``evaluation/eval_utils.get_pred``): cosine of the query
against each of its candidates, ``argmax`` picks one (the first on ties, as ``numpy.argmax``), candidate 0
is the gold; Precision@1 per dataset in percent. Averages over the datasets evaluated: per meta-task
(Classification, VQA, Retrieval, Visual Grounding), per distribution (IND: the 20 datasets in MMEB-train;
OOD: the 16 others) and overall, as in the paper's tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from unibind.datasets.manifest import OnError
from unibind.evaluation.embedding import TextImageEmbedder, embed_pairs
from unibind.evaluation.mmeb_data import (
    META_TASKS,
    MMEBDataset,
    available_datasets,
    read_mmeb_dataset,
    resolve_data,
    task,
)
from unibind.evaluation.records import MetricDefinition

PRECISION_AT_1 = MetricDefinition(
    "precision@1",
    "percent of queries whose highest-cosine candidate is candidate 0 (the gold); argmax takes the first "
    "candidate on ties; per-group rows are unweighted means over the datasets evaluated",
    "VLM2Vec evaluation/eval_utils.get_pred (TIGER-AI-Lab/VLM2Vec); MMEB, arXiv 2410.05160",
)


def gold_hits(queries: torch.Tensor, candidates: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[R]`` booleans: is candidate 0 the argmax of cosine similarity (first index on ties)?

    ``queries: [R, D]``; ``candidates[r]: [C_r, D]`` (any norms: both sides are normalised here).
    """
    hits = []
    for query, group in zip(queries, candidates, strict=True):
        scores = torch.nn.functional.normalize(group, dim=-1) @ torch.nn.functional.normalize(query, dim=0)
        best = scores.max()
        hits.append(bool(torch.nonzero(scores == best)[0, 0] == 0))
    return torch.tensor(hits, dtype=torch.bool)


def score_dataset(dataset: MMEBDataset, embedder: TextImageEmbedder, image_weight: float = 0.5) -> float:
    """Precision@1 (percent) of one dataset."""
    inputs = [r.query for r in dataset.rows]
    names = [f"{dataset.path}, row {r.number}, query" for r in dataset.rows]
    for r in dataset.rows:
        inputs += r.candidates
        names += [f"{dataset.path}, row {r.number}, candidate {j}" for j in range(len(r.candidates))]
    vectors = embed_pairs(embedder, [i.text for i in inputs], [i.image for i in inputs], image_weight, names)
    queries, rest = vectors[: len(dataset.rows)], vectors[len(dataset.rows) :]
    groups = list(torch.split(rest, [len(r.candidates) for r in dataset.rows]))
    return 100.0 * gold_hits(queries, groups).float().mean().item()


def group_members(names: Sequence[str]) -> dict[str, list[str]]:
    """``{group: datasets}`` for the meta-tasks, IND, OOD and Overall, over ``names``, in the table's order."""
    members: dict[str, list[str]] = {}
    for name in names:
        entry = task(name)
        for group in (entry.meta_task, entry.distribution, "Overall"):
            members.setdefault(group, []).append(name)
    return {group: members[group] for group in (*META_TASKS, "IND", "OOD", "Overall") if group in members}


def summarize(scores: dict[str, float]) -> dict[str, dict[str, float]]:
    """Rows of the results table: every dataset, then the unweighted mean of each group (:func:`group_members`)."""
    rows = {name: {"precision@1": value} for name, value in scores.items()}
    for group, names in group_members(list(scores)).items():
        rows[group] = {"precision@1": sum(scores[n] for n in names) / len(names)}
    return rows


def evaluate_mmeb(
    embedder: TextImageEmbedder,
    data_dir: str | Path,
    datasets: Sequence[str] | None = None,
    images_dir: str | Path | None = None,
    image_weight: float = 0.5,
    use_instructions: bool = True,
    on_error: OnError = "raise",
) -> dict[str, Any]:
    """Score every dataset of ``datasets`` (default: all MMEB v1 datasets present under ``data_dir``).

    ``data_dir`` may also be a hub repository id (:func:`resolve_data`). Returns ``rows`` (see
    :func:`summarize`), per-dataset ``details`` (rows used, skipped, meta-task, distribution, file),
    ``files`` (every file read, for the data checksum) and the local ``data_dir``.
    """
    data_dir = resolve_data(data_dir, datasets)
    names = list(datasets) if datasets else available_datasets(data_dir)
    if not names:
        raise FileNotFoundError(f"no MMEB v1 dataset found under {data_dir} (expected e.g. ImageNet-1K/*.parquet)")
    scores, details, files = {}, {}, []
    for name in names:
        dataset = read_mmeb_dataset(data_dir, name, images_dir, use_instructions, on_error)
        scores[name] = score_dataset(dataset, embedder, image_weight)
        files += dataset.files
        details[name] = {
            "meta_task": dataset.task.meta_task,
            "distribution": dataset.task.distribution,
            "file": str(dataset.path),
            "rows": len(dataset.rows),
            "skipped": dataset.skipped.count,
            "skip_reasons": dataset.skipped.reasons,
        }
    return {"rows": summarize(scores), "details": details, "files": files, "data_dir": data_dir}


def results_table(rows: dict[str, dict[str, float]], details: dict[str, dict[str, Any]]) -> str:
    """Markdown: one line per dataset (meta-task, IND/OOD, rows), then the group means."""
    lines = ["| dataset | meta-task | distribution | rows | Precision@1 |", "|---|---|---|---:|---:|"]
    for name, info in details.items():
        lines.append(
            f"| {name} | {info['meta_task']} | {info['distribution']} | {info['rows']} | "
            f"{rows[name]['precision@1']:.1f} |"
        )
    for group, names in group_members(list(details)).items():
        lines.append(f"| **{group}** (mean of {len(names)}) | | | | **{rows[group]['precision@1']:.1f}** |")
    return "\n".join(lines)
