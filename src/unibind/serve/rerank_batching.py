"""Batched E2Rank reranking for a server: concurrent requests share forward passes.

Requests arrive on a thread pool. Each one queues its rerank and waits for the model; whichever request gets
the model next embeds the prompts of every request queued by then (up to ``max_batch``) in one
:meth:`~unibind.rerank.E2RankReranker.rerank_many` call and hands each request its ranking. A request alone
never waits for company (no batching delay); under load, the requests that queued while the model was busy
go through together, which is where a GPU gains most.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class _Request:
    query: str
    ids: Sequence[str]
    texts: Sequence[str]
    vectors: torch.Tensor
    done: threading.Event = field(default_factory=threading.Event)
    ranked: list[tuple[str, float]] | None = None
    error: BaseException | None = None


class BatchingReranker:
    """Coalesces concurrent :meth:`rerank` calls into :meth:`~unibind.rerank.E2RankReranker.rerank_many` calls.

    Args:
        reranker: an :class:`~unibind.rerank.E2RankReranker`.
        model_lock: held around every model call (the server's other model calls take it too).
        max_batch: most queries per call (default: the reranker's ``batch_size``).
    """

    def __init__(self, reranker, model_lock: threading.Lock, max_batch: int | None = None) -> None:
        self.reranker, self.model_lock = reranker, model_lock
        self.max_batch = max_batch or reranker.batch_size
        self._queue: list[_Request] = []
        self._queue_lock = threading.Lock()
        self.batch_sizes: list[int] = []  # queries per rerank_many call, for tests and statistics

    def pending(self) -> int:
        """Requests queued and not yet taken by a model call."""
        with self._queue_lock:
            return len(self._queue)

    def rerank(
        self, query: str, ids: Sequence[str], texts: Sequence[str], vectors: torch.Tensor
    ) -> list[tuple[str, float]]:
        """What ``reranker.rerank(query, ids, texts, vectors)`` returns, computed with other waiting queries."""
        request = _Request(query, ids, texts, vectors)
        with self._queue_lock:
            self._queue.append(request)
        while not request.done.is_set():
            with self.model_lock:
                if request.done.is_set():  # another request's call took this one along
                    break
                with self._queue_lock:
                    batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._run(batch)
        if request.error is not None:
            raise request.error
        assert request.ranked is not None
        return request.ranked

    def _run(self, batch: list[_Request]) -> None:
        try:
            rankings = self.reranker.rerank_many(
                [r.query for r in batch], [r.ids for r in batch], [r.texts for r in batch], [r.vectors for r in batch]
            )
            self.batch_sizes.append(len(batch))
        except BaseException as err:  # every request of the batch gets the error, none waits forever
            for request in batch:
                request.error = err
                request.done.set()
            return
        for request, ranked in zip(batch, rankings, strict=True):
            request.ranked = ranked
            request.done.set()
