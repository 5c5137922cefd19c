"""The quickstart's held-out emoji in the XTD10 layout, so ``unibind eval xtd`` runs on real local data.

One image per emoji (the Noto PNG, ``<id>.png``) and, per language of the corpus, its CLDR name as the
caption: ``test_image_names.txt``, ``test_1kcaptions_<lang>.txt`` (ISO codes: ``ja``, where XTD10's
STAIR file says ``jp``) and ``images/``. With the quickstart's test split that is 166 images in 11
languages; the text -> image rows of ``unibind eval xtd`` then match the quickstart report's MoE table.
"""

from __future__ import annotations

from pathlib import Path

from unibind.datasets.emoji import LANGUAGES, EmojiCorpus, build_emoji_corpus
from unibind.evaluation.xtd import export_xtd_layout


def export_emoji_xtd(out: str | Path, corpus: EmojiCorpus | None = None, split: str = "test") -> Path:
    """Write ``split`` of the emoji corpus (built or reused under ``$UNIBIND_CACHE`` when ``None``) to ``out``."""
    corpus = corpus or build_emoji_corpus()
    rows = corpus.rows(split)
    if not rows:
        raise ValueError(f"{corpus.manifest(split)}: no rows")
    languages = [lang for lang in LANGUAGES if all(lang in row["names"] for row in rows)]
    return export_xtd_layout(
        out,
        [corpus.root / row["image"] for row in rows],
        {lang: [row["names"][lang] for row in rows] for lang in languages},
        [Path(row["image"]).name for row in rows],
    )
