"""HumanML3D and KIT-ML in their release layout, and TMR's ``annotations.json``.

Layout (Guo et al. 2022, https://github.com/EricGuo5513/HumanML3D)::

    ROOT/new_joint_vecs/<id>.npy   [T, 263] features (KIT-ML: [T, 251]); 20 fps (KIT-ML: 12.5 fps)
    ROOT/new_joints/<id>.npy       [T, 22, 3] joint positions (KIT-ML: 21 joints)
    ROOT/texts/<id>.txt            lines "caption#word/POS word/POS ...#start#end" (seconds; 0.0#0.0: whole clip)
    ROOT/{train,val,test}.txt      motion ids, one per line ("M"-prefixed ids are the mirrored motions)
    ROOT/Mean.npy, ROOT/Std.npy    per-feature statistics of the training set

As in the release's own loader, captions of the whole clip gather on one item, a caption with a time span
cuts its own sub-clip (item id ``<id>#<k>``), and clips of fewer than ``min_frames`` (HumanML3D 40, KIT-ML
24) or of ``max_frames_exclusive`` (200) frames or more are left out and counted.

Text files are read by the shared line reader of :mod:`unibind.datasets.text_files`: UTF-8 (a byte-order mark
accepted; a line that is not UTF-8 raises ``ManifestError`` naming file and line), lines split only at
``\\n``, ``\\r\\n`` and ``\\r``. ``annotations.json`` must be valid UTF-8 JSON without repeated keys.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unibind.datasets.manifest import OnError, SkipReport
from unibind.datasets.text_files import ManifestError, OnBad, read_json, read_lines
from unibind.modalities import MotionSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionDatasetFormat:
    """What differs between HumanML3D and KIT-ML."""

    num_features: int
    fps: float
    min_frames: int
    max_frames_exclusive: int = 200


FORMATS = {
    "humanml3d": MotionDatasetFormat(num_features=263, fps=20.0, min_frames=40),
    "kitml": MotionDatasetFormat(num_features=251, fps=12.5, min_frames=24),
}


@dataclass(frozen=True)
class MotionCaption:
    """One line of a texts file: the caption, its ``word/POS`` tokens and its span in seconds (0, 0: whole clip)."""

    text: str
    tokens: tuple[str, ...]
    start: float
    end: float
    line: int = field(default=0, compare=False)

    @property
    def whole_clip(self) -> bool:
        return self.start == 0.0 and self.end == 0.0


@dataclass
class MotionTextItem:
    """A motion (or sub-clip) and its captions: frames ``[start_frame, end_frame)`` of ``motion_id``."""

    id: str
    motion_id: str
    captions: list[str]
    start_frame: int = 0
    end_frame: int | None = None
    source: str | None = None


def read_texts(path: str | Path, on_bad: OnBad | None = None) -> list[MotionCaption]:
    """Parse a HumanML3D texts file; a malformed or undecodable line raises ``ManifestError`` naming the file
    and line, or, with ``on_bad``, is passed to it (which may raise, or count it) and left out."""
    path = Path(path)
    captions = []
    for number, line in read_lines(path, "line", on_bad):
        if not line.strip():
            continue
        try:
            captions.append(_caption(path, number, line))
        except ManifestError as err:
            if on_bad is None:
                raise
            on_bad(err)
    return captions


def _caption(path: Path, number: int, line: str) -> MotionCaption:
    parts = line.strip().split("#")
    if len(parts) != 4:
        raise ManifestError(f"{path}, line {number}: expected 'caption#tokens#start#end', got {len(parts)} fields")
    text, tokens, start, end = parts
    try:
        start_s, end_s = float(start), float(end)
    except ValueError as err:
        raise ManifestError(f"{path}, line {number}: start/end must be numbers, got {start!r}, {end!r}") from err
    start_s, end_s = (0.0 if math.isnan(v) else v for v in (start_s, end_s))  # the release writes nan for 0
    if not text.strip():
        raise ManifestError(f"{path}, line {number}: empty caption")
    if math.isinf(start_s) or math.isinf(end_s):
        raise ManifestError(f"{path}, line {number}: span {start_s}-{end_s} s is not finite")
    if (start_s, end_s) != (0.0, 0.0) and not 0.0 <= start_s < end_s:
        raise ManifestError(f"{path}, line {number}: span {start_s}-{end_s} s ends before it starts")
    return MotionCaption(text.strip(), tuple(tokens.split()), start_s, end_s, number)


def read_split(path: str | Path, on_bad: OnBad | None = None) -> list[str]:
    """Motion ids of a split file (one per line, blank lines and CRLF tolerated).

    A line that is not UTF-8 raises ``ManifestError`` naming the file and line (or goes to ``on_bad``). An
    id repeating an earlier line is kept once: the repeat goes to ``on_bad`` as a ``ManifestError``, or,
    without one, is logged as a warning (never silently doubled).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    first_line: dict[str, int] = {}
    repeats = []
    for number, line in read_lines(path, "line", on_bad):
        motion_id = line.strip()
        if not motion_id:
            continue
        if motion_id in first_line:
            repeat = ManifestError(f"{path}, line {number}: id {motion_id!r} repeats line {first_line[motion_id]}")
            if on_bad is not None:
                on_bad(repeat)
            repeats.append(str(repeat))
            continue
        first_line[motion_id] = number
    if repeats and on_bad is None:
        log.warning("%s: %d repeated ids kept once; first: %s", path, len(repeats), repeats[0])
    return list(first_line)


def read_stats(root: str | Path, num_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``Mean.npy`` and ``Std.npy`` under ``root``, checked to be ``[num_features]``."""
    root = Path(root)
    arrays = []
    for name in ("Mean.npy", "Std.npy"):
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (the dataset's feature statistics)")
        array = np.load(path, allow_pickle=False)
        if array.shape != (num_features,):
            raise ManifestError(f"{path}: expected shape ({num_features},), got {array.shape}")
        arrays.append(array.astype(np.float32))
    return arrays[0], arrays[1]


class HumanML3D:
    """The items of one split: whole-clip captions grouped per motion, sub-clip captions as their own items.

    Args:
        root: the dataset folder (layout above); ``texts/``, the split file and ``Mean.npy``/``Std.npy`` may
            also live in other folders (``texts_dir``, ``split_file``, ``stats_dir``).
        split: ``train``, ``val``, ``test`` or any ``<split>.txt`` (e.g. TMR's ``nsim_test``).
        dataset_format: ``humanml3d`` or ``kitml``.
        on_error: ``raise`` on a caption file without a motion (or a bad motion), or ``skip`` and count.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "test",
        dataset_format: str = "humanml3d",
        motion_dir: str = "new_joint_vecs",
        texts_dir: str | Path | None = None,
        split_file: str | Path | None = None,
        stats_dir: str | Path | None = None,
        on_error: OnError = "raise",
    ) -> None:
        if dataset_format not in FORMATS:
            raise ValueError(f"unknown motion dataset format {dataset_format!r}; expected one of {sorted(FORMATS)}")
        self.root, self.split, self.format = Path(root), split, FORMATS[dataset_format]
        self.on_error = on_error
        self.motion_dir = self.root / motion_dir
        self.texts_dir = Path(texts_dir) if texts_dir else self.root / "texts"
        self.stats_dir = Path(stats_dir) if stats_dir else self.root
        self.skipped = SkipReport()
        self.split_file = Path(split_file or self.root / f"{split}.txt")
        self._on_bad = (lambda error: self.skipped.add(str(error))) if on_error == "skip" else None
        ids = read_split(self.split_file, self._on_bad)
        self.items: list[MotionTextItem] = []
        for motion_id in ids:
            try:
                self.items += self._items_of(motion_id)
            except ManifestError as err:
                if on_error == "raise":
                    raise
                self.skipped.add(str(err))

    def _items_of(self, motion_id: str) -> list[MotionTextItem]:
        texts = self.texts_dir / f"{motion_id}.txt"
        if not texts.is_file():
            raise ManifestError(f"{self.split}: motion {motion_id} has no captions ({texts} not found)")
        motion_path = self.motion_dir / f"{motion_id}.npy"
        if not motion_path.is_file():
            raise ManifestError(f"{texts}: captions without a motion ({motion_path} not found)")
        try:
            frames = np.load(motion_path, mmap_mode="r", allow_pickle=False).shape[0]
        except (ValueError, OSError, EOFError, SyntaxError, IndexError) as err:
            raise ManifestError(f"{motion_path}: not a plain .npy motion array ({err})") from err
        fmt, items, whole = self.format, [], []
        if not fmt.min_frames <= frames < fmt.max_frames_exclusive:
            raise ManifestError(
                f"{motion_path}: {frames} frames, outside [{fmt.min_frames}, {fmt.max_frames_exclusive}) (left out)"
            )
        for k, caption in enumerate(read_texts(texts, self._on_bad)):
            if caption.whole_clip:
                whole.append(caption.text)
                continue
            start, end = int(caption.start * fmt.fps), int(caption.end * fmt.fps)
            if fmt.min_frames <= min(end, frames) - start < fmt.max_frames_exclusive:
                items.append(MotionTextItem(f"{motion_id}#{k}", motion_id, [caption.text], start, end))
            else:
                self.skipped.add(
                    f"{texts}, line {caption.line}: sub-clip {start}-{end} of {frames} frames is too short or long"
                )
        if whole:
            items.insert(0, MotionTextItem(motion_id, motion_id, whole))
        return items

    def files(self) -> list[Path]:
        """Every file the split's items come from: split file, statistics, motions and captions."""
        motion_ids = sorted({item.motion_id for item in self.items})
        stats = [self.stats_dir / name for name in ("Mean.npy", "Std.npy") if (self.stats_dir / name).is_file()]
        return [
            self.split_file,
            *stats,
            *(self.motion_dir / f"{m}.npy" for m in motion_ids),
            *(self.texts_dir / f"{m}.txt" for m in motion_ids),
        ]

    def spec(self, crop: str = "center", max_frames: int = 196) -> MotionSpec:
        """The dataset's :class:`MotionSpec`, normalising with its ``Mean.npy``/``Std.npy``."""
        mean, std = read_stats(self.stats_dir, self.format.num_features)
        return MotionSpec(self.format.num_features, self.format.fps, max_frames, 1, crop, mean, std)  # type: ignore[arg-type]

    def motion(self, item: MotionTextItem, spec: MotionSpec) -> torch.Tensor:
        """The item's frames, checked and normalised by ``spec``: ``[T, F]``."""
        path = self.motion_dir / f"{item.motion_id}.npy"
        raw = spec.read(path, str(path))[item.start_frame : item.end_frame]
        return spec.load(raw, item=f"{path} [{item.start_frame}:{item.end_frame}]")


def read_tmr_annotations(
    path: str | Path, split_file: str | Path | None = None, fps: float = 20.0
) -> tuple[list[MotionTextItem], SkipReport]:
    """TMR's ``annotations.json`` (``{keyid: {"path", "duration", "annotations": [{"text", "start", "end"}]}}``).

    One item per keyid and time span, ids ``keyid`` for the whole clip (span equal to the duration) and
    ``keyid#start-end`` otherwise; ``source`` is the AMASS path. With ``split_file``, only its keyids; those
    missing from the annotations are counted in the returned ``SkipReport``.
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object of keyids, got {type(data).__name__}")
    keep = set(read_split(split_file)) if split_file else None
    items = []
    for keyid, entry in data.items():
        if keep is None or keyid in keep:
            items.extend(_tmr_items(path, keyid, entry, fps))
    skipped = SkipReport()
    for keyid in sorted((keep or set()) - set(data)):
        skipped.add(f"{split_file}: keyid {keyid} has no annotation in {path}")
    if keep is not None and not items:
        raise ManifestError(f"{path}: none of the keyids in {split_file} is annotated")
    return items, skipped


def _tmr_items(path: Path, keyid: str, entry: Any, fps: float) -> list[MotionTextItem]:
    """The items of one keyid of TMR's annotations: one per time span, with the captions of that span."""
    try:
        duration, annotations, source = float(entry["duration"]), entry["annotations"], entry["path"]
    except (KeyError, TypeError, ValueError) as err:
        raise ManifestError(f"{path}, keyid {keyid}: expected 'path', 'duration' and 'annotations' ({err})") from err
    items = []
    for (start, end), texts in _tmr_spans(path, keyid, annotations).items():
        whole = start == 0.0 and abs(end - duration) < 1e-6
        item_id = keyid if whole else f"{keyid}#{start:g}-{end:g}"
        end_frame = None if whole else round(end * fps)
        items.append(MotionTextItem(item_id, keyid, texts, round(start * fps), end_frame, source))
    return items


def _tmr_spans(path: Path, keyid: str, annotations: Any) -> dict[tuple[float, float], list[str]]:
    """``(start, end)`` in seconds -> the captions of that span, in the order of ``annotations``."""
    spans: dict[tuple[float, float], list[str]] = {}
    for number, annotation in enumerate(annotations):
        try:
            span = (float(annotation["start"]), float(annotation["end"]))
            text = str(annotation["text"]).strip()
        except (KeyError, TypeError, ValueError) as err:
            raise ManifestError(f"{path}, keyid {keyid}, annotation {number}: {err}") from err
        if not text:
            raise ManifestError(f"{path}, keyid {keyid}, annotation {number}: empty text")
        spans.setdefault(span, []).append(text)
    return spans
