from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from unibind.modalities import AudioSpec, InputError
from unibind.modalities.audio import SilentAudioWarning


def tone(freq: float, seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def peak_hz(waveform: torch.Tensor, rate: int) -> float:
    spectrum = torch.fft.rfft(waveform).abs()
    return float(torch.argmax(spectrum)) * rate / waveform.shape[0]


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_reads_formats_and_mixes_stereo_to_mono(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"tone{suffix}"
    soundfile.write(path, tone(440, 1.0, 16000, channels=2), 16000)
    out = AudioSpec(16000, clip_seconds=1.0).load(path)
    assert out.shape == (1, 16000)
    assert abs(peak_hz(out[0], 16000) - 440) <= 2


@pytest.mark.parametrize(("source_rate", "target_rate"), [(44100, 16000), (8000, 16000), (22050, 48000)])
def test_resampling_keeps_the_frequency(source_rate: int, target_rate: int) -> None:
    spec = AudioSpec(target_rate, clip_seconds=1.0)
    out = spec.waveform((tone(1000, 1.0, source_rate), source_rate))
    assert out.shape[0] == target_rate
    assert abs(peak_hz(out, target_rate) - 1000) <= 2


def test_crop_policies() -> None:
    rate = 1000
    ramp = (np.arange(2500, dtype=np.float32) + 1) / 2500
    center = AudioSpec(rate, clip_seconds=1.0, crop="center").load((ramp, rate))
    assert center.shape == (1, 1000)
    assert center[0, 0] == pytest.approx(ramp[750])
    chunks = AudioSpec(rate, clip_seconds=1.0, crop="chunks").load((ramp, rate))
    assert chunks.shape == (3, 1000)
    assert chunks[2, 499] == pytest.approx(ramp[2499])
    assert chunks[2, 500:].abs().sum() == 0  # zero padding after the end
    torch.manual_seed(0)
    starts = {float(AudioSpec(rate, clip_seconds=1.0, crop="random").load((ramp, rate))[0, 0]) for _ in range(10)}
    assert len(starts) > 1
    short = AudioSpec(rate, clip_seconds=1.0).load((ramp[:300], rate))
    assert short.shape == (1, 1000)
    assert short[0, 300:].abs().sum() == 0


def test_collate_records_clip_of_each_window() -> None:
    spec = AudioSpec(1000, clip_seconds=1.0, crop="chunks")
    a, b = spec.load((tone(5, 2.5, 1000), 1000)), spec.load((tone(5, 0.5, 1000), 1000))
    batch = spec.collate([a, b])
    assert batch.waveforms.shape == (4, 1000)
    assert batch.clip_index.tolist() == [0, 0, 0, 1]
    assert batch.num_clips == 2
    dummy = spec.dummy_batch(3)
    assert dummy.waveforms.shape == (3, 1000)
    assert dummy.num_clips == 3


def test_bad_audio_is_named(tmp_path: Path) -> None:
    spec = AudioSpec(16000, min_seconds=0.5, resample=True)
    cases = {
        "missing.wav": "audio file not found",
        "corrupt.wav": "cannot decode audio",
        "empty.wav": "audio is empty",
        "short.wav": "shorter than min_seconds=0.5",
        "nan.wav": "NaN or infinite",
    }
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00junk")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    soundfile.write(tmp_path / "short.wav", tone(440, 0.1, 16000), 16000)
    nan = tone(440, 1.0, 16000)
    nan[10] = np.nan
    soundfile.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    for name, message in cases.items():
        with pytest.raises(InputError, match=message) as info:
            spec.load(tmp_path / name, item=f"row 7 ({name})")
        assert f"row 7 ({name})" in str(info.value)


def test_errors_name_the_path_when_no_item_is_given(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    soundfile.write(path, tone(440, 0.01, 16000), 16000)
    with pytest.raises(InputError, match=rf"^{path}: audio lasts"):
        AudioSpec().load(path)
    with pytest.raises(InputError, match=rf"^{path}: audio lasts"):
        AudioSpec().load(str(path))


def test_silent_audio_is_accepted_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    with pytest.warns(SilentAudioWarning, match=f"{path}: audio is all zeros"):
        windows = AudioSpec(16000, clip_seconds=1.0).load(path)
    assert windows.shape == (1, 16000)
    assert not windows.any()


@pytest.mark.parametrize("rate", [1, 50, 999, 768_001, 10**9])
def test_absurd_sample_rates_are_refused_before_resampling(tmp_path: Path, rate: int) -> None:
    samples = tone(440, 0.5, 16000)[:50] if rate < 1000 else np.zeros(4, dtype=np.float32) + 0.1
    path = tmp_path / f"rate-{rate}.wav"
    soundfile.write(path, samples, rate)
    for raw in (path, (samples, rate)):
        with pytest.raises(InputError, match=rf"at {rate} Hz; expected a sample rate between 1000 and 768000 Hz"):
            AudioSpec().load(raw, item="clip 3")


def test_rate_limits_are_settings() -> None:
    samples = 0.1 * np.ones(400, dtype=np.float32)
    assert AudioSpec(16000, clip_seconds=0.1, min_rate=100, min_seconds=0.01).load((samples, 400)).shape == (1, 1600)
    with pytest.raises(ValueError, match="min_rate <= sample_rate"):
        AudioSpec(16000, max_rate=8000)
    with pytest.raises(InputError, match="whole number of Hz"):
        AudioSpec().load((samples, 16000.5))
    with pytest.raises(InputError, match="must be numbers"):
        AudioSpec().load((["a", "b"], 16000))


def test_wrong_rate_without_resampling(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "a.wav", tone(440, 1.0, 8000), 8000)
    with pytest.raises(InputError, match="at 8000 Hz, expected 16000 Hz"):
        AudioSpec(16000, resample=False).load(tmp_path / "a.wav", item="a.wav")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="crop must be"):
        AudioSpec(crop="middle")
    with pytest.raises(InputError, match="file path or a"):
        AudioSpec().load(42)
