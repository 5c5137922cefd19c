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
