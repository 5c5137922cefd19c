"""Fuzzing the upload decoders: real files with flipped bytes or cut short, and random bytes, under every accepted
suffix. The OpenAPI schema cannot say which suffixes are accepted, so schemathesis (``test_fuzz.py``) mostly
meets 415; this sends what reaches the image, audio and motion readers. No answer may be a 5xx."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unibind.serve import Limits

from .conftest import AUDIO, EMOJI, MOTIONS, skeleton_bvh


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


Q, A = [1.0, 0.0, 0.0, 0.0], [0.0]  # a joint at rest: quaternion (w x y z) or angle
# a DeepMimic humanoid frame: duration, root position; root, chest, neck; right hip, knee, ankle, shoulder, elbow;
# the same on the left
REST_POSE = [0.05, 0.0, 0.9, 0.0, *Q, *Q, *Q, *Q, *A, *Q, *Q, *A, *Q, *A, *Q, *Q, *A]
SEEDS = {
    ".png": (EMOJI / "images" / "1f600.png").read_bytes(),
    ".wav": AUDIO[0].read_bytes(),
    ".npy": npy_bytes(np.load(MOTIONS[0])[:8]),
    ".bvh": skeleton_bvh(),
    ".json": json.dumps({"Loop": "wrap", "Frames": [REST_POSE] * 3}).encode(),
}
SUFFIXES = sorted({suffix for accepted in Limits().upload_types.values() for suffix in accepted})


@st.composite
def uploads(draw: st.DrawFn) -> tuple[str, bytes]:
    """``(file name, content)``: random bytes, or a seed file with a few bytes changed and maybe cut short,
    mostly under its own suffix."""
    if draw(st.integers(0, 3)) == 0:
        return f"q{draw(st.sampled_from(SUFFIXES))}", draw(st.binary(max_size=2048))
    seed = draw(st.sampled_from(sorted(SEEDS)))
    suffix = draw(st.sampled_from([seed] * 3 + SUFFIXES))
    content = bytearray(SEEDS[seed])
    for _ in range(draw(st.integers(0, 4))):
        content[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.sampled_from([len(content), draw(st.integers(1, len(content)))]))
    return f"q{suffix}", bytes(content[:cut])


@given(upload=uploads())
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_upload_makes_a_server_error(client: TestClient, upload: tuple[str, bytes]) -> None:
    answer = client.post("/api/search/file", files={"file": upload}, data={"top_k": "3"})
    assert answer.status_code in (200, 413, 415, 422), (upload[0], answer.status_code, answer.text)
    assert "detail" in answer.json() or "results" in answer.json()


def test_seed_files_are_accepted(client: TestClient) -> None:
    """The unmutated seeds are good queries, so the mutations start from files that reach the model."""
    for suffix in (".png", ".wav", ".npy", ".bvh", ".json"):
        if suffix == ".json" and importlib.util.find_spec("pybullet_data") is None:
            continue  # DeepMimic clips are read with pybullet's humanoid (the data extra)
        answer = client.post("/api/search/file", files={"file": (f"q{suffix}", SEEDS[suffix])})
        assert answer.status_code == 200, (suffix, answer.text)


def test_fixture_paths_exist() -> None:
    assert all(Path(p).is_file() for p in (*AUDIO, *MOTIONS))
