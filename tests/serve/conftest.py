"""A tiny random-init model of four modalities and an index of small real files (emoji, audio, motion, a graph).

Built once per session (seconds, offline): 45 emoji images and their English names, five audio clips,
three HumanML3D motions (drawn as GIFs) and four graph nodes with neighbours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from unibind.alignment import MoEAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import (
    TINY_CLIP_CFG,
    MotionTransformerEncoder,
    OpenClipImageEncoder,
    OpenClipTextEncoder,
    TimmAudioEncoder,
)
from unibind.modalities import AudioSpec, ImageSpec, MotionSpec, TextSpec
from unibind.retrieval.build import IndexEntry, build_card_index
from unibind.retrieval.payload import Neighbour
from unibind.serve import SearchEngine, create_app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EMOJI = FIXTURES / "emoji" / "corpus"
AUDIO = sorted((FIXTURES / "clotho" / "evaluation").glob("*.wav")) + sorted(
    (FIXTURES / "audiocaps" / "audio").glob("*.wav")
)
MOTIONS = sorted((FIXTURES / "humanml3d" / "new_joints").glob("*.npy"))
SPECS = {
    "image": ImageSpec(32),
    "text": TextSpec(),
    "audio": AudioSpec(16000, clip_seconds=1.0),
    "motion": MotionSpec(45, max_frames=64),
}


# a BVH skeleton with every joint the shared skeleton needs: (name, offset, children)
SKELETON = (
    "Hips", (0, 0, 0), [
        ("Spine1", (0, 10, 0), [
            ("Head", (0, 10, 0), []),
            ("RightArm", (-5, 8, 0), [("RightForeArm", (-8, 0, 0), [("RightHand", (-8, 0, 0), [])])]),
            ("LeftArm", (5, 8, 0), [("LeftForeArm", (8, 0, 0), [("LeftHand", (8, 0, 0), [])])]),
        ]),
        ("RightUpLeg", (-3, 0, 0), [("RightLeg", (0, -12, 0), [("RightFoot", (0, -12, 0), [])])]),
        ("LeftUpLeg", (3, 0, 0), [("LeftLeg", (0, -12, 0), [("LeftFoot", (0, -12, 0), [])])]),
    ],
)  # fmt: skip


def skeleton_bvh(frames: int = 12) -> bytes:
    """A small valid BVH: the skeleton above walking forward, knees swinging."""
    lines, joints = ["HIERARCHY"], []

    def joint(node: tuple, depth: int) -> None:
        name, offset, children = node
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        positions = "Xposition Yposition Zposition " if depth == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if depth == 0 else 3} {positions}Zrotation Xrotation Yrotation")
        joints.append(name)
        for child in children:
            joint(child, depth + 1)
        if not children:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 1 0", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    joint(SKELETON, 0)
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.05"]
    for t in range(frames):
        values = [0.0, 24.0, 2.0 * t, 0.0, 0.0, 0.0]
        for name in joints[1:]:
            swing = 30.0 * np.sin(t / 2) * (1 if "Right" in name else -1) if "UpLeg" in name else 0.0
            values += [0.0, swing, 0.0]
        lines.append(" ".join(f"{v:.3f}" for v in values))
    return ("\n".join(lines) + "\n").encode()


def tiny_model() -> UnifiedEmbedder:
    torch.manual_seed(0)
    encoders = {
        "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG),
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": TimmAudioEncoder("resnet10t", n_mels=32),
        "motion": MotionTransformerEncoder(45, width=32, depth=1, heads=2, ff_dim=64, max_frames=64),
    }
    aligner = MoEAligner(32, num_experts=4, top_k=2, modalities=list(encoders))
    return UnifiedEmbedder(encoders, 32, aligner).eval()


def demo_entries() -> list[IndexEntry]:
    rows = [json.loads(line) for line in (EMOJI / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    entries = []
    for row in rows:
        name = row["names"]["en"]
        entries.append(IndexEntry(f"emoji:{row['id']}", "image", EMOJI / row["image"], name, row["category"]))
        entries.append(IndexEntry(f"name:{row['id']}", "text", name, name, row["category"]))
    entries += [IndexEntry(f"clip:{path.stem}", "audio", path, path.stem, "sound") for path in AUDIO]
    entries += [IndexEntry(f"motion:{path.stem}", "motion", path, f"motion {path.stem}") for path in MOTIONS]
    nodes = rows[:4]
    for node, other in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        attributes = {"image": EMOJI / node["image"], "text": node["names"]["en"]}
        neighbours = [Neighbour(other["names"]["en"], "keyword", f"node:{other['id']}"), Neighbour("elsewhere")]
        name, category = node["names"]["en"], node["category"]
        media = EMOJI / node["image"]
        entries.append(IndexEntry(f"node:{node['id']}", "graph", attributes, name, category, media, neighbours))
    return entries


@pytest.fixture(scope="session")
def demo_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(model folder, index folder)`` of the tiny demo."""
    root = tmp_path_factory.mktemp("serve")
    model = tiny_model()
    model.save_pretrained(root / "model")
    build_card_index(model, demo_entries(), root / "index", SPECS, progress=False)
    return root / "model", root / "index"


@pytest.fixture(scope="session")
def engine(demo_dirs: tuple[Path, Path]) -> SearchEngine:
    return SearchEngine(*demo_dirs)


@pytest.fixture(scope="session")
def client(engine: SearchEngine) -> TestClient:
    return TestClient(create_app(engine))
