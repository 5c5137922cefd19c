"""The emoji corpus: Noto emoji images joined with CLDR names and keywords in the XTD languages.

Sources (npm packages, fetched with ``npm pack`` and checked against pinned sha512 integrity):

- ``emoji-datasource-google`` 16.0.0: ``emoji.json`` (code points, category, sub-category) and 64 px
  Noto PNGs (images Apache-2.0, data MIT).
- ``cldr-annotations-full`` 48.2.0: per-locale ``annotations.json`` with a short name (``tts``) and
  keywords (``default``) for each emoji (Unicode License v3).

The corpus folder holds ``images/``, ``items.jsonl`` (every item, with per-language captions) and
``train.jsonl`` / ``val.jsonl`` / ``test.jsonl``, rows in the manifest format of
:mod:`unibind.datasets.manifest` plus ``names`` / ``captions`` per language, ``category``,
``subcategory`` and ``split``. Splits are by emoji (a hash of its code points), never by caption.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unibind.atomic import atomic_write_text
from unibind.cache import cache_dir
from unibind.datasets.npm import NpmPackage, fetch_and_unpack

EMOJI_IMAGES = NpmPackage(
    "emoji-datasource-google",
    "16.0.0",
    "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
)
CLDR_ANNOTATIONS = NpmPackage(
    "cldr-annotations-full",
    "48.2.0",
    "sha512-DV7A+rEcgUSNTRsVGNGqBZRmAkGfwhGHO5Q1dRwzBoBnVrHWp804JP7/QJdEc66iHmx3+zLWVIMCFLm0lW7PUQ==",
)
#: The XTD10 languages (XTD's ``jp`` is CLDR's ``ja``).
LANGUAGES = ("en", "de", "fr", "es", "it", "ko", "pl", "ru", "tr", "zh", "ja")
SPLITS = ("train", "val", "test")

LICENCE_NOTES = """\
# Licences of the emoji corpus

- Images: Noto Emoji (Google), from the npm package emoji-datasource-google 16.0.0, Apache License 2.0
  (https://github.com/googlefonts/noto-emoji/blob/main/LICENSE). Emoji data (emoji.json): MIT, Cal Henderson.
- Names and keywords: Unicode CLDR 48.2.0 annotations, from the npm package cldr-annotations-full 48.2.0,
  Unicode License v3 (https://www.unicode.org/license.txt).
"""


@dataclass(frozen=True)
class EmojiCorpus:
    """A built corpus: its folder and the manifest of each split."""

    root: Path

    def manifest(self, split: str) -> Path:
        return self.root / f"{split}.jsonl"

    @property
    def items(self) -> Path:
        return self.root / "items.jsonl"

    def rows(self, split: str | None = None) -> list[dict]:
        path = self.items if split is None else self.manifest(split)
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def split_of(emoji_id: str, fractions: tuple[int, int, int] = (8, 1, 1)) -> str:
    """Deterministic split of one emoji from a hash of its id (train:val:test = ``fractions`` out of 10)."""
    bucket = int(hashlib.sha256(emoji_id.encode()).hexdigest(), 16) % sum(fractions)
    return "train" if bucket < fractions[0] else "val" if bucket < fractions[0] + fractions[1] else "test"


def _codepoints_to_text(codepoints: str) -> str:
    return "".join(chr(int(cp, 16)) for cp in codepoints.split("-"))


def _annotation(annotations: dict[str, dict], entry: dict) -> dict | None:
    """CLDR keys drop the variation selector FE0F more often than not: try each spelling."""
    candidates = [entry["unified"], entry["unified"].replace("-FE0F", ""), entry.get("non_qualified") or ""]
    for codepoints in candidates:
        if codepoints and (found := annotations.get(_codepoints_to_text(codepoints))):
            return found
    return None


def _load_annotations(cldr_root: Path, language: str) -> dict[str, dict]:
    path = cldr_root / "annotations" / language / "annotations.json"
    return json.loads(path.read_text(encoding="utf-8"))["annotations"]["annotations"]


def make_rows(emoji_root: Path, cldr_root: Path, languages: Sequence[str] = LANGUAGES) -> list[dict]:
    """One row per base emoji with a Google image and an English CLDR name, sorted by CLDR order."""
    entries = json.loads((emoji_root / "emoji.json").read_text(encoding="utf-8"))
    annotations = {language: _load_annotations(cldr_root, language) for language in languages}
    rows = []
    for entry in sorted(entries, key=lambda e: e["sort_order"]):
        if not entry.get("has_img_google"):
            continue
        names, captions = {}, {}
        for language in languages:
            found = _annotation(annotations[language], entry)
            if not found or not found.get("tts"):
                continue
            name = found["tts"][0]
            keywords = [k for k in found.get("default", []) if k != name]
            names[language] = name
            captions[language] = [name] + ([f"{name}: {', '.join(keywords)}"] if keywords else [])
        if "en" not in names:
            continue
        emoji_id = entry["unified"].lower()
        rows.append(
            {
                "id": emoji_id,
                "image": f"images/{entry['image']}",
                "text": [caption for language in names for caption in captions[language]],
                "names": names,
                "captions": captions,
                "category": entry["category"],
                "subcategory": entry["subcategory"],
                "split": split_of(emoji_id),
            }
        )
    return rows


def write_corpus(rows: list[dict], emoji_root: Path, out: Path) -> EmojiCorpus:
    """Copy the rows' images into ``out/images`` and write ``items.jsonl``, the split manifests and licences."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    for row in rows:
        source = emoji_root / "img" / "google" / "64" / Path(row["image"]).name
        target = out / row["image"]
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, target)
    corpus = EmojiCorpus(out)
    _write_jsonl(corpus.items, rows)
    for split in SPLITS:
        _write_jsonl(corpus.manifest(split), [row for row in rows if row["split"] == split])
    (out / "LICENSES.md").write_text(LICENCE_NOTES)
    return corpus


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    atomic_write_text(path, text)


def fetch_sources(cache: Path | None = None) -> tuple[Path, Path]:
    """Fetch (or reuse) and unpack both npm packages; returns their folders (emoji images, CLDR)."""
    packages = (cache or cache_dir()) / "npm"
    return fetch_and_unpack(EMOJI_IMAGES, packages), fetch_and_unpack(CLDR_ANNOTATIONS, packages)


def default_corpus_dir() -> Path:
    return cache_dir() / "corpora" / f"emoji-google{EMOJI_IMAGES.version}-cldr{CLDR_ANNOTATIONS.version}"


def build_emoji_corpus(out: Path | None = None, languages: Sequence[str] = LANGUAGES) -> EmojiCorpus:
    """Fetch the sources if needed and write the corpus to ``out`` (default: under the unibind cache)."""
    emoji_root, cldr_root = fetch_sources()
    return write_corpus(make_rows(emoji_root, cldr_root, languages), emoji_root, out or default_corpus_dir())


def build_fixture(out: Path, every: int = 36) -> EmojiCorpus:
    """The test fixture: every ``every``-th emoji (about 50), as trimmed sources plus the corpus built from them.

    ``out/sources`` holds the two packages cut down to those emoji (same layout), ``out/corpus`` the
    corpus that :func:`make_rows` and :func:`write_corpus` build from them, so tests can rebuild it offline.
    """
    emoji_root, cldr_root = fetch_sources()
    keep = {row["id"] for row in make_rows(emoji_root, cldr_root)[::every]}
    fixture_emoji, fixture_cldr = trim_sources(emoji_root, cldr_root, keep, out / "sources")
    (out / "LICENSES.md").write_text(LICENCE_NOTES)
    return write_corpus(make_rows(fixture_emoji, fixture_cldr), fixture_emoji, out / "corpus")


def trim_sources(emoji_root: Path, cldr_root: Path, keep: set[str], out: Path) -> tuple[Path, Path]:
    """Copy the parts of both packages that concern the emoji ids in ``keep``, in the packages' own layout."""
    entries = [
        e for e in json.loads((emoji_root / "emoji.json").read_text(encoding="utf-8")) if e["unified"].lower() in keep
    ]
    emoji_out, cldr_out = out / "emoji-datasource-google", out / "cldr-annotations-full"
    (emoji_out / "img" / "google" / "64").mkdir(parents=True, exist_ok=True)
    (emoji_out / "emoji.json").write_text(json.dumps(entries, ensure_ascii=False, indent=1), encoding="utf-8")
    for entry in entries:
        shutil.copyfile(
            emoji_root / "img" / "google" / "64" / entry["image"], emoji_out / "img" / "google" / "64" / entry["image"]
        )
    spellings = {
        _codepoints_to_text(codepoints)
        for e in entries
        for codepoints in (e["unified"], e["unified"].replace("-FE0F", ""), e.get("non_qualified") or "")
        if codepoints
    }
    for language in LANGUAGES:
        annotations = _load_annotations(cldr_root, language)
        kept = {key: value for key, value in annotations.items() if key in spellings}
        target = cldr_out / "annotations" / language / "annotations.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {"annotations": {"identity": {"language": language}, "annotations": kept}}
        target.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return emoji_out, cldr_out
