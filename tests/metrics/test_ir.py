"""nDCG@10, Recall@100 and MRR@10 agree with pytrec_eval (trec_eval) on the same runs, ties included."""

import random

import pytest

from unibind.metrics.ir import mean_metrics, per_query, ranked

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is not installed")


def _random_case(seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(150)]
    qrels, run = {}, {}
    for q in range(25):
        judged = rng.sample(docs, rng.randint(1, 6))
        qrels[f"q{q}"] = {d: rng.choice([0, 1, 2]) if i else rng.choice([1, 2]) for i, d in enumerate(judged)}
        retrieved = rng.sample(docs, rng.randint(0, 120))
        run[f"q{q}"] = {d: round(rng.random(), 1) for d in retrieved}  # coarse scores: many ties
    del run["q3"]  # a judged query the run missed entirely
    return run, qrels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_trec_eval(seed: int) -> None:
    run, qrels = _random_case(seed)
    ours = per_query(run, qrels)
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100"}).evaluate(run)
    cut = {q: dict(sorted(scores.items(), key=lambda p: (p[1], p[0]), reverse=True)[:10]) for q, scores in run.items()}
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    for query, metrics in ours.items():
        reference = full.get(query, {"ndcg_cut_10": 0.0, "recall_100": 0.0})
        assert metrics["ndcg@10"] == pytest.approx(reference["ndcg_cut_10"], abs=1e-9)
        assert metrics["recall@100"] == pytest.approx(reference["recall_100"], abs=1e-9)
        assert metrics["mrr@10"] == pytest.approx(mrr.get(query, {"recip_rank": 0.0})["recip_rank"], abs=1e-9)


def test_hand_computed_case() -> None:
    qrels = {"q": {"a": 2, "b": 1, "c": 0}}
    run = {"q": {"x": 0.9, "b": 0.8, "a": 0.8}}  # tie: "b" > "a" by doc id, so b is rank 2, a rank 3
    assert ranked(run["q"]) == ["x", "b", "a"]
    metrics = mean_metrics(run, qrels)
    dcg = 1 / 1.584962500721156 + 2 / 2.0
    idcg = 2 / 1.0 + 1 / 1.584962500721156
    assert metrics["ndcg@10"] == pytest.approx(dcg / idcg)
    assert metrics["recall@100"] == 1.0
    assert metrics["mrr@10"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no query has a relevant document"):
        mean_metrics(run, {"q": {"a": 0}})
