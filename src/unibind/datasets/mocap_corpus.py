"""A text-motion corpus from real motion capture: pybullet's DeepMimic clips and Debian's BVH files.

Each clip becomes joint positions on the shared 15-joint skeleton at 20 fps (:mod:`unibind.motion`), then
windows: the first 70% of a clip's frames give training windows, the last 30% test windows, so a test
window never overlaps a training one of the same clip. Training windows are random crops (0.8-2 s) of
the training part, each at a random speed (0.8-1.25x) and mirrored half the time; test windows cut the
test part into consecutive pieces of at most 2 s, unaugmented. Every window is normalised on its own
(:func:`unibind.motion.canonical.normalise`), so where a clip happens to start says nothing.

Captions: the clip's name in words and two paraphrases; the CMU clips use CMU's own descriptions. The two
DeepMimic dances share one group (``dance``): their captions cannot tell them apart.

Written as manifests, ``{split}.jsonl`` (``id``, ``motion``: ``windows/<id>.npy`` ``[T, 45]`` float32,
``text``, ``group``, ``clip``), readable with ``MotionSpec(num_features=45)``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unibind.cache import cache_dir
from unibind.motion.bvh import read_bvh
from unibind.motion.canonical import NUM_FEATURES, mirror, normalise, resample, select_joints, to_features
from unibind.motion.deepmimic import deepmimic_positions, pybullet_data_dir, read_deepmimic, read_urdf_skeleton

log = logging.getLogger(__name__)

FPS = 20.0
ASSIMP_BVH = Path("/usr/share/assimp/models/BVH")
TRAIN_FRACTION = 0.7
WINDOW_FRAMES = (16, 40)  # 0.8 s to 2 s at 20 fps
SPEEDS = (0.8, 1.25)
FORMAT_VERSION = 1  # bump when windows or captions change, so cached corpora are rebuilt


@dataclass(frozen=True)
class MotionClip:
    """A source clip: where it comes from, its group and its captions (the first is its label)."""

    name: str
    source: str  # "deepmimic" or "bvh"
    file: str
    group: str
    captions: tuple[str, ...]


CLIPS = (
    MotionClip("walk", "deepmimic", "humanoid3d_walk.txt", "walk",
               ("a person walks forward", "someone walking at a steady pace", "a human takes steps forward")),
    MotionClip("run", "deepmimic", "humanoid3d_run.txt", "run",
               ("a person runs", "someone running forward quickly", "a jogger runs ahead")),
    MotionClip("jump", "deepmimic", "humanoid3d_jump.txt", "jump",
               ("a person jumps up", "someone jumps in place", "a human leaps into the air")),
    MotionClip("backflip", "deepmimic", "humanoid3d_backflip.txt", "backflip",
               ("a person does a backflip", "someone flips backwards in the air", "a backward somersault")),
    MotionClip("cartwheel", "deepmimic", "humanoid3d_cartwheel.txt", "cartwheel",
               ("a person does a cartwheel", "someone cartwheels sideways over their hands",
                "a gymnast turns a cartwheel")),
    MotionClip("crawl", "deepmimic", "humanoid3d_crawl.txt", "crawl",
               ("a person crawls on hands and knees", "someone crawling on the floor", "a human crawls forward")),
    MotionClip("dance_a", "deepmimic", "humanoid3d_dance_a.txt", "dance",
               ("a person dances", "someone dancing with arm movements", "a dancer moves to music")),
    MotionClip("dance_b", "deepmimic", "humanoid3d_dance_b.txt", "dance",
               ("a person dances", "someone dancing with arm movements", "a dancer moves to music")),
    MotionClip("getup_facedown", "deepmimic", "humanoid3d_getup_facedown.txt", "getup_facedown",
               ("a person gets up from lying face down", "someone pushes up off the floor from their stomach",
                "a human rises from a prone position")),
    MotionClip("getup_faceup", "deepmimic", "humanoid3d_getup_faceup.txt", "getup_faceup",
               ("a person gets up from lying on their back", "someone sits up from the floor and stands",
                "a human rises from lying face up")),
    MotionClip("kick", "deepmimic", "humanoid3d_kick.txt", "kick",
               ("a person kicks", "someone kicks forward with one leg", "a front kick")),
    MotionClip("punch", "deepmimic", "humanoid3d_punch.txt", "punch",
               ("a person punches", "someone throws a punch", "a human strikes forward with a fist")),
    MotionClip("roll", "deepmimic", "humanoid3d_roll.txt", "roll",
               ("a person does a forward roll", "someone rolls over on the ground", "a roll on the floor")),
    MotionClip("spin", "deepmimic", "humanoid3d_spin.txt", "spin",
               ("a person spins around", "someone turns around in place", "a human twirls")),
    MotionClip("spinkick", "deepmimic", "humanoid3d_spinkick.txt", "spinkick",
               ("a person does a spinning kick", "someone spins and kicks", "a martial arts spin kick")),
    MotionClip("cmu_01_01", "bvh", "01_01.bvh", "cmu_01_01",
               ("a person jumps forward and turns around", "playground: forward jumps, turn around",
                "someone hops forward several times and turns")),
    MotionClip("cmu_01_03", "bvh", "01_03.bvh", "cmu_01_03",
               ("a person climbs, hangs and swings", "playground: climb, hang, swing",
                "someone climbs up and swings while hanging")),
    MotionClip("boxing", "bvh", "Boxing_Toes.bvh", "boxing",
               ("a person boxes on their toes", "a boxer throws punches", "someone shadowboxing")),
)  # fmt: skip


def clip_positions(clip: MotionClip, bvh_dir: Path = ASSIMP_BVH, pybullet_dir: Path | None = None) -> np.ndarray:
    """The whole clip on the shared skeleton at :data:`FPS`: ``[T, 15, 3]`` (not yet normalised)."""
    if clip.source == "deepmimic":
        data = pybullet_dir or pybullet_data_dir()
        skeleton = read_urdf_skeleton(data / "humanoid" / "humanoid.urdf")
        motion = read_deepmimic(data / "data" / "motions" / clip.file)
        return resample(select_joints(skeleton.names, deepmimic_positions(motion, skeleton)), motion.times, FPS)
    bvh = read_bvh(bvh_dir / clip.file)
    times = np.arange(len(bvh.values)) * bvh.frame_time
    return resample(select_joints(bvh.names, bvh.positions()), times, FPS)


def split_frames(frames: int) -> int:
    """First test frame: the training part is ``[0, split)``, the test part ``[split, frames)``."""
    return max(1, min(frames - 1, round(TRAIN_FRACTION * frames)))


def training_windows(positions: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` augmented crops of ``positions`` (the training part): speed, crop, mirror; each normalised."""
    windows = []
    for _ in range(count):
        speed = rng.uniform(*SPEEDS)
        times = np.arange(len(positions)) / FPS
        faster = resample(positions, times * (1 / speed), FPS) if len(positions) > 1 else positions
        longest = min(WINDOW_FRAMES[1], len(faster))
        length = int(rng.integers(min(WINDOW_FRAMES[0], longest), longest + 1))
        start = int(rng.integers(0, len(faster) - length + 1))
        window = faster[start : start + length]
        if rng.random() < 0.5:
            window = mirror(window)
        windows.append(normalise(window))
    return windows


def held_out_windows(positions: np.ndarray) -> list[np.ndarray]:
    """The test part in consecutive windows of ``WINDOW_FRAMES[1]`` frames; a short tail joins the one before."""
    size = WINDOW_FRAMES[1]
    pieces = [positions[start : start + size] for start in range(0, len(positions), size)]
    if len(pieces) > 1 and len(pieces[-1]) < WINDOW_FRAMES[0]:
        tail = pieces.pop()
        pieces[-1] = np.concatenate([pieces[-1], tail])
    return [normalise(piece) for piece in pieces]


@dataclass(frozen=True)
class MocapCorpus:
    root: Path

    def manifest(self, split: str) -> Path:
        return self.root / f"{split}.jsonl"

    def rows(self, split: str | None = None) -> list[dict]:
        rows = []
        for name in [split] if split else ["train", "test"]:
            with self.manifest(name).open(encoding="utf-8") as handle:
                rows += [json.loads(line) for line in handle if line.strip()]
        return rows


def available_clips(
    bvh_dir: Path = ASSIMP_BVH, pybullet_dir: Callable[[], Path] = pybullet_data_dir
) -> tuple[list[MotionClip], list[str]]:
    """The clips whose source is installed, and one line per missing source."""
    missing, chosen = [], []
    try:
        pybullet_dir()
        chosen += [c for c in CLIPS if c.source == "deepmimic"]
    except ImportError as err:
        missing.append(f"DeepMimic clips: {err}")
    if bvh_dir.is_dir():
        chosen += [c for c in CLIPS if c.source == "bvh" and (bvh_dir / c.file).is_file()]
    else:
        missing.append(f"BVH clips: {bvh_dir} not found (Debian: apt-get install assimp-testmodels)")
    return chosen, missing


def build_mocap_corpus(
    out: str | Path | None = None,
    windows_per_clip: int = 24,
    seed: int = 0,
    progress: bool = True,
    names: Sequence[str] | None = None,
) -> MocapCorpus:
    """Write (or reuse) the windows and manifests; raises ``RuntimeError`` when no source is installed.

    ``names``: a subset of :data:`CLIPS` by name (default: every clip whose source is installed).
    """
    root = Path(out) if out else cache_dir() / "corpora" / "mocap"
    unknown = set(names or ()) - {clip.name for clip in CLIPS}
    if unknown:
        raise ValueError(f"unknown motion clips {sorted(unknown)}; known: {[clip.name for clip in CLIPS]}")
    clips, missing = available_clips()
    clips = [clip for clip in clips if names is None or clip.name in names]
    for line in missing:
        log.warning("motion corpus: skipped %s", line)
    if not clips:
        raise RuntimeError("no motion capture source is installed: " + "; ".join(missing))
    made_with = {"version": FORMAT_VERSION, "clips": [c.name for c in clips], "windows": windows_per_clip, "seed": seed}
    index = root / "index.json"
    if index.is_file() and json.loads(index.read_text()).get("made_with") == made_with:
        return MocapCorpus(root)
    (root / "windows").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {"train": [], "test": []}
    for clip in clips:
        positions = clip_positions(clip)
        split = split_frames(len(positions))
        parts = {
            "train": training_windows(positions[:split], windows_per_clip, rng),
            "test": held_out_windows(positions[split:]),
        }
        for name, windows in parts.items():
            for k, window in enumerate(windows):
                window_id = f"{clip.name}-{name}-{k:02d}"
                np.save(root / "windows" / f"{window_id}.npy", to_features(window))
                row = {"id": window_id, "motion": f"windows/{window_id}.npy", "text": list(clip.captions)}
                rows[name].append({**row, "group": clip.group, "clip": clip.name, "frames": len(window)})
        if progress:
            log.info(
                "motion corpus: %s: %d frames -> %d train, %d test windows",
                clip.name,
                len(positions),
                len(parts["train"]),
                len(parts["test"]),
            )
    for name, split_rows in rows.items():
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split_rows), encoding="utf-8")
    index.write_text(json.dumps({"made_with": made_with, "num_features": NUM_FEATURES, "fps": FPS}, indent=1))
    return MocapCorpus(root)
