"""int8 candidate scoring: quantisation by hand, oneDNN's scores against a float64 reference, exact results."""

import pytest
import torch

from unibind.retrieval import VectorIndex
from unibind.retrieval.int8 import Int8Rows, int8_available, quantize_queries, quantize_rows
from unibind.retrieval.topk import rescore

needs_int8 = pytest.mark.skipif(not int8_available(), reason="this CPU has no int8 dot-product instructions")


def _unit(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_rows_are_quantised_symmetrically_with_one_scale_each() -> None:
    vectors = torch.tensor([[0.5, -0.25, 0.0], [-2.0, 1.0, 0.01], [0.0, 0.0, 0.0]])
    values, scales = quantize_rows(vectors)
    assert values.dtype == torch.int8
    assert values[0].tolist() == [127, -64, 0]  # -0.25 / (0.5 / 127) = -63.5 rounds to even
    assert values[1].tolist() == [-127, 64, 1]  # 0.01 / (2 / 127) = 0.635
    assert values[2].tolist() == [0, 0, 0]  # a zero row stays zero, no division by zero
    torch.testing.assert_close(scales[:2], torch.tensor([0.5, 2.0]) / 127)
    error = (values.float() * scales.unsqueeze(1) - vectors).abs()
    assert bool((error <= scales.unsqueeze(1) / 2 + 1e-7).all())


def test_queries_are_scaled_to_a_peak_of_one_around_zero_point_128() -> None:
    quantized = quantize_queries(torch.tensor([[0.2, -0.1, 0.05], [-3.0, 0.0, 3.0]]))
    assert quantized.dtype == torch.uint8
    assert quantized.tolist() == [[255, 64, 160], [1, 128, 255]]  # 128 + round(127 * q / max|q|)


@needs_int8
def test_int8_scores_equal_a_float64_reference_in_every_chunk() -> None:
    items, queries = _unit(3000, 48, 0), _unit(5, 48, 1)
    rows = Int8Rows(items, chunk_size=1024)  # chunks of 1024, 1024 and 952
    values, scales = quantize_rows(items)
    dequantized_items = values.double() * scales.double().unsqueeze(1)
    dequantized_queries = (quantize_queries(queries).double() - 128) / 127
    reference = dequantized_queries @ dequantized_items.T
    starts = []
    for start, block in rows.blocks(queries):
        starts.append(start)
        assert block.dtype == torch.bfloat16
        expected = reference[:, start : start + block.shape[1]]
        torch.testing.assert_close(block.double(), expected, rtol=2**-8, atol=1e-6)  # bfloat16 rounding
    assert starts == [0, 1024, 2048]
    peak = queries.abs().amax(dim=1, keepdim=True)
    assert float((reference * peak.double() - queries.double() @ items.double().T).abs().max()) < 0.02
    assert rows.nbytes == 3000 * (48 + 4)


@needs_int8
@pytest.mark.parametrize("num_queries", [1, 12])
def test_int8_candidates_rescored_equal_a_full_sort(num_queries: int) -> None:
    items, queries = _unit(20000, 64, 2).half(), _unit(num_queries, 64, 3)
    reference = torch.sort(queries @ items.float().T, dim=1, descending=True)
    for chunk_size in (16384, 1000):
        candidates = Int8Rows(items, chunk_size=chunk_size).candidates(queries, take=32)
        scores, indices = rescore(queries, items, candidates, k=10)
        torch.testing.assert_close(scores, reference.values[:, :10])
        assert torch.equal(indices, reference.indices[:, :10])


@needs_int8
def test_int8_rows_of_a_subset_equal_those_of_the_gathered_rows() -> None:
    items, queries = _unit(900, 24, 6), _unit(4, 24, 7)
    rows = torch.arange(1, 900, 2)
    subset, gathered = Int8Rows(items, rows, chunk_size=100), Int8Rows(items[rows], chunk_size=100)
    for (start_a, a), (start_b, b) in zip(subset.blocks(queries), gathered.blocks(queries), strict=True):
        assert start_a == start_b
        assert torch.equal(a, b)
    assert subset.num_rows == 450


def test_int8_rows_refuse_an_empty_matrix() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Int8Rows(torch.empty(0, 8))
    with pytest.raises(ValueError, match="0 rows"):
        Int8Rows(torch.ones(5, 8), torch.empty(0, dtype=torch.long))


@pytest.mark.parametrize("scoring", ["auto", "bfloat16", "float32", pytest.param("int8", marks=needs_int8)])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_every_scoring_returns_the_exact_top_k_per_modality(scoring: str, dtype: str) -> None:
    items, queries = _unit(6000, 32, 4), _unit(8, 32, 5)
    modalities = ["image" if i % 3 else "text" for i in range(len(items))]
    index = VectorIndex(32, dtype=dtype, scoring=scoring)  # type: ignore[arg-type]
    index.add([f"i{i}" for i in range(len(items))], items, modalities)
    stored = index.vectors.float()
    for wanted in (None, ["text"], ["image", "text"], ["audio", "image"]):
        mask = torch.tensor([wanted is None or m in wanted for m in modalities])
        scores = (queries @ stored.T).masked_fill(~mask, float("-inf"))
        for batch in (queries, queries[:1]):
            expected = scores[: len(batch)].topk(10, dim=1)
            result = index.search(batch, 10, modalities=wanted)
            assert torch.equal(result.indices, expected.indices), (wanted, len(batch))
            torch.testing.assert_close(result.scores, expected.values)
    assert index.search(queries, 3, modalities=["audio"]).ids == [[None] * 3] * len(queries)
    stored_bytes = 6000 * 32 * (4 if dtype == "float32" else 2)
    copy_bytes = {"int8": 6000 * (32 + 4), "bfloat16": 6000 * 32 * 2 if dtype == "float32" else 0, "float32": 0}
    assert index.nbytes == stored_bytes + copy_bytes[index.backend.scoring]


def test_int8_is_refused_where_the_cpu_lacks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import unibind.retrieval.backends.exact as module

    monkeypatch.setattr(module, "int8_available", lambda: False)
    with pytest.raises(ValueError, match="int8 dot-product instructions"):
        VectorIndex(8, scoring="int8")
    assert VectorIndex(8).backend.scoring == "bfloat16"  # auto falls back
    with pytest.raises(ValueError, match="scoring must be"):
        VectorIndex(8, scoring="int4")  # type: ignore[arg-type]
