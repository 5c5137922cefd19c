from pathlib import Path

import pytest
import torch
from sklearn.metrics import f1_score, precision_recall_fscore_support

from unibind.datasets.text_files import ManifestError
from unibind.errors import InputError
from unibind.evaluation.classification import per_class, read_labels, zero_shot_manifest
from unibind.metrics.classification import accuracy_and_macro_f1

EMOJI = Path(__file__).parents[1] / "fixtures" / "emoji" / "corpus"


def test_scores_match_scikit_learn() -> None:
    generator = torch.Generator().manual_seed(3)
    target = torch.randint(0, 6, (300,), generator=generator)
    predicted = torch.where(torch.rand(300, generator=generator) < 0.5, target, torch.randint(0, 7, (300,)))
    ours = accuracy_and_macro_f1(predicted, target, 7)
    assert ours["macro_f1"] == pytest.approx(f1_score(target, predicted, average="macro"))
    classes = per_class(predicted, target, [str(c) for c in range(7)])
    precision, recall, f1, support = precision_recall_fscore_support(
        target, predicted, labels=list(range(7)), zero_division=0
    )
    for c in range(7):
        assert classes[str(c)]["precision"] == pytest.approx(100 * precision[c])
        assert classes[str(c)]["recall"] == pytest.approx(100 * recall[c])
        assert classes[str(c)]["f1"] == pytest.approx(100 * f1[c])
        assert classes[str(c)]["support"] == support[c]


def test_zero_shot_on_the_emoji_fixture(tiny_embedder) -> None:
    results = zero_shot_manifest(
        tiny_embedder.eval(), EMOJI / "items.jsonl", "image", "category", "an emoji of {}", progress=False
    )
    details = results["details"]
    assert details["items"] == 45
    assert len(details["classes"]) == 9
    confusion = torch.tensor(details["confusion"])
    assert int(confusion.sum()) == 45
    accuracy = results["rows"]["image zero-shot"]["accuracy"]
    assert accuracy == pytest.approx(100 * confusion.trace().item() / 45)
    assert details["prompts"][0] == "an emoji of Activities"


def test_missing_label_names_the_row(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "text": "x", "label": "cat"}\n{"id": "b", "text": "y"}\n')
    with pytest.raises(ManifestError, match=r"m.jsonl, row 2: field 'label'"):
        read_labels(manifest, "label")


@pytest.mark.parametrize(
    ("second_rows", "error", "message", "skipped", "classes"),
    [
        (b'{"id": "b", "image": "broken.png", "label": "tool"}\n', InputError, r"m\.jsonl, row 2", 1, ["face", "tool"]),
        (b'{"id": "b", "ima\n\xff\xfe\n', ManifestError, r"m\.jsonl, row 2: not valid JSON", 2, ["face"]),
    ],
    ids=["unreadable-image", "malformed-lines"],
)
def test_bad_rows_raise_or_are_skipped_and_counted(
    tiny_embedder, tmp_path: Path, second_rows: bytes, error: type, message: str, skipped: int, classes: list
) -> None:
    (tmp_path / "ok.png").write_bytes((EMOJI / "images" / "1f600.png").read_bytes())
    (tmp_path / "broken.png").write_bytes(b"not a png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b'{"id": "a", "image": "ok.png", "label": "face"}\n' + second_rows)
    with pytest.raises(error, match=message):
        zero_shot_manifest(tiny_embedder.eval(), manifest, "image", "label", "{}", progress=False)
    results = zero_shot_manifest(
        tiny_embedder.eval(), manifest, "image", "label", "{}", on_error="skip", progress=False
    )
    assert results["details"]["items"] == 1
    assert results["details"]["skipped"] == skipped
    assert results["details"]["classes"] == classes  # a row whose file fails still names its class


def test_spec_settings_reach_the_input_spec(tiny_embedder, tmp_path: Path) -> None:
    manifest = EMOJI / "test.jsonl"
    small = zero_shot_manifest(
        tiny_embedder.eval(), manifest, "image", "category", "{}", progress=False, spec_settings={"image_size": 48}
    )
    assert "image_size=48" in small["details"]["spec"]
    with pytest.raises(ValueError, match="takes no setting"):
        zero_shot_manifest(tiny_embedder.eval(), manifest, "image", "category", "{}", spec_settings={"size": 1})
