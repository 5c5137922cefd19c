import pytest
import torch

from unibind.metrics.ranking import average_precision_at_k, cross_modal_recall, recall_at_k


def naive_recall(similarity, relevant, k):
    hits = 0
    for i in range(similarity.shape[0]):
        # pessimistic tie-breaking: irrelevant items come first among equal scores
        order = sorted(range(similarity.shape[1]), key=lambda j: (-float(similarity[i, j]), bool(relevant[i, j])))
        hits += any(relevant[i, j] for j in order[:k])
    return hits / similarity.shape[0]


def test_hand_computed_example() -> None:
    similarity = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.7, 0.6, 0.1]])
    relevant = torch.eye(3, dtype=torch.bool)
    # query 0: rank 1; query 1: item 1 is second; query 2: item 2 is third
    assert recall_at_k(similarity, relevant, ks=(1, 2, 3)) == {"R@1": 1 / 3, "R@2": 2 / 3, "R@3": 1.0}


@pytest.mark.parametrize("seed", range(5))
def test_against_naive_reference_with_ties_and_groups(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    similarity = torch.randint(0, 4, (12, 15), generator=g).float()  # many ties
    relevant = torch.rand(12, 15, generator=g) < 0.2
    relevant[torch.arange(12), torch.randint(0, 15, (12,), generator=g)] = True
    ours = recall_at_k(similarity, relevant, ks=(1, 3, 5, 20))
    for k in (1, 3, 5, 20):
        assert ours[f"R@{k}"] == pytest.approx(naive_recall(similarity, relevant, k))


def test_constant_scores_do_not_look_good() -> None:
    assert recall_at_k(torch.zeros(4, 4), torch.eye(4, dtype=torch.bool), ks=(1,))["R@1"] == 0.0


def test_errors() -> None:
    with pytest.raises(ValueError, match="differ"):
        recall_at_k(torch.zeros(2, 3), torch.zeros(3, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at_k(torch.zeros(2, 2), torch.tensor([[True, False], [False, False]]))


def test_cross_modal_recall_uses_groups() -> None:
    items = torch.eye(3)
    queries = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    out = cross_modal_recall(queries, items, torch.tensor([5, 7]), torch.tensor([7, 5, 9]), ks=(1,))
    assert out["R@1"] == 1.0


def test_chunked_cross_modal_recall_equals_one_shot() -> None:
    g = torch.Generator().manual_seed(3)
    query = torch.nn.functional.normalize(torch.randn(50, 8, generator=g), dim=-1)
    items = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=-1)
    query_groups, item_groups = torch.randint(0, 10, (50,), generator=g), torch.arange(30) % 10
    one_shot = recall_at_k(query @ items.T, query_groups.view(-1, 1) == item_groups.view(1, -1))
    assert cross_modal_recall(query, items, query_groups, item_groups, chunk_size=7) == one_shot


def naive_ap_at_k(similarity, relevant, k):
    total = 0.0
    for i in range(similarity.shape[0]):
        order = sorted(range(similarity.shape[1]), key=lambda j: (-float(similarity[i, j]), bool(relevant[i, j])))
        hits, score = 0, 0.0
        for position, j in enumerate(order[:k], start=1):
            if relevant[i, j]:
                hits += 1
                score += hits / position
        total += score / min(int(relevant[i].sum()), k)
    return total / similarity.shape[0]


def test_map_at_10_hand_computed() -> None:
    similarity = torch.tensor([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]])
    relevant = torch.tensor([[False, True, False], [True, False, True]])
    # query 0: relevant at rank 2 -> 1/2; query 1: relevant at ranks 1 and 3 -> (1/1 + 2/3) / 2
    expected = (0.5 + (1 + 2 / 3) / 2) / 2
    assert average_precision_at_k(similarity, relevant, k=10) == pytest.approx(expected)
    assert average_precision_at_k(similarity, relevant, k=1) == pytest.approx((0 + 1) / 2)


@pytest.mark.parametrize("seed", range(4))
def test_map_against_naive_reference_with_ties(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    similarity = torch.randint(0, 5, (10, 30), generator=g).float() / 4
    relevant = torch.rand(10, 30, generator=g) < 0.15
    relevant[torch.arange(10), torch.randint(0, 30, (10,), generator=g)] = True
    for k in (1, 5, 10):
        assert average_precision_at_k(similarity, relevant, k) == pytest.approx(naive_ap_at_k(similarity, relevant, k))


@pytest.mark.parametrize("seed", range(3))
def test_map_from_ranks_equals_average_precision_with_one_relevant(seed: int) -> None:
    from unibind.metrics.ranking import best_relevant_rank, map_from_ranks

    g = torch.Generator().manual_seed(seed)
    similarity = torch.randint(0, 6, (20, 25), generator=g).float()
    relevant = torch.zeros(20, 25, dtype=torch.bool)
    relevant[torch.arange(20), torch.randint(0, 25, (20,), generator=g)] = True
    ranks = best_relevant_rank(similarity, relevant)
    for k in (1, 5, 10):
        assert map_from_ranks(ranks, k) == pytest.approx(average_precision_at_k(similarity, relevant, k))
