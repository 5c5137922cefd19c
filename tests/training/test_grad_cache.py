"""GradCache: the loss and gradients of the whole batch, computed sub-batch by sub-batch."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from unibind.alignment import MoEAligner
from unibind.datasets import ManifestDataset, write_shapes_dataset
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, OpenClipImageEncoder, OpenClipTextEncoder, TimmAudioEncoder
from unibind.modalities import AudioSpec, ImageSpec, TextSpec, narrow_rows
from unibind.objectives import MultiPositiveInfoNCELoss
from unibind.training import UnibindModule
from unibind.training.grad_cache import sub_batch

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")  # no Trainer here


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """11 items of the mixed shapes corpus: image + text, audio + text or all three."""
    root = tmp_path_factory.mktemp("mixed")
    write_shapes_dataset(root, {"train": 3}, size=32, seed=2, sounds=True)
    specs = {"image": ImageSpec(32), "text": TextSpec(), "audio": AudioSpec(clip_seconds=0.5)}
    dataset = ManifestDataset(root / "train.jsonl", specs)
    return dataset.collate([dataset[i] for i in range(0, 44, 4)])


def make_module(grad_cache_chunk: int | None, patch_dropout: float = 0.0) -> UnibindModule:
    torch.manual_seed(0)
    vision = {**TINY_CLIP_CFG["vision_cfg"], "patch_dropout": patch_dropout}
    encoders = {
        "image": OpenClipImageEncoder(model_cfg={**TINY_CLIP_CFG, "vision_cfg": vision}),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": TimmAudioEncoder("test_convnext", n_mels=32),
    }
    aligner = MoEAligner(32, num_experts=4, top_k=2, modalities=list(encoders))
    embedder = UnifiedEmbedder(encoders, embed_dim=32, aligner=aligner)
    return UnibindModule(embedder, objective=MultiPositiveInfoNCELoss(), grad_cache_chunk=grad_cache_chunk).train()


def step(module: UnibindModule, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    torch.manual_seed(1)
    loss = module.training_step(batch, 0)
    loss.backward()
    return loss.detach(), {name: p.grad for name, p in module.named_parameters() if p.grad is not None}


def assert_same(a: tuple, b: tuple) -> None:
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("chunk", [1, 3, 4, 11])
def test_gradients_equal_the_whole_batch(batch: dict, chunk: int) -> None:
    assert set(batch["inputs"]) == {"image", "text", "audio"}
    assert_same(step(make_module(chunk), batch), step(make_module(None), batch))


def test_random_state_is_replayed_per_sub_batch(batch: dict) -> None:
    """With dropout, GradCache equals one graph over the same sub-batches embedded one after the other."""
    cached = step(make_module(3, patch_dropout=0.5), batch)
    module = make_module(None, patch_dropout=0.5)
    torch.manual_seed(1)
    parts = [module.embed(sub_batch(batch, s, min(s + 3, 11))["inputs"], placeholders=False) for s in range(0, 11, 3)]
    embeddings = {m: torch.cat([p[m].embedding for p in parts if m in p]) for m in batch["inputs"]}
    routing = {}
    for m in batch["inputs"]:
        outs = [p[m] for p in parts if m in p]
        routing[m] = type(outs[0])(
            embeddings[m],
            expert_counts=sum(o.expert_counts for o in outs),
            router_probs_sum=sum(o.router_probs_sum for o in outs),
        )
    loss = sum(module.losses_from(batch, embeddings, routing).values())
    loss.backward()
    reference = (loss.detach(), {n: p.grad for n, p in module.named_parameters() if p.grad is not None})
    assert_same(cached, reference)
    assert not torch.allclose(cached[0], step(make_module(3), batch)[0])  # the dropout changes the result


def test_sub_batches_cut_every_modality_by_item(batch: dict) -> None:
    part = sub_batch(batch, 3, 7)
    assert part["ids"] == batch["ids"][3:7]
    for modality, positions in part["present"].items():
        full = torch.as_tensor(batch["present"][modality])
        rows = ((full >= 3) & (full < 7)).nonzero().squeeze(1)
        assert positions.tolist() == (full[rows] - 3).tolist()
    audio = part["inputs"]["audio"]
    first = int(((torch.as_tensor(batch["present"]["audio"]) >= 3).nonzero())[0])
    assert torch.equal(audio.waveforms, batch["inputs"]["audio"].waveforms[first : first + audio.num_clips])
    assert narrow_rows(["a", "b", "c"], 1, 3) == ["b", "c"]
    with pytest.raises(TypeError, match="cannot be cut"):
        narrow_rows(object(), 0, 1)


def test_invalid_chunk() -> None:
    with pytest.raises(ValueError, match="grad_cache_chunk"):
        make_module(0)


class FirstStepGradients(L.Callback):
    """Keeps the gradients Lightning hands to the optimizer in the first step."""

    def __init__(self) -> None:
        self.grads: dict[str, torch.Tensor] = {}

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if trainer.global_step == 0:
            self.grads = {n: p.grad.clone() for n, p in pl_module.named_parameters() if p.grad is not None}


def first_step_through_lightning(config: Path, *extra: str) -> dict[str, torch.Tensor]:
    from unibind.training.cli import run_lightning_cli

    cli = run_lightning_cli(["--config", str(config), *extra], run=False)
    probe = FirstStepGradients()
    trainer = L.Trainer(
        accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, callbacks=[probe],
    )  # fmt: skip
    trainer.fit(cli.model, datamodule=cli.datamodule)
    return probe.grads


def test_through_lightning_the_optimizer_gets_the_whole_batch_gradients(tmp_path: Path, shapes_dir: Path) -> None:
    """Lightning zeroes gradients between training_step and backward: GradCache must keep its sub-batches' part."""
    from tests.training.test_fit import tiny_config  # the tiny config, pointed at the test corpus

    config = tiny_config(tmp_path, shapes_dir, max_epochs=1)
    plain = first_step_through_lightning(config)
    cached = first_step_through_lightning(config, "--model.grad_cache_chunk", "5")
    assert plain.keys() == cached.keys()
    for name, grad in plain.items():
        torch.testing.assert_close(cached[name], grad, atol=1e-5, rtol=1e-4, msg=name)
