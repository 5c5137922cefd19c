"""``unibind quickstart``: the emoji corpus, frozen pretrained towers, and three alignments compared per language."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from unibind.cache import cache_dir
from unibind.datasets.emoji import LANGUAGES, EmojiCorpus, build_emoji_corpus
from unibind.datasets.emoji_speech import espeak_available, synthesize_names
from unibind.datasets.mocap_corpus import MocapCorpus, build_mocap_corpus
from unibind.datasets.sounds import SoundCorpus, SoundSourceMissingError, build_sound_corpus
from unibind.embedder import UnifiedEmbedder
from unibind.evaluation import label_prompts
from unibind.features import cached_features
from unibind.model_card import CardFacts
from unibind.quickstart.demo import build_demo_index, serve_command
from unibind.quickstart.evaluate import (
    embed_features,
    matryoshka_recall,
    recall_table,
    retrieval_ranks,
    speech_ranks,
    zero_shot_categories,
)
from unibind.quickstart.features import TEXT_SPEC, FeatureTable, corpus_features, english_text_tower, frozen_towers
from unibind.quickstart.graph import graph_rows
from unibind.quickstart.motion import motion_features, motion_ranks, motion_summary, retrieval_pictures
from unibind.quickstart.report import (
    english_tower_line,
    espeak_table,
    graph_table,
    markdown_tables,
    matryoshka_table,
    motion_table,
    plot_expert_usage,
    plot_joint_space,
    plot_recall_curves,
    sounds_table,
    speech_table,
    zero_shot_table,
)
from unibind.quickstart.sounds import espeak_features, espeak_ranks, sound_features, sound_ranks, zero_shot_sounds
from unibind.quickstart.train import train_variant

VARIANTS = ("untrained", "dense", "moe")
#: Prefix sizes of the quickstart's Matryoshka-trained MoE (its embedding has 256 dimensions).
MATRYOSHKA_DIMS = (32, 64, 128, 256)
CATEGORY_PROMPT = "an emoji of {}"


def save_full_model(
    trained: UnifiedEmbedder, towers: dict, directory: Path, card: CardFacts | None = None
) -> UnifiedEmbedder:
    """Put the trained heads and aligner behind the real towers and save that as a usable model (returned),
    with ``card``'s facts in its model card.

    Modalities without a frozen tower (motion) keep the encoder they were trained with.
    """
    encoders = {modality: towers.get(modality, trained.encoders[modality]) for modality in trained.modalities}
    aligner = type(trained.aligner)(**trained.aligner.init_args)
    full = UnifiedEmbedder(encoders, trained.embed_dim, aligner, matryoshka_dims=trained.matryoshka_dims)
    full.heads.load_state_dict(trained.heads.state_dict())
    full.aligner.load_state_dict(trained.aligner.state_dict())
    full.card = card or CardFacts()
    full.save_pretrained(directory)
    return full.eval()


def splits_of(table: FeatureTable) -> dict[str, int]:
    return {split: len(table.items(split)) for split in ("train", "val", "test")}


def quickstart_card(corpus, splits: dict[str, int], epochs: int, recall: dict, variant: str) -> CardFacts:
    """The model card facts of a quickstart model: its corpus and its held-out text->image figures.

    ``recall``: ``{"text_to_image": {"R@1": ..}}`` (a ``mean`` row) or, for the Matryoshka model,
    ``{dim: {"R@1": .., "R@10": ..}}``.
    """
    data = [
        f"emoji corpus at {corpus.root}: Noto emoji images with Unicode CLDR names and keywords in 11 languages; "
        f"{splits['train']} train / {splits['val']} val / {splits['test']} test emoji; {epochs} epochs ({variant})",
        "spoken English names (piper), labelled instrument notes and event sounds and DeepMimic / BVH motion where "
        "the quickstart found them (see its report.md)",
    ]
    source = "quickstart metrics.json, held-out emoji, mean over languages"
    if "text_to_image" in recall:
        rows = [("text->image", k, recall["text_to_image"][k]) for k in ("R@1", "R@10")]
    else:
        rows = [(f"text->image, d={dim}", k, recall[dim][k]) for dim in sorted(recall) for k in ("R@1", "R@10")]
    evaluations = [{"benchmark": f"emoji {what}", "metric": k, "value": v, "source": source} for what, k, v in rows]
    return CardFacts(training_data=data, evaluations=evaluations)


def plot_moe_space(moe: UnifiedEmbedder, table: FeatureTable, out: Path) -> dict[str, torch.Tensor]:
    """Joint-space map and expert-usage plot of the held-out emoji; returns the expert counts per modality."""
    test_items = table.items("test")
    images, image_counts = embed_features(moe, table.image[test_items], "image")
    english_names = table.captions(test_items, "en", names_only=True)
    texts, text_counts = embed_features(moe, table.text[english_names], "text")
    usage = {"image": image_counts, "text": text_counts}
    audio = None
    if table.audio is not None:
        audio, usage["audio"] = embed_features(moe, table.audio[test_items], "audio")
    categories = [table.rows[i]["category"] for i in test_items.tolist()]
    plot_joint_space(images, texts, categories, out / "joint_space.png", audio)
    plot_expert_usage(usage, out / "expert_usage.png")
    return usage


def write_report(path: Path, splits: dict[str, int], tables: str, pictures: list[dict] | None = None) -> None:
    motion = ""
    if pictures:
        motion = "\n\n## Top held-out motions per text query (MoE)\n\n" + "\n\n".join(
            f"**{p['query']}**\n\n![{p['query']}](motion/query{n}.png) ![top-1](motion/query{n}.gif)"
            for n, p in enumerate(pictures)
        )
    path.write_text(
        f"# unibind quickstart\n\nHeld-out emoji: {splits['test']} (train {splits['train']}, val {splits['val']}); "
        f"text queries are the CLDR names in each language. Recall in percent.\n\n{tables}\n\n"
        "![recall curves](recall_curves.png)\n\n![joint space](joint_space.png)\n\n![expert usage](expert_usage.png)"
        f"{motion}\n"
    )


def run_quickstart(
    out: str | Path = "runs/quickstart",
    corpus_dir: str | Path | None = None,
    epochs: int = 60,
    progress: bool = True,
    english_minilm: bool = True,
    with_speech: bool = True,
    with_sounds: bool = True,
    sounds_dir: str | Path | None = None,
    with_motion: bool = True,
    motion_dir: str | Path | None = None,
    with_graph: bool = True,
    graph_epochs: int = 40,
    index_backend: str = "exact",
) -> dict:
    """Build (or reuse) the corpus, cache features, train dense and MoE aligners, evaluate, report.

    Args:
        out: output folder (``metrics.json``, ``report.md``, plots, ``model/``, the demo ``index/``).
        corpus_dir: an already built corpus (e.g. the test fixture); default: build the full one.
        epochs: training epochs of each aligner.
        english_minilm: also train and evaluate the MoE with all-MiniLM-L6-v2 as the (English) text tower.
        with_speech: speak the English names (piper) and bind them as audio through Whisper tiny.en's encoder;
            where espeak-ng is installed, also speak the held-out names in every language (evaluation only).
        with_sounds: train and evaluate on labelled real sounds too (GM instrument notes, freedesktop event
            sounds), where fluidsynth, a GM soundfont and the sound theme are installed.
        index_backend: the demo index's backend (:mod:`unibind.retrieval.backends`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    corpus = EmojiCorpus(Path(corpus_dir)) if corpus_dir else build_emoji_corpus()
    timings["corpus_s"] = time.perf_counter() - start

    mark = time.perf_counter()
    speech = synthesize_names(corpus, progress=progress) if with_speech else None
    timings["speech_s"] = time.perf_counter() - mark

    sound_corpus = None
    if with_sounds:
        mark = time.perf_counter()
        try:
            sound_corpus = SoundCorpus(Path(sounds_dir)) if sounds_dir else build_sound_corpus(progress=progress)
        except SoundSourceMissingError as err:
            print(f"labelled sounds skipped: {err}")
        timings["sounds_s"] = time.perf_counter() - mark

    mocap = None
    if with_motion:
        mark = time.perf_counter()
        try:
            mocap = MocapCorpus(Path(motion_dir)) if motion_dir else build_mocap_corpus(progress=progress)
        except RuntimeError as err:
            print(f"motion skipped: {err}")
        timings["motion_corpus_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    towers = frozen_towers()
    features = cache_dir() / "features"
    table = corpus_features(corpus, towers, features, progress=progress, speech=speech)
    sounds = sound_features(sound_corpus, towers, features, progress) if sound_corpus is not None else None
    motions = motion_features(mocap, towers["text"], features, progress) if mocap is not None else None
    extras = [extra for extra in (sounds, motions) if extra is not None]
    espeak = {}
    if with_speech and espeak_available():
        espeak = espeak_features(corpus, table, towers["audio"], list(LANGUAGES), features, progress=progress)
    elif with_speech:
        print("names spoken in other languages skipped: espeak-ng is not installed (apt-get install espeak-ng)")
    timings["features_s"] = time.perf_counter() - mark

    english = None
    if english_minilm:  # the same images, English captions through all-MiniLM-L6-v2 instead of USE
        towers_en = {"image": towers["image"], "text": english_text_tower()}
        english = corpus_features(corpus, towers_en, cache_dir() / "features", languages=["en"], progress=progress)
        timings["features_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    trained = {variant: train_variant(table, variant, epochs, progress=progress, extras=extras) for variant in VARIANTS}
    trained_en = train_variant(english, "moe", epochs, progress=progress) if english is not None else None
    matryoshka = train_variant(table, "moe", epochs, progress=progress, extras=extras, matryoshka_dims=MATRYOSHKA_DIMS)
    timings["training_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    languages = [language for language in LANGUAGES if any(language in row["names"] for row in table.rows)]
    ranks = {variant: retrieval_ranks(model, table, "test", languages) for variant, model in trained.items()}
    results = {variant: recall_table(by_language) for variant, by_language in ranks.items()}
    spoken = {
        variant: {d: r.summary() for d, r in speech_ranks(model, table, "test").items()}
        for variant, model in trained.items()
    }
    categories = sorted({row["category"] for row in table.rows})
    prompts = cached_features(
        towers["text"], TEXT_SPEC, label_prompts(categories, CATEGORY_PROMPT), cache_dir() / "features", progress=False
    )
    zero_shot_modalities = ["image"] + (["audio"] if table.audio is not None else [])
    zero_shot = {
        variant: {m: zero_shot_categories(model, table, "test", prompts, m) for m in zero_shot_modalities}
        for variant, model in trained.items()
    }
    sound_results, sound_zero_shot = {}, {}
    if sounds is not None:
        sound_results = {v: {d: r.summary() for d, r in sound_ranks(m, sounds).items()} for v, m in trained.items()}
        sound_zero_shot = {v: zero_shot_sounds(m, sounds, towers["text"], features) for v, m in trained.items()}
    motion_results, pictures = {}, []
    if motions is not None:
        motion_results = {
            v: {d: motion_summary(r) for d, r in motion_ranks(m, motions).items()} for v, m in trained.items()
        }
        pictures = retrieval_pictures(trained["moe"], motions, towers["text"], features, out / "motion")
    espeak_results = {
        variant: {
            lang: {d: r.recall() for d, r in by_d.items()} for lang, by_d in espeak_ranks(model, table, espeak).items()
        }
        for variant, model in trained.items()
        if variant != "untrained" and espeak
    }
    graph_results = None
    if with_graph:
        graph_start = time.perf_counter()
        graph_results = graph_rows(corpus, table, towers["text"], features, graph_epochs, progress)
        timings["graph_s"] = time.perf_counter() - graph_start
    english_results = None
    if trained_en is not None:
        english_results = recall_table(retrieval_ranks(trained_en, english, "test", ["en"]))["en"]
    matryoshka_results = {
        "trained_at_full_size": matryoshka_recall(trained["moe"], table, "test", languages, MATRYOSHKA_DIMS),
        "matryoshka": matryoshka_recall(matryoshka, table, "test", languages, MATRYOSHKA_DIMS),
    }
    plot_recall_curves(ranks, out / "recall_curves.png")
    usage = plot_moe_space(trained["moe"], table, out)
    card = quickstart_card(corpus, splits_of(table), epochs, results["moe"]["mean"], "moe")
    full_model = save_full_model(trained["moe"], towers, out / "model", card)
    matryoshka_card = quickstart_card(corpus, splits_of(table), epochs, matryoshka_results["matryoshka"], "matryoshka")
    save_full_model(matryoshka, towers, out / "model_matryoshka", matryoshka_card)
    timings["evaluation_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    demo = build_demo_index(
        full_model, out / "index", corpus, speech, sound_corpus, mocap, with_graph, progress, index_backend
    )
    timings["demo_index_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - start

    splits = splits_of(table)
    tables = markdown_tables(results)
    if table.audio is not None:
        tables += "\n\n" + speech_table(spoken)
    tables += "\n\n" + zero_shot_table(zero_shot, CATEGORY_PROMPT)
    if sound_results:
        tables += "\n\n" + sounds_table(sound_results, sound_zero_shot)
    if espeak_results:
        tables += "\n\n" + espeak_table(espeak_results)
    if graph_results is not None:
        tables += "\n\n" + graph_table(graph_results)
    if motion_results:
        tables += "\n\n" + motion_table(motion_results, len(motions.items("test")), len(set(motions.group.tolist())))
    if english_results is not None:
        tables += "\n\n" + english_tower_line(english_results, results["moe"]["en"])
    tables += "\n\n" + matryoshka_table(matryoshka_results["trained_at_full_size"], matryoshka_results["matryoshka"])
    metrics = {
        "corpus": {"root": str(corpus.root), "items": len(table.rows), "splits": splits, "languages": languages},
        "sound_corpus": (
            {"root": str(sound_corpus.root), "clips": {s: len(sounds.items(s)) for s in ("train", "val", "test")}}
            if sounds is not None
            else None
        ),
        "towers": {
            "image": "tf_efficientnet_lite0 (ImageNet, frozen)",
            "text": "multilingual USE v3 (frozen)",
            "audio": "Whisper tiny.en encoder, CTranslate2 (frozen)",
        },
        "epochs": epochs,
        "recall": results,
        "english_minilm_moe": english_results,
        "speech": spoken if table.audio is not None else None,
        "zero_shot_category": zero_shot,
        "sounds": {"retrieval": sound_results, "zero_shot": sound_zero_shot} if sound_results else None,
        "espeak_speech": espeak_results or None,
        "graph": graph_results,
        "motion": (
            {
                "corpus": str(mocap.root),
                "windows": {s: len(motions.items(s)) for s in ("train", "test")},
                "retrieval": motion_results,
                "queries": pictures,
            }
            if motion_results
            else None
        ),
        "matryoshka": {"dims": list(MATRYOSHKA_DIMS), **matryoshka_results},
        "expert_usage": {m: c.tolist() for m, c in usage.items()},
        "timings": {key: round(value, 1) for key, value in timings.items()},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False))
    write_report(out / "report.md", splits, tables, pictures)
    print()
    print(tables)
    print(f"\nwrote {out}/ (report.md, metrics.json, plots, model/, model_matryoshka/, index/) in "
          f"{timings['total_s']:.0f} s")  # fmt: skip
    counts = ", ".join(f"{demo.modalities.count(m)} {m}" for m in dict.fromkeys(demo.modalities))
    print(f"\nSearch the held-out items ({counts}) in your browser: run\n")
    print(f"    {serve_command(out / 'model', out / 'index')}\n")
    print("and open http://127.0.0.1:8000/")
    return metrics
