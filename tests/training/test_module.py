import pytest
import torch

from unibind.datasets import ManifestDataset
from unibind.embedder import UnifiedEmbedder
from unibind.modalities import ImageSpec, TextSpec
from unibind.objectives import MatryoshkaLoss, SigLIPLoss
from unibind.training import UnibindModule, modality_pairs, paired_rows


def test_modality_pairs() -> None:
    assert modality_pairs(["image", "text", "audio"], "all", None) == [
        ("image", "text"),
        ("image", "audio"),
        ("text", "audio"),
    ]
    assert modality_pairs(["image", "text", "audio"], "anchor", "image") == [("image", "text"), ("image", "audio")]
    with pytest.raises(ValueError, match="anchor"):
        modality_pairs(["image", "text"], "anchor", "audio")


def test_paired_rows_selects_items_with_both() -> None:
    present = {"image": torch.tensor([0, 2, 3]), "text": torch.tensor([1, 2, 3])}
    rows_a, rows_b, items = paired_rows(present, "image", "text", batch_size=4)
    assert items.tolist() == [2, 3]
    assert rows_a.tolist() == [1, 2]
    assert rows_b.tolist() == [1, 2]


def _batch(shapes_dir, n=8):
    dataset = ManifestDataset(shapes_dir / "train.jsonl", {"image": ImageSpec(32), "text": TextSpec()})
    return dataset.collate([dataset[i] for i in range(n)])


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")  # no Trainer attached here
def test_losses_per_pair_plus_moe_balance(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder)
    losses, embeddings, contrasted = module.compute_losses(_batch(shapes_dir))
    assert set(losses) == {"image_text_contrastive_loss", "moe_balance_loss"}
    assert contrasted == 1
    assert embeddings["image"].shape == (8, 32)
    # the router's expert usage is tallied per modality: 8 items x top-2
    assert {m: int(u.sum()) for m, u in module.expert_usage.items()} == {"image": 16, "text": 16}
    total = module.training_step(_batch(shapes_dir), 0)
    torch.testing.assert_close(total, sum(losses.values()), atol=1e-4, rtol=1e-4)


def test_matryoshka_and_siglip_objectives_plug_in(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder, objective=MatryoshkaLoss(SigLIPLoss(), dims=[8, 32]))
    losses, _, _ = module.compute_losses(_batch(shapes_dir))
    assert {"image_text_siglip_d8_loss", "image_text_siglip_d32_loss"} <= set(losses)


def test_a_few_steps_reduce_the_loss(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder)
    optimizer = torch.optim.AdamW(module.parameters(), lr=3e-3)
    batch = _batch(shapes_dir, 16)

    def loss() -> torch.Tensor:
        return sum(module.compute_losses(batch)[0].values())

    with torch.no_grad():
        start = float(loss())
    for _ in range(25):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    with torch.no_grad():
        assert float(loss()) < 0.75 * start


def test_batch_without_pairs_is_skipped_not_fatal(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder)
    batch = _batch(shapes_dir, 4)
    batch["inputs"].pop("text")
    batch["present"].pop("text")
    with pytest.warns(UserWarning, match="step skipped"):
        assert module.training_step(batch, 3) is None
    assert module.skipped_batches == 1


def test_retrieval_metrics_both_directions(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder).eval()
    with torch.no_grad():
        module.validation_step(_batch(shapes_dir), 0)
    metrics = module.retrieval_metrics()
    assert set(metrics) == {f"{d}/R@{k}" for d in ("image_to_text", "text_to_image") for k in (1, 5, 10)}
    assert module.retrieval_metrics() == {}  # cleared after each epoch


def test_retrieval_metrics_leave_out_queries_without_a_counterpart(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    module = UnibindModule(tiny_embedder).eval()
    batch = _batch(shapes_dir, 8)
    keep = torch.arange(4)  # the last four items have text only, like sounds next to images
    batch["inputs"]["image"] = batch["inputs"]["image"][keep]
    batch["present"]["image"] = keep
    with torch.no_grad():
        module.validation_step(batch, 0)
        images, image_groups, _ = module._eval_outputs["image"][0]
        texts, text_groups, _ = module._eval_outputs["text"][0]
    metrics = module.retrieval_metrics()
    # text -> image is scored on the texts whose group has an image, against those four images
    answerable = torch.isin(text_groups, image_groups)
    assert not bool(answerable.all())
    top = (texts[answerable] @ images.T).argmax(1)
    expected = image_groups[top] == text_groups[answerable]
    assert metrics["text_to_image/R@1"] == pytest.approx(expected.float().mean().item())
    assert set(metrics) == {f"{d}/R@{k}" for d in ("image_to_text", "text_to_image") for k in (1, 5, 10)}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`:UserWarning")  # no Trainer attached here
def test_sentence_embeddings_reach_a_filtering_objective(tiny_embedder: UnifiedEmbedder, shapes_dir) -> None:
    from unibind.objectives import InfoNCELoss

    module = UnibindModule(tiny_embedder, objective=InfoNCELoss(filter_threshold=0.8, gather=False)).eval()
    batch = _batch(shapes_dir, 6)
    with torch.no_grad():
        plain = module.compute_losses(batch)[0]["image_text_contrastive_loss"]
        groups = batch["groups"].tolist()
        other = next(i for i in range(1, 6) if groups[i] != groups[0])  # of another group: a true negative
        order = list(range(6))
        order[0], order[other] = other, 0
        batch["sentence_embeddings"] = torch.nn.functional.normalize(torch.eye(6) + torch.eye(6)[order])
        filtered = module.compute_losses(batch)[0]["image_text_contrastive_loss"]  # 0 and `other`: same caption
    assert filtered < plain
    with pytest.raises(ValueError, match="lock_encoders names"):
        UnibindModule(tiny_embedder, lock_encoders=["motion"])
