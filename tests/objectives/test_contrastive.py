import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss, SigLipLoss

from unibind.objectives import InfoNCELoss, MatryoshkaLoss, MultiPositiveInfoNCELoss, SigLIPLoss


def unit(n: int, d: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, d), dim=-1)


def naive_infonce(a, b, scale) -> torch.Tensor:
    n = a.shape[0]
    total = 0.0
    for i in range(n):
        row = [scale * float(a[i] @ b[j]) for j in range(n)]
        col = [scale * float(b[i] @ a[j]) for j in range(n)]
        total += -row[i] + math.log(sum(math.exp(v) for v in row))
        total += -col[i] + math.log(sum(math.exp(v) for v in col))
    return torch.tensor(total / (2 * n))


def test_infonce_against_naive_and_open_clip() -> None:
    a, b = unit(5, 8), unit(5, 8)
    loss = InfoNCELoss(init_temperature=0.1)
    ours = loss(a, b)["contrastive_loss"]
    torch.testing.assert_close(ours, naive_infonce(a, b, 10.0).float(), atol=1e-5, rtol=1e-5)
    theirs = ClipLoss()(a, b, logit_scale=loss.logit_scale)
    torch.testing.assert_close(ours, theirs)


def test_logit_scale_is_learnable_and_clamped() -> None:
    loss = InfoNCELoss(init_temperature=0.07)
    a, b = unit(4, 8).requires_grad_(), unit(4, 8)
    loss(a, b)["contrastive_loss"].backward()
    assert loss.log_logit_scale.grad is not None
    torch.testing.assert_close(loss.logit_scale, torch.tensor(1 / 0.07))
    assert InfoNCELoss(init_temperature=0.001).logit_scale == 100.0
    assert not InfoNCELoss(learn_temperature=False).log_logit_scale.requires_grad


def test_infonce_masks_same_group_false_negatives() -> None:
    a, b = unit(4, 8), unit(4, 8)
    groups = torch.tensor([0, 0, 1, 2])
    loss = InfoNCELoss(init_temperature=0.1)(a, b, groups)["contrastive_loss"]
    logits = 10.0 * a @ b.T
    mask = torch.tensor([[False, True, False, False], [True, False, False, False], [False] * 4, [False] * 4])
    masked = logits.masked_fill(mask, float("-inf"))
    expected = (
        torch.nn.functional.cross_entropy(masked, torch.arange(4))
        + torch.nn.functional.cross_entropy(masked.T, torch.arange(4))
    ) / 2
    torch.testing.assert_close(loss, expected)


def test_hard_negatives_raise_the_loss() -> None:
    a = unit(4, 8)
    b = a.clone()
    loss = InfoNCELoss(init_temperature=0.1)
    plain = loss(a, b)["contrastive_loss"]
    hard = loss(a, b, hard_negatives=a + 0.01 * torch.randn(4, 8))["contrastive_loss"]
    assert hard > plain


def naive_multi_positive(a, b, groups, scale) -> torch.Tensor:
    n = a.shape[0]

    def direction(x, y):
        total = 0.0
        for i in range(n):
            logits = [scale * float(x[i] @ y[j]) for j in range(n)]
            log_z = math.log(sum(math.exp(v) for v in logits))
            positives = [j for j in range(n) if groups[j] == groups[i]]
            total += sum(log_z - logits[j] for j in positives) / len(positives)
        return total / n

    return torch.tensor((direction(a, b) + direction(b, a)) / 2)


def test_multi_positive_against_naive() -> None:
    a, b = unit(6, 8), unit(6, 8)
    groups = torch.tensor([0, 0, 1, 1, 1, 2])
    ours = MultiPositiveInfoNCELoss(init_temperature=0.1)(a, b, groups)["contrastive_loss"]
    torch.testing.assert_close(ours, naive_multi_positive(a, b, groups, 10.0).float(), atol=1e-5, rtol=1e-5)


def test_multi_positive_equals_infonce_with_unique_groups() -> None:
    a, b = unit(5, 8), unit(5, 8)
    torch.testing.assert_close(
        MultiPositiveInfoNCELoss()(a, b, torch.arange(5))["contrastive_loss"], InfoNCELoss()(a, b)["contrastive_loss"]
    )


def test_siglip_against_formula_and_open_clip() -> None:
    a, b = unit(5, 8), unit(5, 8)
    loss = SigLIPLoss()
    ours = loss(a, b)["siglip_loss"]
    logits = 10.0 * a @ b.T - 10.0
    signs = 2 * torch.eye(5) - 1
    expected = -torch.nn.functional.logsigmoid(signs * logits).sum() / 5
    torch.testing.assert_close(ours, expected)
    theirs = SigLipLoss()(a, b, logit_scale=loss.logit_scale, logit_bias=loss.bias)
    torch.testing.assert_close(ours, theirs)


def test_losses_return_named_dicts() -> None:
    a, b = unit(3, 4), unit(3, 4)
    for loss in (InfoNCELoss(), MultiPositiveInfoNCELoss(), SigLIPLoss()):
        out = loss(a, b)
        assert all(key.endswith("_loss") for key in out)
    with pytest.raises(ValueError, match="differ in shape"):
        InfoNCELoss()(unit(3, 4), unit(2, 4))


def test_matryoshka_prefix_losses() -> None:
    a, b = unit(4, 16), unit(4, 16)
    base = InfoNCELoss()
    out = MatryoshkaLoss(base, dims=[4, 16], weights=[0.5, 1.0])(a, b)
    assert set(out) == {"contrastive_d4_loss", "contrastive_d16_loss"}
    prefix = [torch.nn.functional.normalize(x[:, :4], dim=-1) for x in (a, b)]
    torch.testing.assert_close(out["contrastive_d4_loss"], 0.5 * base(*prefix)["contrastive_loss"])
    torch.testing.assert_close(out["contrastive_d16_loss"], base(a, b)["contrastive_loss"])
    with pytest.raises(ValueError, match="exceeds"):
        MatryoshkaLoss(base, dims=[32])(a, b)


def _tmr_filtered_infonce(a, b, sentences, temperature=0.1, threshold=0.8):
    """TMR's InfoNCE with filtering, written out: near-duplicate captions' pairs get -inf logits."""
    logits = a @ b.T / temperature
    selfsim = sentences @ sentences.T
    off_diagonal = ~torch.eye(len(a), dtype=torch.bool)
    logits = logits.masked_fill((selfsim > 2 * threshold - 1) & off_diagonal, float("-inf"))
    labels = torch.arange(len(a))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def test_filtering_near_duplicate_captions_matches_tmr() -> None:
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(6, 8), dim=1), F.normalize(torch.randn(6, 8), dim=1)
    sentences = F.normalize(torch.randn(6, 4), dim=1)
    sentences[3] = sentences[1]  # a caption repeated: never each other's negatives
    loss = InfoNCELoss(init_temperature=0.1, filter_threshold=0.8, gather=False)
    filtered = loss(a, b, sentence_embeddings=sentences)["contrastive_loss"]
    torch.testing.assert_close(filtered, _tmr_filtered_infonce(a, b, sentences))
    unfiltered = loss(a, b)["contrastive_loss"]  # without sentence embeddings nothing is filtered
    torch.testing.assert_close(unfiltered, InfoNCELoss(init_temperature=0.1, gather=False)(a, b)["contrastive_loss"])
    assert not torch.allclose(filtered, unfiltered)
    for objective in (MultiPositiveInfoNCELoss, SigLIPLoss):
        with_filter = objective(filter_threshold=0.8, gather=False)
        changed = with_filter(a, b, sentence_embeddings=sentences)
        plain = objective(gather=False)(a, b)
        assert next(iter(changed.values())) < next(iter(plain.values()))  # two negatives fewer: a smaller loss
    with pytest.raises(ValueError, match=r"0\.\.1 scale"):
        InfoNCELoss(filter_threshold=1.5)


def test_the_objective_base_class_is_abstract() -> None:
    from unibind.objectives.contrastive import ContrastiveObjective

    with pytest.raises(TypeError, match="abstract method compute"):
        ContrastiveObjective()
