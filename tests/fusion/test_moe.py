import pytest
import torch

from unibind.fusion import DenseAligner, MoEAligner


def naive_moe(aligner: MoEAligner, x: torch.Tensor, modality: str) -> torch.Tensor:
    """Per-sample, per-expert reference of MoEAligner.forward (before normalisation)."""
    h = aligner.norm(x)
    _, gates, experts = aligner.route(h, modality)
    experts_ = aligner.experts.experts
    out = []
    for i in range(x.shape[0]):
        acc = torch.zeros_like(h[i])
        for slot in range(aligner.top_k):
            ffn = experts_[int(experts[i, slot])].net
            hidden = torch.nn.functional.gelu(ffn[0].weight @ h[i] + ffn[0].bias)
            acc = acc + gates[i, slot] * (ffn[2].weight @ hidden + ffn[2].bias)
        out.append(x[i] + acc)
    return torch.stack(out)


def test_matches_naive_reference() -> None:
    aligner = MoEAligner(16, num_experts=4, top_k=2, normalize=False)
    x = torch.randn(7, 16)
    torch.testing.assert_close(aligner(x, "text").embedding, naive_moe(aligner, x, "text"), atol=1e-5, rtol=1e-5)


def test_output_is_unit_norm_and_shape() -> None:
    out = MoEAligner(16, num_experts=4, top_k=2)(torch.randn(3, 16), "image")
    assert out.embedding.shape == (3, 16)
    torch.testing.assert_close(out.embedding.norm(dim=-1), torch.ones(3))
    assert out.expert_counts.sum() == 3 * 2


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_top_k_respected(top_k: int) -> None:
    aligner = MoEAligner(8, num_experts=5, top_k=top_k)
    probs, gates, experts = aligner.route(torch.randn(10, 8), "text")
    assert experts.shape == (10, top_k)
    assert all(len(set(row.tolist())) == top_k for row in experts)
    torch.testing.assert_close(gates.sum(-1), torch.ones(10))
    # the chosen experts are the k most probable ones
    assert torch.equal(experts.sort(-1).values, probs.topk(top_k).indices.sort(-1).values)
    counts = aligner(torch.randn(10, 8), "text").expert_counts
    assert int(counts.sum()) == 10 * top_k


def test_balance_loss_formula() -> None:
    aligner = MoEAligner(4, num_experts=2, top_k=1, balance_coef=0.5)
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    counts = torch.tensor([3, 1])  # argmax of each row
    f = torch.tensor([0.75, 0.25])
    p = probs.mean(0)
    expected = 0.5 * 2 * (f * p).sum()
    torch.testing.assert_close(aligner.balance_loss(probs, counts), expected)
    uniform = torch.full((4, 2), 0.5)
    torch.testing.assert_close(aligner.balance_loss(uniform, torch.tensor([2, 2])), torch.tensor(0.5))


def test_balance_loss_only_in_training() -> None:
    aligner = MoEAligner(8, num_experts=4, top_k=2)
    assert "moe_balance_loss" in aligner.train()(torch.randn(5, 8), "text").losses
    assert aligner.eval()(torch.randn(5, 8), "text").losses == {}


def test_gradients_reach_every_chosen_expert_and_the_router() -> None:
    aligner = MoEAligner(8, num_experts=6, top_k=2)
    x = torch.randn(12, 8)
    out = aligner(x, "text")
    (out.embedding.sum() + out.losses["moe_balance_loss"]).backward()
    chosen = out.expert_counts > 0
    for expert, was_chosen in zip(aligner.experts.experts, chosen.tolist(), strict=True):
        grad = expert.net[0].weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == was_chosen
    assert aligner.router.weight.grad.abs().sum() > 0


def test_modality_embedding_changes_routing_input() -> None:
    aligner = MoEAligner(8, num_experts=4, top_k=1, modalities=["image", "text"])
    with torch.no_grad():
        aligner.modality_embedding.weight[0] += 5.0
    x = torch.randn(6, 8)
    probs_image = aligner.route(aligner.norm(x), "image")[0]
    probs_text = aligner.route(aligner.norm(x), "text")[0]
    assert not torch.allclose(probs_image, probs_text)
    with pytest.raises(KeyError, match="audio"):
        aligner(x, "audio")


def test_invalid_top_k() -> None:
    with pytest.raises(ValueError, match="top_k"):
        MoEAligner(8, num_experts=2, top_k=3)


def test_dense_aligner_matches_formula() -> None:
    aligner = DenseAligner(8, hidden_dim=16)
    x = torch.randn(3, 8)
    expected = torch.nn.functional.normalize(x + aligner.ffn(aligner.norm(x)), dim=-1)
    torch.testing.assert_close(aligner(x, "text").embedding, expected)
    assert aligner(x, "text").losses == {}


def test_init_args_recorded() -> None:
    aligner = MoEAligner(8, num_experts=4, modalities=["text"])
    assert aligner.init_args["num_experts"] == 4
    assert aligner.init_args["top_k"] == 2
    assert aligner.init_args["modalities"] == ["text"]
