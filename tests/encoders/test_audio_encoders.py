from pathlib import Path

import pytest
import timm
import torch
import torchaudio

from unibind.alignment import DenseAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import HFAudioEncoder, LogMel, TimmAudioEncoder, pool_windows
from unibind.modalities import AudioBatch, AudioSpec


@pytest.fixture
def batch() -> AudioBatch:
    spec = AudioSpec(16000, clip_seconds=1.0, crop="chunks")
    return spec.collate([spec.load((torch.randn(24000).numpy(), 16000)), spec.load((torch.randn(8000).numpy(), 16000))])


def test_log_mel_shape_and_spec_augment() -> None:
    frontend = LogMel(16000, n_fft=400, hop_length=160, n_mels=40, freq_mask=8, time_mask=10)
    waves = torch.randn(3, 16000)
    features = frontend.eval()(waves)
    assert features.shape == (3, 1, 40, 101)  # 1 + 16000 / 160 frames
    reference = torch.log(frontend.mel(waves) + 1e-6).unsqueeze(1)
    torch.testing.assert_close(features, reference)
    masked = frontend.train()(waves)
    assert (masked == 0).any()  # masks are filled with zeros
    assert not (features == 0).any()


def test_pool_windows_averages_per_clip() -> None:
    batch = AudioBatch(torch.zeros(3, 1), torch.tensor([0, 0, 1]), 2)
    pooled = pool_windows(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), batch)
    torch.testing.assert_close(pooled, torch.tensor([[2.0, 3.0], [5.0, 6.0]]))


def test_timm_audio_encoder(batch: AudioBatch, tmp_path: Path) -> None:
    encoder = TimmAudioEncoder("resnet10t", n_mels=32, spec_augment=True)
    assert encoder.eval()(batch).shape == (2, encoder.width)
    model = UnifiedEmbedder({"audio": encoder}, 16, DenseAligner(16)).eval()
    with torch.no_grad():
        before = model({"audio": batch})["audio"]
    model.save_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(UnifiedEmbedder.from_pretrained(tmp_path)({"audio": batch})["audio"], before)


def test_timm_audio_features_equal_timm_forward(batch: AudioBatch) -> None:
    """Per clip: the mean over its windows of timm's average-pooled ``forward_features`` of ``log(mel + 1e-6)``."""
    encoder = TimmAudioEncoder("resnet10t", n_mels=32, spec_augment=True).eval()  # eval: no SpecAugment
    classifier = timm.create_model("resnet10t", in_chans=1).eval()
    loaded = classifier.load_state_dict(encoder.model.state_dict(), strict=False)
    assert loaded.missing_keys == ["fc.weight", "fc.bias"]
    assert not loaded.unexpected_keys
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=32)
    log_mel = torch.log(mel(batch.waveforms) + 1e-6).unsqueeze(1)  # [windows, 1, 32, frames]
    assert classifier.global_pool.pool_type == "avg"
    with torch.no_grad():
        features = encoder(batch)
        windows = classifier.forward_features(log_mel).mean(dim=(2, 3))  # [windows, 512]
        torch.testing.assert_close(
            windows, classifier.forward_head(classifier.forward_features(log_mel), pre_logits=True)
        )
        torch.testing.assert_close(classifier.fc(windows), classifier(log_mel))
    assert batch.clip_index.tolist() == [0, 0, 1]  # 1.5 s in two 1 s windows, 0.5 s in one
    expected = torch.stack([windows[batch.clip_index == clip].mean(0) for clip in range(batch.num_clips)])
    torch.testing.assert_close(features, expected)


def _tiny_wav2vec2(path: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
        conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor().save_pretrained(path)


def test_hf_wav2vec2_local_and_round_trip(batch: AudioBatch, tmp_path: Path) -> None:
    _tiny_wav2vec2(tmp_path / "w2v")
    encoder = HFAudioEncoder(str(tmp_path / "w2v")).eval()
    model = UnifiedEmbedder({"audio": encoder}, 16, DenseAligner(16)).eval()
    with torch.no_grad():
        before = model({"audio": batch})["audio"]
    assert before.shape == (2, 16)
    model.save_pretrained(tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(UnifiedEmbedder.from_pretrained(tmp_path / "saved")({"audio": batch})["audio"], before)


def test_hf_whisper_encoder_only(batch: AudioBatch, tmp_path: Path) -> None:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    config = WhisperConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=3, suppress_tokens=[], begin_suppress_tokens=[],
    )  # fmt: skip
    WhisperModel(config).save_pretrained(tmp_path)
    WhisperFeatureExtractor().save_pretrained(tmp_path)
    encoder = HFAudioEncoder(str(tmp_path)).eval()
    assert not hasattr(encoder.model, "decoder")
    with torch.no_grad():
        assert encoder(batch).shape == (2, 32)
