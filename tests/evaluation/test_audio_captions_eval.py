"""``unibind eval clotho`` / ``unibind eval audiocaps`` on the official-layout fixtures, against a naive
re-computation of the metrics (loops over queries, sorting scores) on the same embeddings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from unibind.alignment import MoEAligner
from unibind.cli import main
from unibind.datasets.text_files import ManifestError
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, OpenClipTextEncoder, TimmAudioEncoder
from unibind.evaluation.audio_captions import audio_spec, embed_clips, read_benchmark, retrieval_metrics
from unibind.evaluation.records import read_record
from unibind.modalities import InputError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-init model with a text and an audio tower, saved."""
    torch.manual_seed(0)
    encoders = {
        "text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG),
        "audio": TimmAudioEncoder("resnet10t", n_mels=32),
    }
    model = UnifiedEmbedder(encoders, 32, MoEAligner(32, num_experts=4, top_k=2, modalities=list(encoders)))
    return model.save_pretrained(tmp_path_factory.mktemp("audio_text") / "model")


def naive_metrics(similarity: list[list[float]], owner: list[int]) -> dict[str, dict[str, float]]:
    """R@1/5/10 and mAP@10 in percent from ``similarity[caption][clip]``, written out query by query.

    Ranking: by score, highest first; a relevant item tied with an irrelevant one goes after it.
    """
    captions, clips = len(similarity), len(similarity[0])
    rows = {}
    # text -> audio: every caption, its own clip the one relevant item
    hits, ap = {1: 0, 5: 0, 10: 0}, 0.0
    for q in range(captions):
        order = sorted(range(clips), key=lambda c: (-similarity[q][c], c == owner[q]))
        rank = order.index(owner[q]) + 1
        for k in hits:
            hits[k] += rank <= k
        ap += 1.0 / rank if rank <= 10 else 0.0
    rows["text->audio"] = {**{f"R@{k}": 100.0 * n / captions for k, n in hits.items()}, "mAP@10": 100 * ap / captions}
    # audio -> text: every clip, any of its captions relevant; AP@10 divided by min(R, 10)
    hits, ap = {1: 0, 5: 0, 10: 0}, 0.0
    for c in range(clips):
        order = sorted(range(captions), key=lambda q: (-similarity[q][c], owner[q] == c))
        relevant = [owner[q] == c for q in order]
        first = relevant.index(True) + 1
        for k in hits:
            hits[k] += first <= k
        found, total = 0, 0.0
        for position, is_relevant in enumerate(relevant[:10], start=1):
            if is_relevant:
                found += 1
                total += found / position
        ap += total / min(sum(relevant), 10)
    rows["audio->text"] = {**{f"R@{k}": 100.0 * n / clips for k, n in hits.items()}, "mAP@10": 100 * ap / clips}
    return rows


def assert_rows_equal(rows: dict, expected: dict) -> None:
    """Equal up to float32 rounding (``average_precision_at_k`` sums in float32): 1e-6 percent is far below the
    smallest change one rank can make."""
    assert set(rows) == set(expected)
    for direction, values in expected.items():
        assert rows[direction] == pytest.approx(values, rel=1e-6, abs=1e-6), direction


def test_metrics_match_the_naive_loops_with_ties_and_uneven_captions() -> None:
    generator = torch.Generator().manual_seed(3)
    clips = 23
    counts = torch.randint(1, 13, (clips,), generator=generator)  # 1..12 captions: min(R, 10) matters
    owner = torch.repeat_interleave(torch.arange(clips), counts)
    # small integers: every score is exact, so ties are exact ties, and there are many
    audio = torch.randint(-2, 3, (clips, 4), generator=generator).float()
    texts = torch.randint(-2, 3, (len(owner), 4), generator=generator).float()
    texts[5] = audio[owner[5]]
    audio[7] = audio[8]
    rows = retrieval_metrics(audio, texts, owner)
    similarity = [
        [sum(t * a for t, a in zip(text, clip, strict=True)) for clip in audio.tolist()] for text in texts.tolist()
    ]
    assert_rows_equal(rows, naive_metrics(similarity, owner.tolist()))
    assert_rows_equal(retrieval_metrics(audio, texts, owner, chunk_size=4), rows)  # chunks: same numbers
    # a constant scorer gets the worst case, not a lucky order
    flat = retrieval_metrics(torch.ones(clips, 4), torch.ones(len(owner), 4), owner)
    assert flat["text->audio"]["R@1"] == 0.0
    assert flat["audio->text"]["mAP@10"] == pytest.approx(
        naive_metrics([[1.0] * clips] * len(owner), owner.tolist())["audio->text"]["mAP@10"]
    )


def run(argv: list[str]) -> int:
    return main(["eval", *argv])


def naive_on_same_embeddings(model_dir: Path, benchmark: str, data: Path, on_error: str = "raise") -> dict:
    model = UnifiedEmbedder.from_pretrained(model_dir, modalities=["text", "audio"]).eval()
    embedded = embed_clips(model, read_benchmark(benchmark, data, on_error=on_error), audio_spec(), 32, on_error)
    return naive_metrics((embedded.texts @ embedded.audio.T).tolist(), embedded.caption_clip.tolist())


def test_clotho_command_equals_naive_metrics(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "clotho.json"
    assert run(["clotho", "--data", str(FIXTURES / "clotho"), "--model", str(model_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Clotho evaluation: 3 clips, 15 captions" in printed
    assert "| text->audio | 15 | 3 |" in printed
    assert "| audio->text | 3 | 15 |" in printed
    record = read_record(out)
    assert record["benchmark"] == "clotho"
    assert record["command"].startswith("unibind eval clotho --data")
    assert set(record["metrics"]) == {"R@1", "R@5", "R@10", "mAP@10"}
    assert "LAION-CLAP" in record["metrics"]["mAP@10"]["reference"]
    assert record["data"]["files"] == 4
    assert record["data"]["version"] == "Clotho evaluation"
    assert len(record["data"]["sha256"]) == 64
    assert record["model"]["weights"]["files"] == 1
    details = record["details"]
    assert (details["clips"], details["captions"], details["captions_per_clip"]) == (3, 15, {"5": 3})
    assert details["skipped"] == 0
    assert "crop='chunks'" in details["audio_spec"]
    assert_rows_equal(record["rows"], naive_on_same_embeddings(model_dir, "clotho", FIXTURES / "clotho"))


def test_audiocaps_missing_clip_raises_or_is_skipped_and_counted(model_dir: Path, tmp_path: Path) -> None:
    argv = ["audiocaps", "--data", str(FIXTURES / "audiocaps"), "--model", str(model_dir)]
    with pytest.raises(ManifestError, match=r"test.csv, row 12: no audio for clip gone0000000_10"):
        run([*argv, "--out", str(tmp_path / "never.json")])
    assert not (tmp_path / "never.json").exists()
    out = tmp_path / "audiocaps.json"
    assert run([*argv, "--on-error", "skip", "--out", str(out)]) == 0
    record = read_record(out)
    assert record["data"]["version"] == "AudioCaps test"
    assert record["data"]["files"] == 3
    details = record["details"]
    assert (details["clips"], details["captions"], details["skipped"]) == (2, 10, 1)
    assert "gone0000000_10" in details["skip_reasons"][0]
    expected = naive_on_same_embeddings(model_dir, "audiocaps", FIXTURES / "audiocaps", on_error="skip")
    assert_rows_equal(record["rows"], expected)


def test_unreadable_and_missing_clotho_clips(model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "clotho"
    shutil.copytree(FIXTURES / "clotho", data)
    (data / "evaluation" / "rain, on a tin roof.wav").write_bytes(b"RIFF, but not audio")
    argv = ["clotho", "--data", str(data), "--model", str(model_dir)]
    with pytest.raises(InputError, match=r"clotho evaluation, clip 'rain, on a tin roof.wav'.*cannot decode"):
        run([*argv, "--out", str(tmp_path / "never.json")])
    (data / "evaluation" / "short beep.wav").unlink()
    with pytest.raises(ManifestError, match=r"row 4, field 'file_name': audio file not found: .*short beep.wav"):
        run([*argv, "--out", str(tmp_path / "never.json")])
    out = tmp_path / "skipped.json"
    assert run([*argv, "--on-error", "skip", "--out", str(out)]) == 0
    details = read_record(out)["details"]
    assert (details["clips"], details["captions"], details["skipped"]) == (1, 5, 2)
    assert any("short beep.wav" in reason for reason in details["skip_reasons"])
    assert any("rain, on a tin roof.wav" in reason for reason in details["skip_reasons"])
