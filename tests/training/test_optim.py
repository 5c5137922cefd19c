"""Weight-decay groups, the warmup + cosine schedule, and bf16 mixed precision on the CPU."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tests.training.test_fit import tiny_config

from unibind.embedder import UnifiedEmbedder
from unibind.objectives import SigLIPLoss
from unibind.training import UnibindModule, WarmupCosine, split_weight_decay
from unibind.training.cli import run_lightning_cli


def test_no_decay_for_biases_norms_embeddings_and_the_loss_scalars(tiny_embedder: UnifiedEmbedder) -> None:
    module = UnibindModule(tiny_embedder, objective=SigLIPLoss())
    decayed, kept = split_weight_decay(module)
    names = {id(p): n for n, p in module.named_parameters()}
    kept_names = {names[id(p)] for p in kept}
    decayed_names = {names[id(p)] for p in decayed}
    assert {"objective.log_logit_scale", "objective.bias", "embedder.aligner.modality_embedding.weight"} <= kept_names
    assert "embedder.encoders.text.tower.token_embedding.weight" in kept_names
    assert "embedder.encoders.image.tower.positional_embedding" in kept_names
    assert "embedder.encoders.image.tower.class_embedding" in kept_names
    assert all(p.ndim >= 2 for p in decayed)  # no bias or norm scale
    assert {"embedder.aligner.router.weight", "embedder.aligner.experts.experts.0.net.0.weight"} <= decayed_names
    assert any(n.startswith("embedder.heads.image") for n in decayed_names)
    assert len(decayed) + len(kept) == sum(1 for p in module.parameters() if p.requires_grad)


def test_configure_optimizers_gives_the_second_group_no_decay(tiny_embedder: UnifiedEmbedder) -> None:
    factory = lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1)  # noqa: E731
    optimizer = UnibindModule(tiny_embedder, optimizer=factory).configure_optimizers()
    assert [group["name"] for group in optimizer.param_groups] == ["decayed", "no_decay"]
    assert [group["weight_decay"] for group in optimizer.param_groups] == [0.1, 0.0]


@pytest.mark.parametrize(("warmup", "expected_warmup"), [(10, 10), (0.1, 10), (0, 0)])
def test_warmup_then_cosine_to_the_floor(warmup: float, expected_warmup: int) -> None:
    schedule = WarmupCosine(warmup=warmup, min_lr_ratio=0.1)
    total = 100
    factors = [schedule.factor(step, total) for step in range(total + 1)]
    assert schedule.warmup_steps(total) == expected_warmup
    for step in range(expected_warmup):
        assert factors[step] == pytest.approx(step / expected_warmup)
    assert factors[expected_warmup] == pytest.approx(1.0)
    middle = expected_warmup + (total - expected_warmup) / 2
    assert schedule.factor(int(middle), total) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)), abs=0.02
    )
    assert factors[total] == pytest.approx(0.1)
    assert all(a >= b - 1e-12 for a, b in zip(factors[expected_warmup:], factors[expected_warmup + 1 :], strict=False))
    with pytest.raises(ValueError, match="min_lr_ratio"):
        WarmupCosine(min_lr_ratio=2)


def test_the_schedule_asks_for_the_run_length_late() -> None:
    asked = []
    fn = WarmupCosine(warmup=0.5).lr_lambda(lambda: asked.append(1) or 10)
    assert fn(0) == 0.0  # LambdaLR calls step 0 while the optimizer is built ...
    assert not asked  # ... before the run's length is known
    assert fn(2) == pytest.approx(2 / 5)
    assert fn(7) == pytest.approx(WarmupCosine(warmup=0.5).factor(7, 10))
    assert asked == [1]


def test_lightning_steps_the_schedule_per_step(tmp_path: Path, shapes_dir: Path) -> None:
    cli = run_lightning_cli(["fit", "--config", str(tiny_config(tmp_path, shapes_dir, max_epochs=2))])
    steps = cli.trainer.global_step
    optimizer = cli.trainer.optimizers[0]
    peak = 0.001
    expected = peak * cli.model.schedule.factor(steps, steps)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert optimizer.param_groups[1]["lr"] == pytest.approx(expected)


def test_bf16_mixed_trains_on_the_cpu(tmp_path: Path, shapes_dir: Path) -> None:
    config = tiny_config(tmp_path, shapes_dir, max_epochs=1, precision="bf16-mixed", enable_model_summary=False)
    cli = run_lightning_cli(["fit", "--config", str(config)])
    assert cli.trainer.precision == "bf16-mixed"
    assert cli.trainer.global_step > 0
    assert torch.isfinite(cli.trainer.callback_metrics["train/loss"])
    assert all(p.dtype == torch.float32 for p in cli.model.parameters())  # weights stay float32
