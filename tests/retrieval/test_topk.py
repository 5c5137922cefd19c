"""Chunked top-k and the candidate pools equal full sorts; the fast comparisons equal plain ones."""

import pytest
import torch

from unibind.retrieval.topk import (
    _comparable,
    _first_pool,
    _grouped,
    pool_candidates,
    rescore,
    top_k_chunked,
    top_k_half,
    top_k_rescored,
)


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_chunked_top_k_equals_a_full_sort(dtype: torch.dtype) -> None:
    items, queries = torch.randn(500, 16).to(dtype), torch.randn(7, 16)
    expected = torch.sort(queries @ items.float().T, dim=1, descending=True)
    for batch in (queries, queries[:1]):  # chunked matrix products, or one matrix-vector product
        scores, indices = top_k_chunked(batch, items, k=10, chunk_size=37)
        torch.testing.assert_close(scores, expected.values[: len(batch), :10])
        assert torch.equal(indices, expected.indices[: len(batch), :10])


@pytest.mark.parametrize("chunk_size", [16384, 1000])  # 2 chunks, or 20 with a ragged last group each time
def test_half_precision_candidates_are_rescored_exactly(chunk_size: int) -> None:
    items, queries = _unit(20000, 64, 1).half(), _unit(12, 64, 2)
    reference = torch.sort(queries @ items.float().T, dim=1, descending=True)
    for batch in (queries, queries[:1]):  # the batched bfloat16 path and the float16 matrix-vector path
        scores, indices = top_k_half(batch, items, k=10, chunk_size=chunk_size)
        torch.testing.assert_close(scores, reference.values[: len(batch), :10])
        assert torch.equal(indices, reference.indices[: len(batch), :10])


def test_rescored_with_a_bfloat16_copy_of_float32_items() -> None:
    items, queries = _unit(5000, 32, 3), _unit(9, 32, 4)
    reference = torch.sort(queries @ items.T, dim=1, descending=True)
    scores, indices = top_k_rescored(queries, items, items.bfloat16(), k=5, chunk_size=700)
    torch.testing.assert_close(scores, reference.values[:, :5])
    assert torch.equal(indices, reference.indices[:, :5])


def test_rescore_orders_the_candidates_by_exact_scores() -> None:
    items, queries = _unit(50, 8, 5), _unit(3, 8, 6)
    candidates = torch.tensor([[4, 9, 1], [0, 2, 3], [7, 6, 8]])
    scores, rows = rescore(queries, items, candidates, k=2)
    for q in range(3):
        exact = {int(c): float(queries[q] @ items[c]) for c in candidates[q]}
        best = sorted(exact, key=exact.get, reverse=True)[:2]
        assert rows[q].tolist() == best
        assert scores[q].tolist() == pytest.approx([exact[c] for c in best])


def test_pool_candidates_equal_a_top_k_over_all_blocks() -> None:
    scores = torch.randn(6, 3000, generator=torch.Generator().manual_seed(7)).bfloat16()
    blocks = [(start, scores[:, start : start + 700]) for start in range(0, 3000, 700)]  # ragged last block
    pool = pool_candidates(blocks, take=32)
    expected = scores.float().topk(32, dim=1).values
    torch.testing.assert_close(scores.float().gather(1, pool).sort(dim=1, descending=True).values, expected)
    assert len({tuple(row) for row in pool.sort(dim=1).values.tolist()}) == 6  # distinct rows per query
    with pytest.raises(ValueError, match="fewer than the 32 candidates"):
        pool_candidates([(0, scores[:, :20])], take=32)


@pytest.mark.parametrize("shift", [0.0, -3.0])  # thresholds all non-negative (int16 path) or some negative
def test_comparable_scores_match_plain_comparisons(shift: float) -> None:
    generator = torch.Generator().manual_seed(2)
    groups = torch.randn(50, 20, 8, generator=generator).bfloat16()
    groups[0, 0] = -0.0  # signed zeros and infinities keep their order
    groups[1, 1] = float("-inf")
    threshold = (torch.rand(50, 1, generator=generator) * 2 + shift).bfloat16().float()
    threshold[3] = 0.0
    expected = groups.float() > threshold.unsqueeze(2)
    values, limit = _comparable(groups, threshold)
    assert torch.equal(values > limit.unsqueeze(2), expected)
    assert torch.equal(values.amax(dim=2) > limit, expected.any(dim=2))


def test_first_pool_equals_a_topk_over_the_whole_block() -> None:
    block = torch.randn(40, 1000, generator=torch.Generator().manual_seed(3)).bfloat16()  # 1000 = 15 x 64 + 40
    scores, columns = _first_pool(_grouped(block, 64), take=32)
    expected = block.float().topk(32, dim=1).values
    torch.testing.assert_close(scores, expected, rtol=0, atol=0)
    torch.testing.assert_close(block.float().gather(1, columns), scores, rtol=0, atol=0)  # bfloat16 ties may swap
    assert int(columns.max()) < 1000
