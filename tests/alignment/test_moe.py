import math

import pytest
import torch

from unibind.alignment import DenseAligner, MoEAligner


def _layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased variance, as LayerNorm
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _expert(ffn: torch.nn.Sequential, v: torch.Tensor) -> torch.Tensor:
    """``W2 GELU(W1 v + b1) + b2`` with the exact (erf) GELU, from the expert's own weights."""
    z = ffn[0].weight @ v + ffn[0].bias
    return ffn[2].weight @ (0.5 * z * (1.0 + torch.erf(z / math.sqrt(2.0)))) + ffn[2].bias


def _route_row(aligner: MoEAligner, logits: torch.Tensor) -> tuple[torch.Tensor, list[int], torch.Tensor]:
    """Softmax over all experts, the ``k`` most probable ones (by a plain sort), their (renormalised) gates."""
    probs = torch.exp(logits - logits.max()) / torch.exp(logits - logits.max()).sum()
    chosen = sorted(range(len(probs)), key=lambda e: -float(probs[e]))[: aligner.top_k]
    gates = probs[chosen]
    return probs, chosen, gates / gates.sum() if aligner.renormalize_gates else gates


def naive_moe(aligner: MoEAligner, x: torch.Tensor, modality: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-token reference of MoEAligner.forward from its weights: ``(embedding, expert_counts, router_probs_sum)``.

    Shares nothing with the aligner's code: LayerNorm, router logits, softmax, top-k, gates, expert MLPs and the
    output normalisation are written out here.
    """
    h = _layer_norm(x, aligner.norm)
    router_input = h
    if aligner.modality_embedding is not None:
        router_input = h + aligner.modality_embedding.weight[aligner.modality_index[modality]]
    logits = router_input @ aligner.router.weight.T  # the router has no bias
    counts = torch.zeros(aligner.num_experts, dtype=torch.long)
    probs_sum = torch.zeros(aligner.num_experts)
    rows = []
    for i in range(x.shape[0]):
        probs, chosen, gates = _route_row(aligner, logits[i])
        probs_sum = probs_sum + probs
        mixed = torch.zeros_like(h[i])
        for e, gate in zip(chosen, gates, strict=True):
            counts[e] += 1
            mixed = mixed + gate * _expert(aligner.experts.experts[e].net, h[i])
        y = x[i] + mixed if aligner.residual else mixed
        rows.append(y / y.norm() if aligner.normalize else y)
    return torch.stack(rows), counts, probs_sum


@pytest.mark.parametrize("dispatch", ["grouped", "masked"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 2, "normalize": False},
        {"top_k": 1, "renormalize_gates": False},
        {"top_k": 3, "renormalize_gates": False, "residual": False, "modalities": ["image", "text"]},
        {"top_k": 2, "modalities": ["text", "audio"], "balance_coef": 0.3},
    ],
)
def test_matches_naive_reference(kwargs: dict, dispatch: str) -> None:
    aligner = MoEAligner(16, num_experts=5, dispatch=dispatch, **kwargs)
    if aligner.modality_embedding is not None:
        with torch.no_grad():  # large enough to change which experts are picked
            aligner.modality_embedding.weight.normal_(std=1.0)
    x = torch.randn(7, 16)
    with torch.no_grad():
        out = aligner(x, "text")
        embedding, counts, probs_sum = naive_moe(aligner, x, "text")
    torch.testing.assert_close(out.embedding, embedding, atol=1e-5, rtol=1e-5)
    assert torch.equal(out.expert_counts, counts)
    torch.testing.assert_close(out.router_probs_sum, probs_sum, atol=1e-5, rtol=1e-5)
    # Switch loss, eq. 4: alpha * E * sum_e f_e P_e, f_e over the B*k slots, P_e the mean probability over B rows
    fraction, mean_probs = counts.float() / (7 * aligner.top_k), probs_sum / 7
    expected_loss = aligner.balance_coef * aligner.num_experts * (fraction * mean_probs).sum()
    with torch.no_grad():
        loss = aligner.balance_loss(out.router_probs_sum, out.expert_counts)
    torch.testing.assert_close(loss, expected_loss)


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
    torch.testing.assert_close(aligner.balance_loss(probs.sum(0), counts), expected)
    uniform = torch.full((4, 2), 0.5)
    torch.testing.assert_close(aligner.balance_loss(uniform.sum(0), torch.tensor([2, 2])), torch.tensor(0.5))


def test_balance_sums_of_two_batches_give_the_loss_of_their_union() -> None:
    aligner = MoEAligner(8, num_experts=4, top_k=2)
    x = torch.randn(10, 8)
    whole = aligner(x, "text")
    first, second = aligner(x[:3], "text"), aligner(x[3:], "text")
    assert torch.equal(first.expert_counts + second.expert_counts, whole.expert_counts)
    union = aligner.balance_loss(
        first.router_probs_sum + second.router_probs_sum, first.expert_counts + second.expert_counts
    )
    torch.testing.assert_close(union, aligner.balance_loss(whole.router_probs_sum, whole.expert_counts))
    # the reference: f_e from the top-2 choices, P_e the mean probability, over all 10 rows
    probs, _, experts = aligner.route(aligner.norm(x), "text")
    f = torch.bincount(experts.reshape(-1), minlength=4).float() / 20
    torch.testing.assert_close(union, 0.01 * 4 * (f * probs.mean(0)).sum())


def test_gradients_reach_every_expert_and_the_router() -> None:
    aligner = MoEAligner(8, num_experts=6, top_k=2)
    x = torch.randn(12, 8)
    out = aligner(x, "text")
    (out.embedding.sum() + aligner.balance_loss(out.router_probs_sum, out.expert_counts)).backward()
    chosen = out.expert_counts > 0
    for expert, was_chosen in zip(aligner.experts.experts, chosen.tolist(), strict=True):
        grad = expert.net[0].weight.grad
        assert grad is not None  # idle experts run on zero rows: in the graph, with a zero gradient
        assert bool(grad.abs().sum() > 0) == was_chosen
    assert aligner.router.weight.grad.abs().sum() > 0


def test_zero_rows_keep_every_parameter_in_the_graph() -> None:
    aligner = MoEAligner(8, num_experts=3, top_k=2, modalities=["text"])
    out = aligner(torch.randn(0, 8, requires_grad=True), "text")
    assert out.embedding.shape == (0, 8)
    assert out.expert_counts.tolist() == [0, 0, 0]
    (out.embedding.sum() + out.router_probs_sum.sum()).backward()
    assert all(p.grad is not None for name, p in aligner.named_parameters() if name != "modality_embedding.weight")


def test_masked_dispatch_equals_grouped() -> None:
    grouped = MoEAligner(16, num_experts=5, top_k=2, dispatch="grouped")
    masked = MoEAligner(16, num_experts=5, top_k=2, dispatch="masked")
    masked.load_state_dict(grouped.state_dict())
    x = torch.randn(9, 16)
    a, b = grouped(x, "text"), masked(x, "text")
    torch.testing.assert_close(a.embedding, b.embedding, atol=1e-6, rtol=1e-5)
    assert torch.equal(a.expert_counts, b.expert_counts)
    a.embedding.sum().backward()
    b.embedding.sum().backward()
    for p, q in zip(grouped.parameters(), masked.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="dispatch"):
        MoEAligner(8, dispatch="sparse")


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
