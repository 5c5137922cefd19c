"""TMR's protocols on hand-computed similarity matrices, and against a naive sort-based reference."""

import numpy as np
import pytest
import torch

from unibind.evaluation.motion_retrieval import (
    both_directions,
    guo_batches,
    ranks_of_right_answers,
    recall_and_median_rank,
    retrieval_protocols,
)

SIMS = torch.tensor([[0.9, 0.1, 0.3], [0.2, 0.5, 0.8], [0.4, 0.4, 0.7]])


def test_hand_computed_ranks_and_metrics() -> None:
    assert ranks_of_right_answers(SIMS).tolist() == [0, 1, 0]  # row 1: 0.8 beats the paired 0.5
    assert ranks_of_right_answers(SIMS.T).tolist() == [0, 0, 1]
    metrics = both_directions(SIMS)
    assert metrics["t2m/R01"] == pytest.approx(200 / 3)
    assert metrics["t2m/R02"] == 100.0
    assert metrics["t2m/MedR"] == 1.0
    assert metrics["m2t/R01"] == pytest.approx(200 / 3)


def test_ties_share_the_average_position() -> None:
    tied = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.9, 0.9], [0.0, 0.0, 1.0]])
    assert ranks_of_right_answers(tied).tolist() == [1.0, 0.5, 0.0]
    metrics = recall_and_median_rank(ranks_of_right_answers(tied))
    assert metrics["R01"] == pytest.approx(200 / 3)  # ranks 0.5 and 0.0 are below 1
    assert metrics["R02"] == 100.0
    assert metrics["MedR"] == 1.5


def test_threshold_counts_near_identical_captions_as_right() -> None:
    text_similarity = torch.eye(3)
    text_similarity[1, 2] = text_similarity[2, 1] = 0.95  # above 2 * 0.95 - 1 = 0.9
    plain = both_directions(SIMS)
    relaxed = both_directions(SIMS, text_similarity, threshold=0.95)
    assert plain["t2m/R01"] == pytest.approx(200 / 3)
    assert relaxed["t2m/R01"] == 100.0  # text 1's best motion (2) has a near-identical caption
    assert both_directions(SIMS, text_similarity, threshold=0.99)["t2m/R01"] == pytest.approx(200 / 3)
    with pytest.raises(ValueError, match="text_similarity"):
        both_directions(SIMS, None, threshold=0.95)


def _naive_rank(row: list[float], right: set[int]) -> float:
    best = max(row[j] for j in right)
    order = sorted(range(len(row)), key=lambda j: -row[j])
    positions = [p for p, j in enumerate(order) if row[j] == best]
    return sum(positions) / len(positions)


def test_ranks_match_a_naive_sort_with_ties() -> None:
    generator = torch.Generator().manual_seed(0)
    sims = (torch.rand(40, 40, generator=generator) * 8).round() / 8  # many ties
    relevant = torch.rand(40, 40, generator=generator) > 0.9
    relevant |= torch.eye(40, dtype=torch.bool)
    got = ranks_of_right_answers(sims, relevant)
    expected = [_naive_rank(sims[i].tolist(), set(torch.nonzero(relevant[i]).flatten().tolist())) for i in range(40)]
    assert got.tolist() == pytest.approx(expected)
    ranks = torch.tensor(expected)
    assert recall_and_median_rank(ranks)["MedR"] == pytest.approx(float(np.median(expected)) + 1)


def test_guo_batches_follow_numpys_seeded_shuffle() -> None:
    batches = guo_batches(70, 32)
    assert [len(b) for b in batches] == [32, 32]  # the 6 left over are dropped
    np.random.seed(0)
    reference = np.arange(70)
    np.random.shuffle(reference)
    assert np.array_equal(np.concatenate(batches), reference[:64])


def test_protocols_together() -> None:
    torch.manual_seed(0)
    texts = torch.nn.functional.normalize(torch.randn(64, 8), dim=1)
    motions = torch.nn.functional.normalize(texts + 0.01 * torch.randn(64, 8), dim=1)
    results = retrieval_protocols(texts, motions, texts @ texts.T)
    assert set(results) == {"all", "threshold_0.95", "guo"}
    assert results["all"]["t2m/R01"] == 100.0
    assert results["guo"]["m2t/R10"] == 100.0
    with pytest.raises(ValueError, match="unknown protocols"):
        retrieval_protocols(texts, motions, protocols=("nsim",))
