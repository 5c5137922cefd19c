"""The LightningModule: contrastive training of a ``UnifiedEmbedder`` over every configured modality pair."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn

from unibind.embedder import UnifiedEmbedder
from unibind.evaluation import cross_modal_recall
from unibind.objectives import InfoNCELoss, gather_objects


def modality_pairs(
    modalities: Sequence[str], mode: Literal["all", "anchor"], anchor: str | None
) -> list[tuple[str, str]]:
    """Pairs to contrast: all unordered pairs, or ``(anchor, m)`` for every other ``m`` (ImageBind / LanguageBind)."""
    if mode == "all":
        return list(itertools.combinations(modalities, 2))
    if anchor not in modalities:
        raise ValueError(f"pairs='anchor' needs anchor among {list(modalities)}, got {anchor!r}")
    return [(anchor, m) for m in modalities if m != anchor]


def paired_rows(
    present: dict[str, torch.Tensor], a: str, b: str, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of ``a``'s and ``b``'s embeddings for the items that carry both, and those items' batch positions."""
    row_in = {}
    for modality in (a, b):
        lookup = torch.full((batch_size,), -1, dtype=torch.long)
        lookup[present[modality].cpu()] = torch.arange(len(present[modality]))
        row_in[modality] = lookup
    both = torch.nonzero((row_in[a] >= 0) & (row_in[b] >= 0)).squeeze(1)
    return row_in[a][both], row_in[b][both], both


class UnibindModule(L.LightningModule):
    """Trains the embedder with a contrastive objective on each modality pair present in a batch.

    Args:
        embedder: the model (encoders chosen in YAML by ``class_path``).
        objective: contrastive loss module (default symmetric InfoNCE); ``MatryoshkaLoss`` wraps one.
        pairs: ``all`` modality pairs, or ``anchor``: each modality against ``anchor`` only.
        anchor: the anchor modality for ``pairs="anchor"``.
        optimizer: optimizer factory over trainable parameters.
        retrieval_ks: cut-offs of the validation recall.
        lock_encoders: modalities whose encoders stay frozen (LiT-style: no gradients, eval mode).
    """

    def __init__(
        self,
        embedder: UnifiedEmbedder,
        objective: torch.nn.Module | None = None,
        pairs: Literal["all", "anchor"] = "all",
        anchor: str | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        retrieval_ks: Sequence[int] = (1, 5, 10),
        lock_encoders: Sequence[str] = (),
    ) -> None:
        super().__init__()
        unknown = set(lock_encoders) - set(embedder.modalities)
        if unknown:
            raise ValueError(f"lock_encoders names {sorted(unknown)}, not among the model's {embedder.modalities}")
        for modality in lock_encoders:
            embedder.encoders[modality].lock()
        self.embedder = embedder
        self.objective = objective if objective is not None else InfoNCELoss()
        self.pairs = modality_pairs(embedder.modalities, pairs, anchor)
        self.optimizer_factory = optimizer
        self.retrieval_ks = tuple(retrieval_ks)
        self._eval_outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = defaultdict(list)
        self.skipped_items = 0
        self.skipped_batches = 0
        #: modality -> ``Tensor[E]`` slots the MoE router sent to each expert during training
        self.expert_usage: dict[str, torch.Tensor] = {}

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.embedder(inputs)

    def compute_losses(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], int]:
        """Per-pair objective losses plus aligner losses; returns ``(losses, embeddings, pairs contrasted)``."""
        losses: dict[str, torch.Tensor] = {}
        embeddings: dict[str, torch.Tensor] = {}
        for modality, inputs in batch["inputs"].items():
            if modality not in self.embedder.encoders:
                continue
            out = self.embedder.align(modality, inputs)
            embeddings[modality] = out.embedding
            if out.expert_counts is not None and self.training:
                usage = self.expert_usage.get(modality)
                counts = out.expert_counts.detach().cpu()
                self.expert_usage[modality] = counts if usage is None else usage + counts
            for key, value in out.losses.items():
                losses[key] = losses.get(key, 0) + value / len(batch["inputs"])
        batch_size, contrasted = len(batch["ids"]), 0
        for a, b in self.pairs:
            if a not in embeddings or b not in embeddings:
                continue
            rows_a, rows_b, items = paired_rows(batch["present"], a, b, batch_size)
            if len(items) < 2:
                continue
            groups = batch["groups"][items.to(batch["groups"].device)]
            sentences = batch.get("sentence_embeddings")  # per item, for objectives that filter near-duplicates
            pair_losses = self.objective(
                embeddings[a][rows_a.to(self.device)],
                embeddings[b][rows_b.to(self.device)],
                groups,
                sentence_embeddings=sentences[items.to(sentences.device)] if sentences is not None else None,
            )
            for key, value in pair_losses.items():
                losses[f"{a}_{b}_{key}"] = value
            contrasted += 1
        return losses, embeddings, contrasted

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.skipped_items += batch.get("skipped", 0)
        losses, _, contrasted = self.compute_losses(batch)
        if not contrasted:
            self.skipped_batches += 1
            rank_zero_warn(
                f"batch {batch_idx} holds fewer than two items with any of the pairs {self.pairs}; step skipped"
            )
            return None
        total = sum(losses.values())
        batch_size = len(batch["ids"])
        for key, value in losses.items():
            self.log(f"train/{key}", value, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        self.log("train/skipped_items", float(self.skipped_items), batch_size=batch_size)
        for modality, usage in self.expert_usage.items():
            self.log(f"train/moe_max_load/{modality}", usage.max() / usage.sum(), batch_size=batch_size)
        scale = getattr(self.objective, "logit_scale", None)
        if isinstance(scale, torch.Tensor):
            self.log("train/logit_scale", scale.detach(), batch_size=batch_size)
        return total

    def _eval_step(self, batch: dict[str, Any]) -> None:
        for modality, inputs in batch["inputs"].items():
            if modality in self.embedder.encoders:
                embedding = self.embedder.align(modality, inputs).embedding
                groups = batch["groups"][batch["present"][modality].to(batch["groups"].device)]
                self._eval_outputs[modality].append((embedding.detach().cpu(), groups.cpu()))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def retrieval_metrics(self) -> dict[str, float]:
        """Recall@k in both directions for every pair, over everything seen since the last call.

        Queries whose group has no item in the other modality (e.g. a sound's caption against images) are left out.
        """
        local = {
            m: (torch.cat([e for e, _ in out]), torch.cat([g for _, g in out])) for m, out in self._eval_outputs.items()
        }
        shards = gather_objects(local)  # under DDP each process saw a shard of the evaluation set
        gathered = {}
        for modality in {m for shard in shards for m in shard}:
            parts = [shard[modality] for shard in shards if modality in shard]
            gathered[modality] = (torch.cat([e for e, _ in parts]), torch.cat([g for _, g in parts]))
        self._eval_outputs.clear()
        metrics = {}
        for a, b in self.pairs:
            if a not in gathered or b not in gathered:
                continue
            for query, target in ((a, b), (b, a)):
                (query_emb, query_groups), (target_emb, target_groups) = gathered[query], gathered[target]
                answerable = torch.isin(query_groups, target_groups)
                if not bool(answerable.any()):
                    continue
                query_emb, query_groups = query_emb[answerable], query_groups[answerable]
                recall = cross_modal_recall(query_emb, target_emb, query_groups, target_groups, self.retrieval_ks)
                metrics.update({f"{query}_to_{target}/{k}": v for k, v in recall.items()})
        return metrics

    def on_validation_epoch_end(self) -> None:
        for key, value in self.retrieval_metrics().items():
            self.log(f"val/{key}", value, prog_bar=key.endswith("R@1"))

    def on_test_epoch_end(self) -> None:
        for key, value in self.retrieval_metrics().items():
            self.log(f"test/{key}", value)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        trainable = [p for p in self.parameters() if p.requires_grad]
        return self.optimizer_factory(trainable)
