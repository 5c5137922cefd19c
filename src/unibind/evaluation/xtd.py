"""XTD10 (Aggarwal & Kale, 2020, arXiv 2012.05107): multilingual text <-> image retrieval on 1k images.

Layout read (the adobe-research Cross-lingual-Test-Dataset-XTD10 repository, or an export in the same shape)::

    DIR/test_image_names.txt            one image file name per line
    DIR/test_1kcaptions_<lang>.txt      line i captions image i (also found in DIR/XTD10, DIR/MIC, DIR/STAIR)
    DIR/images/<image name>             the images (MSCOCO train2014 for the real XTD10; --images to point elsewhere)

Language codes are the files' own (``jp`` is STAIR's Japanese). Lines may end in CRLF; a missing final
newline is fine; an empty caption line is an error naming the file and the line.

Protocols, every caption counts once (XTD pairs exactly one caption per image and language):

- text -> image: each caption against all images, Recall@1/5/10 per language and their mean;
- image -> text: each image against all captions of one language, Recall@1/5/10;
- caption -> English caption (text side only, no images): each non-English caption against the English
  captions, Recall@1/5/10 - a check of a multilingual text tower.

Ties count as the worst possible rank for the gold (a model scoring everything equal gets 0).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from unibind.datasets.manifest import OnError, SkipReport
from unibind.evaluation.embedding import TextImageEmbedder
from unibind.evaluation.records import MetricDefinition
from unibind.metrics.ranking import best_relevant_rank, recall_from_ranks

IMAGE_NAMES = "test_image_names.txt"
CAPTION_PREFIX = "test_1kcaptions_"
CAPTION_FOLDERS = (".", "XTD10", "MIC", "STAIR")
KS = (1, 5, 10)

RECALL_METRICS = tuple(
    MetricDefinition(
        f"R@{k}",
        f"percent of queries whose paired item ranks in the top {k} by cosine similarity (ties ranked "
        "below the gold's competitors: worst case)",
        "XTD10, arXiv 2012.05107; the usual cross-modal Recall@K (e.g. CLIP, M-CLIP)",
    )
    for k in KS
)


class XTDDataError(ValueError):
    """A file of the XTD layout that cannot be used; the message names the file and the line."""


@dataclass
class XTDData:
    """Image files (``None`` when evaluating text only), captions per language, and what was skipped."""

    root: Path
    image_names: list[str]
    images: list[Path] | None
    captions: dict[str, list[str]]
    files: list[Path] = field(default_factory=list)
    skipped: SkipReport = field(default_factory=SkipReport)


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (CRLF or LF, final newline optional); an empty line raises."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise XTDDataError(f"{path}, line {number}: empty line")
    return [line.strip() for line in lines]


def caption_files(root: Path) -> dict[str, Path]:
    """``{language: file}`` for every ``test_1kcaptions_<lang>.txt`` in ``root`` and its XTD10 sub-folders."""
    found: dict[str, Path] = {}
    for folder in CAPTION_FOLDERS:
        for path in sorted((root / folder).glob(f"{CAPTION_PREFIX}*.txt")):
            language = path.stem.removeprefix(CAPTION_PREFIX)
            if language in found:
                raise XTDDataError(f"two caption files for language {language!r}: {found[language]} and {path}")
            found[language] = path
    return found


def read_xtd(
    root: str | Path,
    languages: Sequence[str] | None = None,
    images_dir: str | Path | None = None,
    with_images: bool = True,
    on_error: OnError = "raise",
) -> XTDData:
    """Read the XTD layout under ``root``; ``with_images=False`` reads captions only.

    With ``on_error="skip"``, images that are missing are dropped together with their caption lines (and
    counted); otherwise a missing image raises naming its line in ``test_image_names.txt``.
    """
    root = Path(root)
    names_file = next((p for p in (root / IMAGE_NAMES, root / "XTD10" / IMAGE_NAMES) if p.is_file()), None)
    if names_file is None:
        raise FileNotFoundError(f"{root}: no {IMAGE_NAMES} (nor XTD10/{IMAGE_NAMES})")
    names = read_lines(names_file)
    files = caption_files(root)
    wanted = list(languages) if languages else list(files)
    missing = [lang for lang in wanted if lang not in files]
    if missing:
        raise FileNotFoundError(f"{root}: no caption file for {missing}; found {sorted(files)}")
    captions = {}
    for language in wanted:
        lines = read_lines(files[language])
        if len(lines) != len(names):
            raise XTDDataError(f"{files[language]}: {len(lines)} captions, but {names_file} lists {len(names)} images")
        captions[language] = lines
    data = XTDData(root, names, None, captions, [names_file, *(files[lang] for lang in wanted)])
    if not with_images:
        return data
    folder = Path(images_dir) if images_dir is not None else root / "images"
    keep, paths = [], []
    for number, name in enumerate(names, start=1):
        path = (folder / name).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.is_file():
            message = f"{names_file}, line {number}: image {name!r} not found under {folder}"
            if on_error == "raise":
                raise XTDDataError(message)
            data.skipped.add(message)
            continue
        keep.append(number - 1)
        paths.append(path)
    if not keep:
        raise XTDDataError(f"{root}: none of the {len(names)} images found under {folder}")
    data.image_names = [names[i] for i in keep]
    data.captions = {lang: [lines[i] for i in keep] for lang, lines in captions.items()}
    data.images = paths
    data.files += paths
    return data


def paired_recall(similarity: torch.Tensor, ks: Sequence[int] = KS) -> dict[str, float]:
    """Recall@k in percent when query ``q`` is paired with item ``q`` of ``similarity: [Q, Q]``."""
    ranks = best_relevant_rank(similarity, torch.eye(len(similarity), dtype=torch.bool))
    return {name: 100.0 * value for name, value in recall_from_ranks(ranks, similarity.shape[1], ks).items()}


def evaluate_xtd(embedder: TextImageEmbedder, data: XTDData, english: str = "en") -> dict:
    """Text -> image and image -> text per language (when images are loaded), caption -> English caption.

    Returns ``rows``: ``{"text->image <lang>": {R@1, R@5, R@10}, ..., "text->image mean": ...}`` and the
    same for ``image->text`` and ``caption->en``.
    """
    rows: dict[str, dict[str, float]] = {}
    texts = {lang: embedder.embed_texts(lines) for lang, lines in data.captions.items()}
    if data.images is not None:
        images = embedder.embed_images(data.images, [f"{data.root}: {name}" for name in data.image_names])
        for direction in ("text->image", "image->text"):
            for lang, vectors in texts.items():
                similarity = vectors @ images.T if direction == "text->image" else images @ vectors.T
                rows[f"{direction} {lang}"] = paired_recall(similarity)
            rows[f"{direction} mean"] = _mean([rows[f"{direction} {lang}"] for lang in texts])
    if english in texts and len(texts) > 1:
        others = [lang for lang in texts if lang != english]
        for lang in others:
            rows[f"caption->{english} {lang}"] = paired_recall(texts[lang] @ texts[english].T)
        rows[f"caption->{english} mean"] = _mean([rows[f"caption->{english} {lang}"] for lang in others])
    return {"rows": rows, "images": len(data.image_names), "languages": list(texts), "skipped": data.skipped.count}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}


def results_table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown: one line per language, a column per direction (R@1 / 5 / 10)."""
    directions = list(dict.fromkeys(name.split(" ")[0] for name in rows))
    languages = list(dict.fromkeys(name.split(" ", 1)[1] for name in rows))
    header = " | ".join(f"{d} R@1 / 5 / 10" for d in directions)
    lines = [f"| language | {header} |", "|---|" + "---:|" * len(directions)]
    for lang in languages:
        cells = []
        for direction in directions:
            row = rows.get(f"{direction} {lang}")
            cells.append(" / ".join(f"{row[f'R@{k}']:.1f}" for k in KS) if row else "-")
        label = f"**{lang}**" if lang == "mean" else lang
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def export_xtd_layout(
    out: str | Path, image_files: Sequence[Path], captions: dict[str, Sequence[str]], names: Sequence[str]
) -> Path:
    """Write ``test_image_names.txt``, ``test_1kcaptions_<lang>.txt`` and ``images/`` (copies) under ``out``.

    ``names[i]`` is the file name for ``image_files[i]``; ``captions[lang][i]`` its caption. Captions are
    written on one line each (newlines inside a caption become spaces).
    """
    out = Path(out)
    if len(set(names)) != len(names):
        raise ValueError("image names must be unique")
    (out / "images").mkdir(parents=True, exist_ok=True)
    for source, name in zip(image_files, names, strict=True):
        shutil.copyfile(source, out / "images" / name)
    (out / IMAGE_NAMES).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    for lang, lines in captions.items():
        if len(lines) != len(names):
            raise ValueError(f"{lang}: {len(lines)} captions for {len(names)} images")
        text = "".join(" ".join(line.split()) + "\n" for line in lines)
        (out / f"{CAPTION_PREFIX}{lang}.txt").write_text(text, encoding="utf-8")
    return out
