import pytest
import torch

from unibind.evaluation import label_prompts, zero_shot_predict
from unibind.metrics.classification import accuracy_and_macro_f1


def naive_macro_f1(predicted, target):
    classes = sorted(set(predicted) | set(target))
    scores = []
    for c in classes:
        tp = sum(p == c and t == c for p, t in zip(predicted, target, strict=True))
        fp = sum(p == c and t != c for p, t in zip(predicted, target, strict=True))
        fn = sum(p != c and t == c for p, t in zip(predicted, target, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def test_prompts() -> None:
    assert label_prompts(["dog", "rain"], "the sound of {}") == ["the sound of dog", "the sound of rain"]
    with pytest.raises(ValueError, match="must contain"):
        label_prompts(["dog"], "no slot")


def test_nearest_label_wins() -> None:
    labels = torch.eye(3)
    items = torch.nn.functional.normalize(torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.1, 0.7, 0.7]]), dim=-1)
    assert zero_shot_predict(items, labels).tolist() == [0, 2, 1]


@pytest.mark.parametrize("seed", range(5))
def test_metrics_against_naive_reference(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 4, (40,), generator=g)
    predicted = torch.where(torch.rand(40, generator=g) < 0.6, target, torch.randint(0, 4, (40,), generator=g))
    out = accuracy_and_macro_f1(predicted, target, 4)
    assert out["accuracy"] == pytest.approx((predicted == target).float().mean().item())
    assert out["macro_f1"] == pytest.approx(naive_macro_f1(predicted.tolist(), target.tolist()))
