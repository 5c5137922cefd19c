"""The quickstart's last stage: its result tables, ``metrics.json`` and ``report.md``, and what it logs at the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from unibind.quickstart.demo import serve_command
from unibind.quickstart.outputs import splits_of
from unibind.quickstart.report import (
    english_tower_line,
    espeak_table,
    graph_table,
    markdown_tables,
    matryoshka_table,
    motion_table,
    sounds_table,
    speech_table,
    zero_shot_table,
)
from unibind.quickstart.scores import CATEGORY_PROMPT
from unibind.quickstart.state import Quickstart
from unibind.quickstart.train import MATRYOSHKA_DIMS

log = logging.getLogger(__name__)
TOWERS = {
    "image": "tf_efficientnet_lite0 (ImageNet, frozen)",
    "text": "multilingual USE v3 (frozen)",
    "audio": "Whisper tiny.en encoder, CTranslate2 (frozen)",
}


def result_tables(run: Quickstart) -> str:
    """Every table the run has rows for, in markdown, in the report's order."""
    results, motions = run.results, run.motions
    blocks = [markdown_tables(results.recall)]
    if run.table.audio is not None:
        blocks.append(speech_table(results.speech))
    blocks.append(zero_shot_table(results.zero_shot, CATEGORY_PROMPT))
    if results.sounds:
        blocks.append(sounds_table(results.sounds, results.sounds_zero_shot))
    if results.espeak:
        blocks.append(espeak_table(results.espeak))
    if results.graph is not None:
        blocks.append(graph_table(results.graph))
    if results.motion:
        blocks.append(motion_table(results.motion, len(motions.items("test")), len(set(motions.group.tolist()))))
    if results.english_minilm is not None:
        blocks.append(english_tower_line(results.english_minilm, results.recall["moe"]["en"]))
    matryoshka = results.matryoshka
    blocks.append(matryoshka_table(matryoshka["trained_at_full_size"], matryoshka["matryoshka"]))
    return "\n\n".join(blocks)


def sound_corpus_metrics(run: Quickstart) -> dict[str, Any] | None:
    """Where the labelled sounds are and how many clips each split holds (``None`` without them)."""
    if run.sounds is None:
        return None
    clips = {split: len(run.sounds.items(split)) for split in ("train", "val", "test")}
    return {"root": str(run.sound_corpus.root), "clips": clips}


def motion_metrics(run: Quickstart) -> dict[str, Any] | None:
    """The mocap corpus, its windows per split, the motion rows and the MoE's top windows per query."""
    if not run.results.motion:
        return None
    return {
        "corpus": str(run.mocap.root),
        "windows": {split: len(run.motions.items(split)) for split in ("train", "test")},
        "retrieval": run.results.motion,
        "queries": run.results.motion_queries,
    }


def metrics_of(run: Quickstart) -> dict[str, Any]:
    """``metrics.json``: the corpora, towers, every result row, expert usage and the stages' timings."""
    table, results = run.table, run.results
    return {
        "corpus": {
            "root": str(run.corpus.root),
            "items": len(table.rows),
            "splits": splits_of(table),
            "languages": results.languages,
        },
        "sound_corpus": sound_corpus_metrics(run),
        "towers": dict(TOWERS),
        "epochs": run.options.epochs,
        "recall": results.recall,
        "english_minilm_moe": results.english_minilm,
        "speech": results.speech if table.audio is not None else None,
        "zero_shot_category": results.zero_shot,
        "sounds": {"retrieval": results.sounds, "zero_shot": results.sounds_zero_shot} if results.sounds else None,
        "espeak_speech": results.espeak or None,
        "graph": results.graph,
        "motion": motion_metrics(run),
        "matryoshka": {"dims": list(MATRYOSHKA_DIMS), **results.matryoshka},
        "expert_usage": {m: c.tolist() for m, c in results.expert_usage.items()},
        "timings": {key: round(value, 1) for key, value in run.timings.items()},
    }


def write_report(path: Path, splits: dict[str, int], tables: str, pictures: list[dict] | None = None) -> None:
    """``report.md``: the tables, the plots and, where made, the top held-out motions per text query."""
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


def report(run: Quickstart) -> None:
    """Write ``metrics.json`` (kept as ``run.metrics``) and ``report.md``; log the tables and how to search."""
    out = run.options.out
    tables = result_tables(run)
    run.metrics = metrics_of(run)
    (out / "metrics.json").write_text(json.dumps(run.metrics, indent=2, ensure_ascii=False))
    write_report(out / "report.md", splits_of(run.table), tables, run.results.motion_queries)
    log.info("\n%s", tables)
    wrote = "report.md, metrics.json, plots, model/, model_matryoshka/, index/"
    log.info("\nwrote %s/ (%s) in %.0f s", out, wrote, run.timings["total_s"])
    counts = ", ".join(f"{run.demo.modalities.count(m)} {m}" for m in dict.fromkeys(run.demo.modalities))
    log.info("\nSearch the held-out items (%s) in your browser: run\n", counts)
    log.info("    %s\n", serve_command(out / "model", out / "index"))
    log.info("and open http://127.0.0.1:8000/")
