"""The LightningModule: contrastive training of a ``UnifiedEmbedder`` over every configured modality pair.

Multi-process training (DDP, FSDP) is correct whatever each rank's batch holds: every rank embeds every
modality of the model every step (a modality missing from its batch goes through its encoder as a
one-row placeholder cut to zero rows, in eval mode), every pair's rows are gathered sizes first, and the
MoE balance statistics are summed over ranks, so all ranks run the same collectives in the same order,
every trainable parameter receives a gradient on every rank (zero where unused: plain ``ddp`` works, no
``find_unused_parameters``), and the loss and gradients equal one process on the union of the batches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import lightning as L
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn

from unibind.alignment import AlignerOutput
from unibind.embedder import UnifiedEmbedder, check_matryoshka_dims
from unibind.metrics.ranking import cross_modal_recall
from unibind.modalities import ModalitySpec, default_spec
from unibind.objectives import InfoNCELoss, MatryoshkaLoss, all_reduce_sum, gather_objects
from unibind.objectives.distributed import world_size
from unibind.training.grad_cache import grad_cache_step
from unibind.training.optim import WarmupCosine, split_weight_decay
from unibind.training.pairs import eval_mode, first_of_each, modality_pairs, paired_rows, pairs_contrasted


class UnibindModule(L.LightningModule):
    """Trains the embedder with a contrastive objective on each modality pair present in a batch.

    Args:
        embedder: the model (encoders chosen in YAML by ``class_path``).
        objective: contrastive loss module (default symmetric InfoNCE); ``MatryoshkaLoss`` wraps one.
        pairs: ``all`` modality pairs, or ``anchor``: each modality against ``anchor`` only.
        anchor: the anchor modality for ``pairs="anchor"``.
        optimizer: optimizer factory; it receives two parameter groups, the second with ``weight_decay=0``
            (biases, norms, embeddings, the logit scale and SigLIP bias: :func:`split_weight_decay`).
        schedule: learning-rate schedule per optimizer step (:class:`WarmupCosine`), or None for a constant rate.
        retrieval_ks: cut-offs of the validation recall.
        lock_encoders: modalities whose encoders stay frozen (LiT-style: no gradients, eval mode).
        grad_cache_chunk: with a value, GradCache (Gao et al. 2021): the batch is embedded in sub-batches of
            this many items, so activation memory is bounded by the sub-batch while the loss and gradients
            are those of the whole batch (see :mod:`unibind.training.grad_cache`).
        placeholder_specs: modality -> spec whose ``dummy_batch`` feeds a modality missing from a rank's
            batch in multi-process training; default: the data module's ``specs``, else the default spec.
        absent_modalities: in multi-process training, a modality missing from a rank's batch runs a
            ``placeholder`` through its encoder (plain DDP and FSDP work), or is left out (``skip``): then its
            parameters get no gradient on that rank and DDP needs ``find_unused_parameters`` (strategy
            ``ddp_find_unused_parameters_true``); FSDP needs placeholders.
            ``benchmarks/ddp_absent_modalities.py`` measures the two.
        auxiliary: an objective that embeds some modalities itself and adds its own losses (e.g.
            :class:`unibind.objectives.tmr.TMRObjective`: TMR's VAE, decoder, reconstruction, KL and latent losses).
            In training, ``auxiliary(embedder, batch)`` returns ``(outputs, losses)``: the
            :class:`~unibind.alignment.AlignerOutput` of each modality it embedded (these replace the plain
            ``embedder.align`` outputs in the pair objective, so both see one forward pass) and weighted losses
            (keys ending in ``_loss``) added to the pairs' losses. If it has ``attach(embedder)``, that is
            called once here (to check and set up the embedder). Evaluation, prediction and the saved model
            use the embedder alone. Not with ``grad_cache_chunk``.
    """

    def __init__(
        self,
        embedder: UnifiedEmbedder,
        objective: torch.nn.Module | None = None,
        pairs: Literal["all", "anchor"] = "all",
        anchor: str | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        schedule: WarmupCosine | None = None,
        retrieval_ks: Sequence[int] = (1, 5, 10),
        lock_encoders: Sequence[str] = (),
        grad_cache_chunk: int | None = None,
        placeholder_specs: Mapping[str, ModalitySpec] | None = None,
        absent_modalities: Literal["placeholder", "skip"] = "placeholder",
        auxiliary: torch.nn.Module | None = None,
    ) -> None:
        super().__init__()
        unknown = set(lock_encoders) - set(embedder.modalities)
        if unknown:
            raise ValueError(f"lock_encoders names {sorted(unknown)}, not among the model's {embedder.modalities}")
        if absent_modalities not in ("placeholder", "skip"):
            raise ValueError(f"absent_modalities must be placeholder or skip, got {absent_modalities!r}")
        if grad_cache_chunk is not None and grad_cache_chunk < 1:
            raise ValueError(f"grad_cache_chunk must be a positive number of items, got {grad_cache_chunk}")
        if grad_cache_chunk is not None and auxiliary is not None:
            raise ValueError("an auxiliary objective does not run under GradCache; leave grad_cache_chunk unset")
        for modality in lock_encoders:
            embedder.encoders[modality].lock()
        self.embedder = embedder
        self.objective = objective if objective is not None else InfoNCELoss()
        if isinstance(self.objective, MatryoshkaLoss):  # the saved model says which sizes it can be cut to
            embedder.matryoshka_dims = check_matryoshka_dims(self.objective.dims, embedder.embed_dim)
        self.pairs = modality_pairs(embedder.modalities, pairs, anchor)
        self.optimizer_factory = optimizer
        self.schedule = schedule
        self.retrieval_ks = tuple(retrieval_ks)
        self.grad_cache_chunk = grad_cache_chunk
        self.placeholder_specs = dict(placeholder_specs or {})
        self.absent_modalities = absent_modalities
        if auxiliary is not None and hasattr(auxiliary, "attach"):
            auxiliary.attach(embedder)
        self.auxiliary = auxiliary
        self._placeholders: dict[str, Any] = {}
        self._eval_outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = defaultdict(list)
        self.skipped_items = 0
        self.skipped_batches = 0
        #: modality -> ``Tensor[E]`` slots the MoE router sent to each expert during training (on the device)
        self.expert_usage: dict[str, torch.Tensor] = {}

    def forward(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.embedder(inputs)

    # -- embedding -------------------------------------------------------------------------------

    @property
    def distributed(self) -> bool:
        return world_size() > 1

    def placeholder(self, modality: str) -> Any:
        """A fixed one-row batch of ``modality`` on the module's device, for a rank whose batch lacks it (built
        once per device, without touching the global random state)."""
        key = f"{modality}@{self.device}"
        if key not in self._placeholders:
            spec = self.placeholder_specs.get(modality)
            if spec is None:
                datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
                spec = (getattr(datamodule, "specs", None) or {}).get(modality) or default_spec(modality)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                self._placeholders[key] = move_data_to_device(spec.dummy_batch(1), self.device)
        return self._placeholders[key]

    def embed(
        self, inputs: Mapping[str, Any], placeholders: bool, given: Mapping[str, AlignerOutput] | None = None
    ) -> dict[str, AlignerOutput]:
        """Aligned outputs of every modality of the model that ``inputs`` holds, in the model's order; those in
        ``given`` (an auxiliary objective's) are taken as they are.

        With ``placeholders``, a modality missing from ``inputs`` is embedded from :meth:`placeholder` (encoder
        in eval mode: no dropout, no batch-norm statistics) and cut to zero rows before its head: no rows, but
        the encoder, head and aligner stay in the graph with zero gradients.
        """
        outputs = {}
        given = given or {}
        for modality in self.embedder.modalities:
            if modality in given:
                outputs[modality] = given[modality]
            elif modality in inputs:
                outputs[modality] = self.embedder.align(modality, inputs[modality])
            elif placeholders:
                outputs[modality] = self.placeholder_output(modality)
        return outputs

    def placeholder_output(self, modality: str) -> AlignerOutput:
        """Zero rows of ``modality`` that still pass through its encoder, head and aligner (see :meth:`embed`);
        with ``absent_modalities="skip"``, zero rows that pass through nothing."""
        if self.absent_modalities == "skip":
            return self._empty_output()
        encoder = self.embedder.encoders[modality]
        with eval_mode(encoder):
            features = encoder(self.placeholder(modality))
        return self.embedder.align_features(modality, features[:0])

    def _empty_output(self) -> AlignerOutput:
        empty = torch.zeros(0, self.embedder.embed_dim, device=self.device)
        experts = getattr(self.embedder.aligner, "num_experts", None)
        if experts is None:
            return AlignerOutput(empty)
        counts = torch.zeros(experts, dtype=torch.long, device=self.device)
        return AlignerOutput(empty, expert_counts=counts, router_probs_sum=torch.zeros(experts, device=self.device))

    # -- losses ----------------------------------------------------------------------------------

    def compute_losses(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], int]:
        """Per-pair objective losses plus the MoE balance loss and the auxiliary objective's losses; returns
        ``(losses, embeddings, pairs contrasted)``.

        ``embeddings[m]`` holds the rows of the items that carry ``m`` (zero rows for a placeholder).
        """
        given, extra = self.auxiliary(self.embedder, batch) if self.auxiliary is not None else ({}, {})
        outputs = self.embed(batch["inputs"], placeholders=self.distributed, given=given)
        embeddings = {m: out.embedding for m, out in outputs.items()}
        losses = self.losses_from(batch, embeddings, outputs)
        contrasted = pairs_contrasted(losses)
        return {**losses, **extra}, embeddings, contrasted

    def losses_from(
        self, batch: dict[str, Any], embeddings: dict[str, torch.Tensor], routing: Mapping[str, AlignerOutput]
    ) -> dict[str, torch.Tensor]:
        """The objective on every pair (rows of all ranks) plus the balance loss from ``routing``'s sums."""
        if self.training:
            self._count_experts(routing)
        losses = self.balance_losses(routing) if self.training else {}
        batch_size = len(batch["ids"])
        sentences = batch.get("sentence_embeddings")  # per item, for objectives that filter near-duplicates
        for a, b in self.pairs:
            if a not in embeddings or b not in embeddings:
                continue
            rows_a, rows_b, items = paired_rows(batch["present"], a, b, batch_size)
            device = embeddings[a].device
            pair_losses = self.objective(
                embeddings[a][rows_a.to(device)],
                embeddings[b][rows_b.to(device)],
                batch["groups"][items.to(batch["groups"].device)],
                sentence_embeddings=sentences[items.to(sentences.device)] if sentences is not None else None,
            )
            for key, value in pair_losses.items():
                losses[f"{a}_{b}_{key}"] = value
        return losses

    def balance_losses(self, routing: Mapping[str, AlignerOutput]) -> dict[str, torch.Tensor]:
        """``{"moe_balance_loss"}``: the aligner's balance loss per modality from the routing sums of all ranks,
        averaged over the modalities that have rows anywhere; ``{}`` without a routing aligner."""
        routed = [out for out in routing.values() if out.router_probs_sum is not None]
        balance = getattr(self.embedder.aligner, "balance_loss", None)
        if not routed or balance is None:
            return {}
        experts = routed[0].router_probs_sum.shape[0]
        sums = torch.stack(
            [torch.cat([out.router_probs_sum, out.expert_counts.to(out.router_probs_sum)]) for out in routed]
        )
        sums = all_reduce_sum(sums)  # [M, 2E], summed over ranks
        per_modality = torch.stack([balance(row[:experts], row[experts:]) for row in sums])
        has_rows = (sums[:, experts:].sum(dim=1) > 0).to(per_modality.dtype)
        return {"moe_balance_loss": (per_modality * has_rows).sum() / has_rows.sum().clamp_min(1)}

    def _count_experts(self, routing: Mapping[str, AlignerOutput]) -> None:
        for modality, out in routing.items():
            if out.expert_counts is None:
                continue
            counts = out.expert_counts.detach()
            usage = self.expert_usage.get(modality)
            self.expert_usage[modality] = counts if usage is None else usage + counts

    def keep_alive(self, embeddings: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Zero that depends on every embedding and every trainable parameter of the objective and the auxiliary
        objective: added to the loss in multi-process training so that a pair with too few rows, or a step with
        none, still gives every parameter a (zero) gradient on every rank."""
        terms = [e.float().sum() for e in embeddings.values()]  # float: under bf16 autocast the dtypes differ
        terms += [p.float().sum() for p in self.objective.parameters() if p.requires_grad]
        if self.auxiliary is not None:
            terms += [p.float().sum() for p in self.auxiliary.parameters() if p.requires_grad]
        return 0.0 * torch.stack(terms).sum() if terms else torch.zeros((), device=self.device)

    # -- steps -----------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.skipped_items += batch.get("skipped", 0)
        if self.grad_cache_chunk is not None:
            if self._first_of_accumulation(batch_idx):
                self.zero_grad(set_to_none=True)  # the sub-batches' backward passes accumulate from here
            total, losses, value = grad_cache_step(self, batch, self.grad_cache_chunk)
            contrasted = pairs_contrasted(losses)
        else:
            losses, embeddings, contrasted = self.compute_losses(batch)
            total = value = sum(losses.values(), torch.zeros((), device=self.device))
            if self.distributed:
                total = total + self.keep_alive(embeddings)
        if not contrasted:
            self.skipped_batches += 1
            rank_zero_warn(
                f"batch {batch_idx} holds fewer than two items with any of the pairs {self.pairs}"
                + (" on all ranks; a zero-loss step keeps the ranks in step" if self.distributed else "; step skipped")
            )
            if not self.distributed:
                return None
        self._log_step(batch, losses, value)
        return total

    def _first_of_accumulation(self, batch_idx: int) -> bool:
        accumulate = self.trainer.accumulate_grad_batches if self._trainer is not None else 1
        return batch_idx % accumulate == 0

    def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: torch.optim.Optimizer) -> None:
        """Lightning zeroes gradients between ``training_step`` and its backward pass; with GradCache the step has
        already back-propagated its first sub-batches, so the gradients are zeroed at the start of the step instead."""
        if self.grad_cache_chunk is None:
            optimizer.zero_grad()

    def _log_step(self, batch: dict[str, Any], losses: dict[str, torch.Tensor], total: torch.Tensor) -> None:
        batch_size = len(batch["ids"])
        for key, value in losses.items():
            self.log(f"train/{key}", value, batch_size=batch_size)
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        self.log("train/skipped_items", float(self.skipped_items), batch_size=batch_size)
        for modality, usage in self.expert_usage.items():
            self.log(f"train/moe_max_load/{modality}", usage.max() / usage.sum().clamp_min(1), batch_size=batch_size)
        scale = getattr(self.objective, "logit_scale", None)
        if isinstance(scale, torch.Tensor):
            self.log("train/logit_scale", scale.detach(), batch_size=batch_size)
        if self._trainer is not None and self.trainer.optimizers:
            self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=batch_size)

    def _eval_step(self, batch: dict[str, Any]) -> None:
        indices = batch.get("indices")
        for modality, out in self.embed(batch["inputs"], placeholders=False).items():
            positions = torch.as_tensor(batch["present"][modality], dtype=torch.long, device=batch["groups"].device)
            groups = batch["groups"][positions]
            index = indices[positions.to(indices.device)] if indices is not None else torch.full_like(groups, -1)
            self._eval_outputs[modality].append((out.embedding.detach().cpu(), groups.cpu(), index.cpu()))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """``{"ids", "indices", "present", "embeddings": {modality: Tensor[n_m, D]}}`` for a writer callback
        (:class:`~unibind.training.EmbeddingWriter`)."""
        outputs = self.embed(batch["inputs"], placeholders=False)
        return {
            "ids": batch["ids"],
            "indices": batch.get("indices"),
            "present": batch["present"],
            "embeddings": {m: out.embedding for m, out in outputs.items()},
        }

    def retrieval_metrics(self) -> dict[str, float]:
        """Recall@k in both directions for every pair, over everything seen since the last call.

        Under DDP every rank's outputs are gathered; an item seen twice (a distributed sampler pads the last
        batches with repeats) counts once. Queries whose group has no item in the other modality (e.g. a
        sound's caption against images) are left out.
        """
        local = {
            m: tuple(torch.cat([part[i] for part in out]) for i in range(3)) for m, out in self._eval_outputs.items()
        }
        shards = gather_objects(local)  # under DDP each process saw a shard of the evaluation set
        gathered = {}
        for modality in {m for shard in shards for m in shard}:
            parts = [shard[modality] for shard in shards if modality in shard]
            embeddings, groups, index = (torch.cat([p[i] for p in parts]) for i in range(3))
            gathered[modality] = first_of_each(embeddings, groups, index)
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

    # every rank computes the metrics on the gathered outputs, so they agree; sync_dist only says so to Lightning

    def on_validation_epoch_end(self) -> None:
        for key, value in self.retrieval_metrics().items():
            self.log(f"val/{key}", value, prog_bar=key.endswith("R@1"), sync_dist=self.distributed)

    def on_test_epoch_end(self) -> None:
        for key, value in self.retrieval_metrics().items():
            self.log(f"test/{key}", value, sync_dist=self.distributed)

    # -- optimisation ----------------------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        decayed, kept = split_weight_decay(self)
        groups = [{"params": decayed, "name": "decayed"}, {"params": kept, "weight_decay": 0.0, "name": "no_decay"}]
        optimizer = self.optimizer_factory([group for group in groups if group["params"]])
        if self.schedule is None:
            return optimizer
        lr_lambda = self.schedule.lr_lambda(lambda: self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["unibind_counters"] = {"skipped_items": self.skipped_items, "skipped_batches": self.skipped_batches}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counters = checkpoint.get("unibind_counters", {})
        self.skipped_items = int(counters.get("skipped_items", 0))
        self.skipped_batches = int(counters.get("skipped_batches", 0))
