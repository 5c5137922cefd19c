"""Audio loading + log-mel throughput: unibind's pipeline vs a plain soundfile + torchaudio loop.

ratio = unibind clips/s / plain clips/s (goal 1.0). Both read the same WAV files (10 s, 44.1 kHz stereo,
resampled to 16 kHz mono) and produce 64-bin log-mel spectrograms. The plain loop computes the
spectrogram clip by clip; unibind checks each clip (empty, silent, NaN, too short), batches the
windows and computes the spectrograms for the whole batch at once.

    .venv/bin/python benchmarks/audio_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT
from _common import median_seconds, report

from unibind.encoders import LogMel
from unibind.modalities import AudioSpec


def write_clips(folder: Path, count: int, seconds: float = 10.0, rate: int = 44100) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        t = np.arange(int(seconds * rate)) / rate
        left = 0.3 * np.sin(2 * np.pi * (200 + 10 * index) * t) + 0.05 * rng.standard_normal(t.size)
        path = folder / f"clip{index:03d}.wav"
        soundfile.write(path, np.stack([left, left[::-1]], axis=1), rate, subtype="PCM_16")
        paths.append(path)
    return paths


def plain(paths: list[Path], mel: AT.MelSpectrogram) -> list[torch.Tensor]:
    out = []
    for path in paths:
        samples, rate = soundfile.read(path, dtype="float32")
        waveform = torch.from_numpy(samples.mean(axis=1))
        waveform = AF.resample(waveform, rate, 16000)
        out.append(torch.log(mel(waveform) + 1e-6))
    return out


def unibind_pipeline(paths: list[Path], spec: AudioSpec, frontend: LogMel, batch_size: int = 32) -> list[torch.Tensor]:
    out = []
    for start in range(0, len(paths), batch_size):
        batch = spec.collate([spec.load(path) for path in paths[start : start + batch_size]])
        out.append(frontend(batch.waveforms))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer clips and repeats (under a minute)")
    args = parser.parse_args()
    count, repeats = (32, 3) if args.quick else (96, 5)
    spec = AudioSpec(16000, clip_seconds=10.0, crop="center")
    frontend = LogMel(16000, n_fft=400, hop_length=160, n_mels=64).eval()
    mel = AT.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=64)
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        paths = write_clips(Path(folder), count)
        reference = torch.stack(plain(paths[:2], mel))
        ours = torch.cat(unibind_pipeline(paths[:2], spec, frontend))[:, 0]
        torch.testing.assert_close(ours, reference, atol=1e-3, rtol=1e-3)  # same features
        plain_s = median_seconds(lambda: plain(paths, mel), repeats)
        ours_s = median_seconds(lambda: unibind_pipeline(paths, spec, frontend), repeats)
    print(f"{count} clips of 10 s: plain {count / plain_s:.1f} clips/s, unibind {count / ours_s:.1f} clips/s")
    report(
        "audio_pipeline",
        plain_s / ours_s,
        1.0,
        "plain soundfile + torchaudio loop, per-clip log-mel, same files, same process",
        plain_clips_per_s=round(count / plain_s, 1),
        unibind_clips_per_s=round(count / ours_s, 1),
        clips=count,
    )


if __name__ == "__main__":
    main()
