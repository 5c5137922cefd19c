"""E2Rank's prompt within a token budget, and a rerank that moves the relevant document up."""

import re
from pathlib import Path

import pytest
import torch

from unibind.rerank import E2RankReranker, build_prompt, share_budget


def test_share_budget_water_fills() -> None:
    assert share_budget([10, 100, 100], 90) == [10, 40, 40]
    assert share_budget([5, 5], 100) == [5, 5]
    assert share_budget([50, 60, 70], 30) == [10, 10, 10]
    assert sum(share_budget([300, 20, 45, 500], 200)) <= 200


@pytest.fixture
def tokenizer(tiny_bert_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_prompt_respects_the_budget_and_the_template(tokenizer) -> None:
    docs = [" ".join(["cat"] * n) for n in (40, 5, 80, 60)]
    prompt = build_prompt("the cat", docs, tokenizer, max_tokens=64, instruction="rank", min_doc_tokens=4)
    assert len(tokenizer(prompt.text)["input_ids"]) <= 64
    assert prompt.text.startswith("rank\nDocuments:\n[1] cat")
    assert prompt.text.endswith("Search Query:the cat")
    assert "[2] cat cat cat cat cat\n" in prompt.text  # the short document whole
    long_ones = [k for k, n in zip(prompt.kept_tokens, prompt.doc_tokens, strict=True) if k < n]
    assert len(set(long_ones)) == 1  # truncated documents share equally
    tight = build_prompt("the cat", docs, tokenizer, max_tokens=30, instruction="rank", min_doc_tokens=4)
    assert tight.included < 4  # not every document fits with 4 tokens each: the last ones are left out
    assert len(tokenizer(tight.text)["input_ids"]) <= 30
    with pytest.raises(ValueError, match="more than max_tokens"):
        build_prompt(" ".join(["the cat"] * 40), docs, tokenizer, max_tokens=16)


class BagOfWords(torch.nn.Module):
    """A stand-in encoder: counts of a few words (the tiny tokenizer builds the prompts)."""

    words = ("cat", "dog", "red", "the", "a")

    def __init__(self, tokenizer) -> None:
        super().__init__()
        self.tokenizer, self.max_length = tokenizer, 128

    def forward(self, texts: list[str]) -> torch.Tensor:
        counts = [re.findall(r"[a-z]+", text) for text in texts]
        return torch.tensor([[float(c.count(w)) + 0.01 for w in self.words] for c in counts])


def test_rerank_moves_the_relevant_document_up(tokenizer) -> None:
    encoder = BagOfWords(tokenizer)
    texts = ["dog dog", "cat cat", "red", "a dog"]
    ids = ["d0", "d1", "d2", "d3"]
    reranker = E2RankReranker(encoder, num_input_docs=3, rerank_depth=3, instruction="rank")
    ranked = reranker.rerank("cat", ids, texts, encoder(texts))
    # the prompt holds "dog" twice and "cat" three times (twice in d1, once in the query): the enhanced
    # query leans to cat, and the cat document moves from second to first
    assert [doc for doc, _ in ranked][:2] == ["d1", "d0"]
    assert ranked[-1][0] == "d3"  # beyond the depth: first-stage order, after the reranked ones
    assert ranked[-1][1] < min(score for _, score in ranked[:3])


@pytest.fixture
def tiny_text_encoder(tiny_bert_dir: Path):
    from unibind.encoders import HFTextEncoder

    return HFTextEncoder(str(tiny_bert_dir), pooling="mean", max_length=128).lock().eval()


def _lists(seed: int, queries: int = 7) -> tuple[list[str], list[list[str]], list[list[str]]]:
    generator = torch.Generator().manual_seed(seed)
    words = ["cat", "dog", "red", "blue", "fish", "bird", "tree", "car", "house", "river"]
    pick = lambda k: " ".join(words[int(i)] for i in torch.randint(0, len(words), (k,), generator=generator))  # noqa: E731
    texts = [[pick(3 + 4 * (j % 5)) for j in range(12)] for _ in range(queries)]
    return [pick(2) for _ in range(queries)], [[f"q{i}d{j}" for j in range(12)] for i in range(queries)], texts


def test_batched_reranking_equals_one_query_at_a_time(tiny_text_encoder) -> None:
    queries, candidates, texts = _lists(0)
    embeddings = [tiny_text_encoder(t) for t in texts]
    single = E2RankReranker(tiny_text_encoder, num_input_docs=5, rerank_depth=10, batch_size=1)
    batched = E2RankReranker(tiny_text_encoder, num_input_docs=5, rerank_depth=10, batch_size=4)
    one_by_one = [single.rerank(q, c, t, e) for q, c, t, e in zip(queries, candidates, texts, embeddings, strict=True)]
    together = batched.rerank_many(queries, candidates, texts, embeddings)
    for alone, grouped in zip(one_by_one, together, strict=True):
        assert [doc for doc, _ in alone] == [doc for doc, _ in grouped]
        torch.testing.assert_close(torch.tensor([s for _, s in alone]), torch.tensor([s for _, s in grouped]))


def test_interpolation_scores_are_the_weighted_cosines(tiny_text_encoder) -> None:
    """a * cos(query, doc) + (1 - a) * cos(prompt, doc), checked against a naive computation."""
    queries, candidates, texts = _lists(1, queries=2)
    embeddings = [tiny_text_encoder(t) for t in texts]
    query_vectors = tiny_text_encoder(queries)
    reranker = E2RankReranker(tiny_text_encoder, num_input_docs=5, rerank_depth=12, interpolation=0.3)
    ranked = reranker.rerank_many(queries, candidates, texts, embeddings, query_vectors)
    for i, pairs in enumerate(ranked):
        prompt = tiny_text_encoder([reranker.prompt(queries[i], texts[i]).text])[0]
        cosine = torch.nn.functional.cosine_similarity
        expected = {
            doc: float(0.3 * cosine(query_vectors[i], e, dim=0) + 0.7 * cosine(prompt, e, dim=0))
            for doc, e in zip(candidates[i], embeddings[i], strict=True)
        }
        assert [doc for doc, _ in pairs] == sorted(expected, key=lambda d: -expected[d])
        assert dict(pairs) == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="interpolation must lie in"):
        E2RankReranker(tiny_text_encoder, interpolation=1.5)


def test_cached_prompts_embed_each_prompt_once(tiny_text_encoder) -> None:
    calls = []

    class Counting(torch.nn.Module):
        tokenizer, max_length = tiny_text_encoder.tokenizer, tiny_text_encoder.max_length

        def forward(self, batch: list[str]) -> torch.Tensor:
            calls.append(len(batch))
            return tiny_text_encoder(batch)

    queries, candidates, texts = _lists(2, queries=3)
    embeddings = [tiny_text_encoder(t) for t in texts]
    reranker = E2RankReranker(Counting(), num_input_docs=4, cache_prompts=True)
    first = reranker.rerank_many(queries, candidates, texts, embeddings)
    assert reranker.rerank_many(queries, candidates, texts, embeddings) == first
    assert sum(calls) == 3
