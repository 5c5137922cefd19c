"""Optimizer hygiene: which parameters decay, and the warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

#: parameter names (last part) that hold embeddings even when they are plain ``nn.Parameter`` matrices
EMBEDDING_NAMES = ("positional_embedding", "pos_embed", "class_embedding", "cls_token", "cls", "mask_token")


def split_weight_decay(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Trainable parameters as ``(decayed, not decayed)``.

    Not decayed, as in open_clip and most CLIP / BERT recipes: every parameter with fewer than two
    dimensions (biases, norm scales, the logit scale and SigLIP's bias, learned scalars), the weights of
    ``nn.Embedding`` modules, and positional / class / mask embeddings stored as plain parameters.
    """
    decayed, kept = [], []
    embedding_weights = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding)}
    seen: set[int] = set()
    for name, param in module.named_parameters():
        if not param.requires_grad or id(param) in seen:
            continue
        seen.add(id(param))
        last = name.rsplit(".", 1)[-1]
        if param.ndim < 2 or id(param) in embedding_weights or last in EMBEDDING_NAMES:
            kept.append(param)
        else:
            decayed.append(param)
    return decayed, kept


@dataclass
class WarmupCosine:
    """Linear warmup from 0 to the optimizer's learning rate, then cosine decay to ``min_lr_ratio`` of it.

    .. math::
        f(s) = \\frac{s}{w} \\ (s < w), \\qquad
        f(s) = r + (1 - r) \\tfrac12 \\big(1 + \\cos(\\pi \\tfrac{s - w}{T - w})\\big) \\ (s \\ge w)

    with ``T`` the run's optimizer steps (``Trainer.estimated_stepping_batches``), ``w`` the warmup steps
    and ``r = min_lr_ratio`` (SGDR, Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983).

    Args:
        warmup: warmup steps (an integer >= 1) or a fraction of ``T`` (below 1; 0 for none).
        min_lr_ratio: the final learning rate as a fraction of the peak.
    """

    warmup: float = 0.0
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")

    def warmup_steps(self, total_steps: int) -> int:
        return int(self.warmup) if self.warmup >= 1 else math.ceil(self.warmup * total_steps)

    def factor(self, step: int, total_steps: int) -> float:
        """The learning-rate multiplier at optimizer step ``step`` (0-based) of ``total_steps``."""
        warmup = self.warmup_steps(total_steps)
        if step < warmup:
            return step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    def lr_lambda(self, total_steps: Callable[[], int]) -> Callable[[int], float]:
        """A ``LambdaLR`` function; ``total_steps`` is asked once, at the first step past 0.

        Asking late matters: ``Trainer.estimated_stepping_batches`` sets the training data up, and in
        ``configure_optimizers`` that comes before Lightning restores a resumed loader's position.
        """
        known: list[int] = []

        def lr_factor(step: int) -> float:
            if step == 0:
                return self.factor(0, 1)  # 0 with warmup, 1 without: the same for every run length
            if not known:
                known.append(max(1, int(total_steps())))
            return self.factor(step, known[0])

        return lr_factor
