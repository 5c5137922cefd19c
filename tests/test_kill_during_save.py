"""A saver process SIGKILLed at random moments, 20 times for an index and 20 for a model: every load afterwards
gives exactly version A or exactly version B, never a mix and never an error."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.kill_saver import build_indexes, build_models, same_index, same_model

from unibind.atomic import PENDING_NAME, STAGE_PREFIX
from unibind.embedder import UnifiedEmbedder
from unibind.retrieval import VectorIndex

HELPER = Path(__file__).with_name("kill_saver.py")
ROUNDS = 20

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="needs fork and SIGKILL")


class Saver:
    """The fork server of ``tests/kill_saver.py`` and the lines it prints."""

    def __init__(self, bert_dir: Path, log: Path) -> None:
        self.log = log
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen(
            [sys.executable, str(HELPER), str(bert_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put("")  # end of output

    def expect(self, word: str, timeout: float) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = "(nothing)"
        if not line.startswith(word):
            raise AssertionError(f"expected {word!r} from the saver, got {line!r}; its stderr:\n{self.log.read_text()}")
        return line.removeprefix(word).strip()

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _kill_rounds(saver: Saver, kind: str, directory: Path, rng: random.Random, load, versions, same) -> dict:
    stats = {"A": 0, "B": 0, "after commit": 0, "mid write": 0, "seconds": 0.0}
    start = time.perf_counter()
    for round_ in range(ROUNDS):
        saver.send(f"{kind} {directory}")
        pid = int(saver.expect("started", timeout=30))
        save_seconds = float(saver.expect("saved", timeout=60))
        time.sleep(rng.uniform(0, 3 * save_seconds))  # within the next one or two saves
        os.kill(pid, signal.SIGKILL)
        status = int(saver.expect("reaped", timeout=30))
        assert os.WIFSIGNALED(status), f"the saver ended by itself (status {status}); see {saver.log}"
        assert os.WTERMSIG(status) == signal.SIGKILL
        stats["after commit"] += (directory / PENDING_NAME).is_dir()
        stats["mid write"] += any(p.name.startswith(STAGE_PREFIX) for p in directory.iterdir())
        loaded = load(directory)
        matches = [name for name, version in zip("AB", versions, strict=True) if same(loaded, version)]
        assert len(matches) == 1, f"round {round_}: the {kind} loaded after the kill is neither version A nor B"
        stats[matches[0]] += 1
    stats["seconds"] = round(time.perf_counter() - start, 2)
    return stats


def test_sigkill_during_saves_leaves_exactly_the_old_or_the_new_version(tiny_bert_dir: Path, tmp_path: Path) -> None:
    rng = random.Random(20)
    started = time.perf_counter()
    saver = Saver(tiny_bert_dir, tmp_path / "saver.log")
    try:
        indexes, models = build_indexes(), build_models(tiny_bert_dir)
        saver.expect("ready", timeout=180)
        ready = time.perf_counter() - started
        index_stats = _kill_rounds(saver, "index", tmp_path / "index", rng, VectorIndex.load, indexes, same_index)
        model_stats = _kill_rounds(
            saver, "model", tmp_path / "model", rng, UnifiedEmbedder.from_pretrained, models, same_model
        )
    finally:
        saver.close()
    print(f"\nsaver ready after {ready:.1f} s; index: {index_stats}; model: {model_stats}")
    # a clean save afterwards finishes or removes whatever the kills left
    for directory, version in ((tmp_path / "index", indexes[1]), (tmp_path / "model", models[1])):
        version.save(directory) if isinstance(version, VectorIndex) else version.save_pretrained(directory)
        assert not [p.name for p in directory.iterdir() if p.name.startswith(".")]
    assert same_index(VectorIndex.load(tmp_path / "index"), indexes[1])
    assert same_model(UnifiedEmbedder.from_pretrained(tmp_path / "model"), models[1])
