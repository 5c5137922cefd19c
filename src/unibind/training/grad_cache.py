"""GradCache: the contrastive loss of a large batch with the activation memory of a sub-batch.

Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
(https://arxiv.org/abs/2101.06983). With embeddings ``e = f(x)`` and a loss ``L(e)`` that couples every
row, ``dL/dtheta = sum_k (dL/de_k) (de_k/dtheta)`` over sub-batches ``k``:

1. embed every sub-batch without a graph and keep the embeddings ``e`` (and the MoE routing sums);
2. compute ``L`` on them as leaves and its gradients ``g = dL/de`` (the only full-batch graph: the loss's);
3. embed each sub-batch again with a graph and back-propagate ``sum(e_k * g_k)``, one sub-batch at a time.

Peak activation memory is one sub-batch's; the price is a second forward. Each sub-batch's random state
(dropout, SpecAugment) is replayed in step 3, so the gradients equal the full batch's. Under DDP the
intermediate backward passes accumulate locally (they run inside the DDP forward, before the reducer is
armed) and the last one, which Lightning runs, averages the accumulated gradients over the ranks once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from unibind.alignment import AlignerOutput
from unibind.modalities import narrow_rows

if TYPE_CHECKING:
    from unibind.training.module import UnibindModule


def sub_batch(batch: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
    """The items ``start .. stop - 1`` of a collated batch: their inputs (row ranges of each modality's batch)
    and positions. Each modality's ``present`` positions must be ascending (as :func:`collate_items` makes them)."""
    inputs, present = {}, {}
    for modality, positions in batch["present"].items():
        if modality not in batch["inputs"]:
            continue
        positions = torch.as_tensor(positions, dtype=torch.long).cpu()
        if len(positions) > 1 and not bool((positions[1:] > positions[:-1]).all()):
            raise ValueError(f"GradCache needs ascending batch positions; {modality!r} has {positions.tolist()}")
        rows = ((positions >= start) & (positions < stop)).nonzero().squeeze(1)
        if len(rows):
            first, last = int(rows[0]), int(rows[-1]) + 1
            inputs[modality] = narrow_rows(batch["inputs"][modality], first, last)
            present[modality] = positions[first:last] - start
    return {"ids": batch["ids"][start:stop], "inputs": inputs, "present": present}


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _cached_outputs(
    module: UnibindModule, chunks: list[dict[str, Any]]
) -> tuple[dict[str, AlignerOutput], dict[str, list[int]], list[tuple[torch.Tensor, torch.Tensor | None]]]:
    """Step 1: every sub-batch embedded without a graph.

    Returns per modality the concatenated output as leaves (embeddings ``[n_m, D]``, routing sums ``[E]``),
    the rows each sub-batch contributed, and the random state each sub-batch started from.
    """
    per_chunk, states = [], []
    with torch.no_grad():
        for chunk in chunks:
            states.append(_rng_state(module.device))
            per_chunk.append(module.embed(chunk["inputs"], placeholders=False))
    outputs, rows = {}, {}
    for modality in module.embedder.modalities:
        parts = [out[modality] for out in per_chunk if modality in out]
        rows[modality] = [out[modality].embedding.shape[0] if modality in out else 0 for out in per_chunk]
        if not parts and not module.distributed:
            continue
        if not parts:  # absent on this rank: the others may have rows, and every rank joins every collective
            with torch.no_grad():
                parts = [module.placeholder_output(modality)]
        embedding = torch.cat([p.embedding for p in parts]).requires_grad_()
        probs_sum = counts = None
        if parts[0].router_probs_sum is not None:
            probs_sum = torch.stack([p.router_probs_sum for p in parts]).sum(dim=0).requires_grad_()
            counts = torch.stack([p.expert_counts for p in parts]).sum(dim=0)
        outputs[modality] = AlignerOutput(embedding, expert_counts=counts, router_probs_sum=probs_sum)
    return outputs, rows, states


def grad_cache_step(
    module: UnibindModule, batch: dict[str, Any], chunk_size: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """One GradCache training step; returns ``(to_backward, losses, loss)``.

    ``to_backward`` is the last sub-batch's surrogate (plus the objective's own parameters' terms), whose
    value is the loss; Lightning back-propagates it. ``losses`` are detached, for logging.
    """
    size = len(batch["ids"])
    chunks = [sub_batch(batch, start, min(start + chunk_size, size)) for start in range(0, max(size, 1), chunk_size)]
    device = module.device
    cached, rows, states = _cached_outputs(module, chunks)
    # step 2: the loss on the cached embeddings, and its gradients with respect to them
    losses = module.losses_from(batch, {m: out.embedding for m, out in cached.items()}, cached)
    loss = sum(losses.values(), torch.zeros((), device=device))
    leaves = [out.embedding for out in cached.values()]
    leaves += [out.router_probs_sum for out in cached.values() if out.router_probs_sum is not None]
    leaves += [p for p in module.objective.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True) if loss.requires_grad else [None] * len(leaves)
    grad_of = {id(x): torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads, strict=True)}
    # step 3: each sub-batch again, with a graph, back-propagating sum(e_k * g_k)
    scaler = getattr(getattr(module._trainer, "precision_plugin", None), "scaler", None)
    for k, chunk in enumerate(chunks):
        last = k == len(chunks) - 1
        _set_rng_state(states[k], device)
        # in the last sub-batch every modality runs (placeholders where absent), so that the backward that
        # DDP synchronises reaches every parameter
        outputs = module.embed(chunk["inputs"], placeholders=module.distributed and last)
        surrogate = torch.zeros((), device=device)
        for modality, out in outputs.items():
            start = sum(rows[modality][:k])
            grad = grad_of[id(cached[modality].embedding)][start : start + out.embedding.shape[0]]
            surrogate = surrogate + (out.embedding * grad).sum()
            if out.router_probs_sum is not None:
                surrogate = surrogate + (out.router_probs_sum * grad_of[id(cached[modality].router_probs_sum)]).sum()
        if not last:
            (scaler.scale(surrogate) if scaler is not None else surrogate).backward()
    for param in module.objective.parameters():
        if param.requires_grad:
            surrogate = surrogate + (param * grad_of[id(param)]).sum()
    to_backward = surrogate - surrogate.detach() + loss.detach()
    return to_backward, {key: value.detach() for key, value in losses.items()}, loss.detach()
