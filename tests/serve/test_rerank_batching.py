"""Concurrent rerank requests share one rerank_many call and each gets the ranking it would get alone."""

import threading
import time
from pathlib import Path

import pytest
import torch

from unibind.rerank import E2RankReranker
from unibind.serve.rerank_batching import BatchingReranker


@pytest.fixture
def reranker(tiny_bert_dir: Path) -> E2RankReranker:
    from unibind.encoders import HFTextEncoder

    encoder = HFTextEncoder(str(tiny_bert_dir), pooling="mean", max_length=128).lock().eval()
    return E2RankReranker(encoder, num_input_docs=3, batch_size=8)


def _request(i: int) -> tuple[str, list[str], list[str], torch.Tensor]:
    words = ["cat", "dog", "red", "blue", "food", "park", "man", "movie"]
    texts = [f"{words[(i + j) % 8]} {words[(3 * i + j) % 8]} {words[j % 8]}" for j in range(6)]
    vectors = torch.nn.functional.normalize(torch.randn(6, 32, generator=torch.Generator().manual_seed(i)), dim=-1)
    return f"the {words[i % 8]}", [f"q{i}d{j}" for j in range(6)], texts, vectors


def _wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_requests_queued_while_the_model_is_busy_go_through_together(reranker: E2RankReranker) -> None:
    lock = threading.Lock()
    batcher = BatchingReranker(reranker, lock)
    requests = [_request(i) for i in range(5)]
    alone = [reranker.rerank(*request) for request in requests]
    results: dict[int, list] = {}
    threads = [threading.Thread(target=lambda i=i: results.update({i: batcher.rerank(*requests[i])})) for i in range(5)]
    with lock:  # the model is busy: every request queues
        for thread in threads:
            thread.start()
        _wait_for(lambda: batcher.pending() == 5)
    for thread in threads:
        thread.join(30)
    assert batcher.batch_sizes == [5]
    for i in range(5):
        assert [doc for doc, _ in results[i]] == [doc for doc, _ in alone[i]]
        assert [s for _, s in results[i]] == pytest.approx([s for _, s in alone[i]], abs=1e-5)
    assert batcher.rerank(*requests[0]) == results[0]
    assert batcher.batch_sizes == [5, 1]


def test_batches_are_capped_and_errors_reach_every_request(reranker: E2RankReranker) -> None:
    lock = threading.Lock()
    batcher = BatchingReranker(reranker, lock, max_batch=2)
    outcomes: dict[int, object] = {}

    def call(i: int, bad: bool) -> None:
        query, ids, texts, vectors = _request(i)
        try:
            outcomes[i] = batcher.rerank(query, ids, texts, vectors[:, :16] if bad else vectors)
        except Exception as err:
            outcomes[i] = err

    threads = [threading.Thread(target=call, args=(i, i == 0)) for i in range(5)]
    with lock:
        for thread in threads:
            thread.start()
        _wait_for(lambda: batcher.pending() == 5)
    for thread in threads:
        thread.join(30)
    assert sorted(batcher.batch_sizes) == [1, 2]  # the batch with the bad request failed as a whole
    failed = [i for i, outcome in outcomes.items() if isinstance(outcome, Exception)]
    assert 0 in failed
    assert len(failed) == 2
    assert len(outcomes) == 5
