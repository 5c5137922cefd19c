"""Saver processes for tests/test_kill_during_save.py, and the two versions of an index and a model they save.

Run as ``python tests/kill_saver.py BERT_DIR``: imports unibind once (seconds), builds both versions, prints
``ready``, then for each line ``index DIR`` / ``model DIR`` on stdin forks a saver. The saver prints
``started PID``, saves version A, B, A, ... into DIR without end and prints ``saved SECONDS`` once the first
save is complete; the test kills it with SIGKILL. This process then prints ``reaped STATUS`` (``os.waitpid``'s
status) and waits for the next line. Forking a ready process keeps 40 kills within seconds: a fresh
interpreter would spend most of each round importing torch and the encoders.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import torch

from unibind.alignment import DenseAligner, MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, HFTextEncoder, OpenClipTextEncoder
from unibind.retrieval import VectorIndex


def build_indexes() -> tuple[VectorIndex, VectorIndex]:
    """Version A: 4000 float32 text items ``a*``; version B: 3000 float16 image items ``b*``, float32 scoring."""
    generator = torch.Generator().manual_seed(1)
    a = VectorIndex(32)
    a.add([f"a{i}" for i in range(4000)], torch.randn(4000, 32, generator=generator), "text")
    b = VectorIndex(32, dtype="float16", scoring="float32")
    b.add([f"b{i}" for i in range(3000)], torch.randn(3000, 32, generator=generator), "image")
    return a, b


def build_models(bert_dir: Path) -> tuple[UnifiedEmbedder, UnifiedEmbedder]:
    """Version A: a tiny open_clip text tower, dense aligner; version B: a tiny BERT (with assets), MoE aligner."""
    torch.manual_seed(2)
    a = UnifiedEmbedder({"text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)}, 16, DenseAligner(16))
    b = UnifiedEmbedder({"text": HFTextEncoder(str(bert_dir))}, 16, MoEAligner(16, num_experts=2, top_k=1))
    return a.eval(), b.eval()


def same_index(loaded: VectorIndex, reference: VectorIndex) -> bool:
    return (
        (loaded.dim, loaded.backend.name, loaded.options) == (reference.dim, reference.backend.name, reference.options)
        and loaded.ids == reference.ids
        and loaded.modalities == reference.modalities
        and loaded.vectors.dtype == reference.vectors.dtype
        and torch.equal(loaded.vectors, reference.vectors)
    )


def same_model(loaded: UnifiedEmbedder, reference: UnifiedEmbedder, text: str = "a red circle") -> bool:
    """Same classes, sizes, every tensor, and the same embedding of ``text`` (a BERT's tokenizer is an asset)."""
    classes = [type(loaded.encoders["text"]), type(loaded.aligner), loaded.embed_dim, loaded.head_hidden_dim]
    if classes != [type(reference.encoders["text"]), type(reference.aligner), reference.embed_dim,
                   reference.head_hidden_dim]:  # fmt: skip
        return False
    ours, theirs = loaded.state_dict(), reference.state_dict()
    if ours.keys() != theirs.keys() or not all(torch.equal(ours[key], theirs[key]) for key in ours):
        return False
    with torch.no_grad():
        return torch.equal(loaded({"text": [text]})["text"], reference({"text": [text]})["text"])


def _save_forever(versions: tuple, directory: Path) -> None:
    os.write(1, f"started {os.getpid()}\n".encode())
    for count in itertools.count():
        version = versions[count % 2]
        start = time.perf_counter()
        if isinstance(version, VectorIndex):
            version.save(directory)
        else:
            version.save_pretrained(directory)
        if count == 0:
            os.write(1, f"saved {time.perf_counter() - start:.6f}\n".encode())


def serve(bert_dir: Path) -> None:
    torch.set_num_threads(1)  # no thread pool that a fork would leave behind
    versions = {"index": build_indexes(), "model": build_models(bert_dir)}
    print("ready", flush=True)
    for line in sys.stdin:
        kind, directory = line.split(maxsplit=1)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                _save_forever(versions[kind], Path(directory.strip()))
            finally:
                os._exit(1)  # only after an error: the test kills the saver
        _, status = os.waitpid(pid, 0)
        print(f"reaped {status}", flush=True)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
