import json
from pathlib import Path

import pytest

from unibind.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures"
EMOJI = FIXTURES / "emoji" / "corpus"


@pytest.fixture
def model_dir(tiny_embedder, tmp_path: Path) -> Path:
    tiny_embedder.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_mmeb_writes_its_manifest_and_table(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mmeb = tmp_path / "mmeb.json"
    assert main(["eval", "mmeb", "--data", str(FIXTURES / "mmeb"), "--model", str(model_dir), "--out", str(mmeb)]) == 0
    record = json.loads(mmeb.read_text())
    assert record["benchmark"] == "mmeb"
    assert record["command"].startswith("unibind eval mmeb --data")
    assert list(record["details"]["datasets"]) == ["ImageNet-1K", "OK-VQA", "MSCOCO_i2t", "MSCOCO_t2i", "RefCOCO"]
    assert record["data"]["files"] > 40
    assert record["model"]["weights"]["files"] == 1
    assert 0.0 <= record["rows"]["Overall"]["precision@1"] <= 100.0
    assert "| **Overall** (mean of 5)" in capsys.readouterr().out


def test_xtd_on_the_exported_emoji_split_and_compare(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = ["data", "export-xtd", "--corpus", str(EMOJI), "--split", "train", "--out", str(tmp_path / "xtd")]
    assert main(export) == 0
    xtd = tmp_path / "xtd.json"
    languages = ["--languages", "en", "de"]
    assert (
        main(["eval", "xtd", "--data", str(tmp_path / "xtd"), "--model", str(model_dir), *languages, "--out", str(xtd)])
        == 0
    )
    rows = json.loads(xtd.read_text())["rows"]
    assert set(rows) == {f"{d} {x}" for d in ("text->image", "image->text") for x in ("en", "de", "mean")} | {
        "caption->en de",
        "caption->en mean",
    }

    capsys.readouterr()
    assert main(["eval", "compare", str(xtd), str(xtd)]) == 0
    assert "| text->image en | R@1 |" in capsys.readouterr().out


def test_zeroshot_with_and_without_spec_settings(model_dir: Path, tmp_path: Path) -> None:
    zero = tmp_path / "zero.json"
    manifest = EMOJI / "items.jsonl"
    assert main(argv_zero(manifest, model_dir, zero)) == 0
    assert json.loads(zero.read_text())["details"]["items"] == 45
    assert main([*argv_zero(manifest, model_dir, zero), "--spec", "image_size=40", "background=[0, 0, 0]"]) == 0
    assert "image_size=40, background=(0, 0, 0)" in json.loads(zero.read_text())["details"]["spec"]


def argv_zero(manifest: Path, model_dir: Path, out: Path) -> list[str]:
    image = ["--model", str(model_dir), "--modality", "image", "--label-field", "category"]
    return ["eval", "zeroshot", "--manifest", str(manifest), *image, "--out", str(out)]


def test_default_manifest_path(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        main(["eval", "mmeb", "--data", str(FIXTURES / "mmeb"), "--model", str(model_dir), "--datasets", "OK-VQA"]) == 0
    )
    written = list((tmp_path / "runs" / "eval").glob("mmeb-*.json"))
    assert len(written) == 1
