"""``unibind quickstart``: the emoji corpus, frozen pretrained towers, and three alignments compared per language.

The run is a list of stages (:data:`STAGES`), run in order on one :class:`~unibind.quickstart.state.Quickstart`
by :func:`~unibind.quickstart.stages.run_stages`: data and features (:mod:`~unibind.quickstart.prepare`),
training (:mod:`~unibind.quickstart.train`), evaluation (:mod:`~unibind.quickstart.scores`), plots and saved
models (:mod:`~unibind.quickstart.outputs`), the demo index, then the report (:mod:`~unibind.quickstart.summary`).
"""

from __future__ import annotations

from pathlib import Path

from unibind.quickstart.demo import demo_index
from unibind.quickstart.outputs import plot_results, save_models
from unibind.quickstart.prepare import DATA
from unibind.quickstart.scores import SCORES
from unibind.quickstart.stages import Stage, run_stages, stage_list
from unibind.quickstart.state import Options, Quickstart
from unibind.quickstart.summary import report
from unibind.quickstart.train import train_aligners

EVALUATION = (*SCORES, Stage("plots", plot_results), Stage("saved models", save_models))
STAGES = (
    stage_list(
        "quickstart",
        (
            *DATA,
            Stage("training", train_aligners, "training_s"),
            stage_list("evaluation", EVALUATION, "evaluation_s"),
            Stage("demo index", demo_index, "demo_index_s"),
        ),
        "total_s",
    ),
    Stage("report", report),
)


def run(options: Options) -> Quickstart:
    """Run every stage with ``options``; the returned run holds what each made (``metrics``: ``metrics.json``)."""
    options.out.mkdir(parents=True, exist_ok=True)
    quickstart = Quickstart(options)
    run_stages(quickstart, STAGES)
    return quickstart


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

    Returns:
        The contents of ``metrics.json``.
    """
    options = Options(
        out=Path(out),
        corpus_dir=corpus_dir,
        epochs=epochs,
        progress=progress,
        english_minilm=english_minilm,
        with_speech=with_speech,
        with_sounds=with_sounds,
        sounds_dir=sounds_dir,
        with_motion=with_motion,
        motion_dir=motion_dir,
        with_graph=with_graph,
        graph_epochs=graph_epochs,
        index_backend=index_backend,
    )
    return run(options).metrics
