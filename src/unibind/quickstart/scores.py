"""The quickstart's evaluation stages: each fills its rows of :class:`~unibind.quickstart.state.Results` for every
trained variant, on the held-out items."""

from __future__ import annotations

from unibind.datasets.emoji import LANGUAGES
from unibind.evaluation import label_prompts
from unibind.features import cached_features
from unibind.quickstart.evaluate import (
    matryoshka_recall,
    recall_table,
    retrieval_ranks,
    speech_ranks,
    zero_shot_categories,
)
from unibind.quickstart.features import TEXT_SPEC
from unibind.quickstart.graph import graph_rows
from unibind.quickstart.motion import motion_ranks, motion_summary, retrieval_pictures
from unibind.quickstart.sounds import espeak_ranks, sound_ranks, zero_shot_sounds
from unibind.quickstart.stages import Stage
from unibind.quickstart.state import Quickstart
from unibind.quickstart.train import MATRYOSHKA_DIMS

CATEGORY_PROMPT = "an emoji of {}"


def emoji_rows(run: Quickstart) -> None:
    """Text <-> image per language (the languages the corpus names), plus their mean."""
    table, results = run.table, run.results
    results.languages = [language for language in LANGUAGES if any(language in row["names"] for row in table.rows)]
    results.ranks = {
        variant: retrieval_ranks(model, table, "test", results.languages) for variant, model in run.trained.items()
    }
    results.recall = {variant: recall_table(by_language) for variant, by_language in results.ranks.items()}


def speech_rows(run: Quickstart) -> None:
    """The spoken English names against names and images (empty without speech)."""
    run.results.speech = {
        variant: {d: r.summary() for d, r in speech_ranks(model, run.table, "test").items()}
        for variant, model in run.trained.items()
    }


def zero_shot_rows(run: Quickstart) -> None:
    """Emoji categories from :data:`CATEGORY_PROMPT`, for the images and the spoken names."""
    table = run.table
    categories = sorted({row["category"] for row in table.rows})
    prompts = cached_features(
        run.towers["text"], TEXT_SPEC, label_prompts(categories, CATEGORY_PROMPT), run.cache, progress=False
    )
    modalities = ["image"] + (["audio"] if table.audio is not None else [])
    run.results.zero_shot = {
        variant: {m: zero_shot_categories(model, table, "test", prompts, m) for m in modalities}
        for variant, model in run.trained.items()
    }


def sound_rows(run: Quickstart) -> None:
    """Label <-> clip retrieval and zero-shot classification of the labelled sounds."""
    sounds, results = run.sounds, run.results
    results.sounds = {v: {d: r.summary() for d, r in sound_ranks(m, sounds).items()} for v, m in run.trained.items()}
    results.sounds_zero_shot = {
        v: zero_shot_sounds(m, sounds, run.towers["text"], run.cache) for v, m in run.trained.items()
    }


def motion_rows(run: Quickstart) -> None:
    """Text <-> motion retrieval, and the MoE's top windows for a few text queries as pictures."""
    motions, results = run.motions, run.results
    results.motion = {
        v: {d: motion_summary(r) for d, r in motion_ranks(m, motions).items()} for v, m in run.trained.items()
    }
    moe = run.trained["moe"]
    results.motion_queries = retrieval_pictures(moe, motions, run.towers["text"], run.cache, run.options.out / "motion")


def espeak_rows(run: Quickstart) -> None:
    """The names spoken by espeak-ng per language, for the trained variants."""
    run.results.espeak = {
        variant: {
            lang: {d: r.recall() for d, r in by_d.items()}
            for lang, by_d in espeak_ranks(model, run.table, run.espeak).items()
        }
        for variant, model in run.trained.items()
        if variant != "untrained"
    }


def emoji_graph_rows(run: Quickstart) -> None:
    """The emoji graph through its own GNN tower (:mod:`unibind.quickstart.graph`)."""
    options = run.options
    run.results.graph = graph_rows(
        run.corpus, run.table, run.towers["text"], run.cache, options.graph_epochs, options.progress
    )


def english_row(run: Quickstart) -> None:
    """The MoE on English captions through all-MiniLM-L6-v2."""
    run.results.english_minilm = recall_table(retrieval_ranks(run.trained_english, run.english, "test", ["en"]))["en"]


def matryoshka_rows(run: Quickstart) -> None:
    """Text -> image with embeddings cut to each of :data:`MATRYOSHKA_DIMS`: the MoE against the Matryoshka MoE."""
    table, languages = run.table, run.results.languages
    run.results.matryoshka = {
        "trained_at_full_size": matryoshka_recall(run.trained["moe"], table, "test", languages, MATRYOSHKA_DIMS),
        "matryoshka": matryoshka_recall(run.matryoshka, table, "test", languages, MATRYOSHKA_DIMS),
    }


SCORES = (
    Stage("emoji retrieval", emoji_rows),
    Stage("spoken-name retrieval", speech_rows),
    Stage("zero-shot emoji categories", zero_shot_rows),
    Stage("labelled-sound rows", sound_rows, wanted=lambda run: run.sounds is not None),
    Stage("motion rows", motion_rows, wanted=lambda run: run.motions is not None),
    Stage("espeak-ng rows", espeak_rows, wanted=lambda run: bool(run.espeak)),
    Stage("emoji graph", emoji_graph_rows, "graph_s", wanted=lambda run: run.options.with_graph),
    Stage("English text tower row", english_row, wanted=lambda run: run.trained_english is not None),
    Stage("Matryoshka rows", matryoshka_rows),
)
