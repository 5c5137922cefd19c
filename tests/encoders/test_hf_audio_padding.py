"""Zero padding (a clip shorter than the window, the last chunk) does not change HF audio embeddings.

Tiny random-init wav2vec2 (layer-norm and group-norm feature encoders), Whisper encoder and CLAP audio tower.
Tolerance: 1e-5 absolute on embeddings of size ~1. The window cut to its real length gives the extractor the very
same array padded or not (0.0 difference seen); in a mixed batch the same rows go through padded matmuls and
masked sums of other shapes, which moves the last bits (2e-7 seen), while padding leaking into an embedding moves
it by 1e-2 to 1 (a pre-fix padded wav2vec2 window: cosine 0.3 to the unpadded one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from unibind.encoders import HFAudioEncoder
from unibind.encoders.preprocessing import HFAudioFeatures, load_preprocessor
from unibind.modalities import AudioBatch, AudioSpec
from unibind.modalities.audio import real_lengths

RATE = 16000
ATOL = 1e-5
SHORT, LONG = 5000, 26000  # samples: one padded window; two windows of WINDOW, the last one padded
WINDOW = 16000
MODELS = ["wav2vec2-layer", "wav2vec2-group", "whisper", "clap"]


def _wav2vec2(path: Path, norm: str) -> Path:
    """Layer norm: the stable-layer-norm encoder, an extractor that returns the mask (like wav2vec2-large-lv60);
    group norm: an extractor that does not (like wav2vec2-base)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
        conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        feat_extract_norm=norm, do_stable_layer_norm=norm == "layer",
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=RATE, return_attention_mask=norm == "layer").save_pretrained(path)
    return path


def _whisper(path: Path) -> Path:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    config = WhisperConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        decoder_start_token_id=3, suppress_tokens=[], begin_suppress_tokens=[],
    )  # fmt: skip
    WhisperModel(config).save_pretrained(path)
    WhisperFeatureExtractor().save_pretrained(path)
    return path


def _clap(path: Path) -> Path:
    """Unfused (one mel view, ``truncation="rand_trunc"``): a fused extractor marks a random window of a batch
    without long clips as long, so the same window embeds differently in different batches."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    audio = {"depths": [1, 1], "num_attention_heads": [1, 2], "patch_embeds_hidden_size": 8, "hidden_size": 16,
             "projection_dim": 8, "window_size": 8, "enable_fusion": False}  # fmt: skip
    text = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 32, "projection_dim": 8}  # fmt: skip
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=8)).save_pretrained(path)
    ClapFeatureExtractor(truncation="rand_trunc").save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hf_audio_padding")
    return {
        "wav2vec2-layer": _wav2vec2(root / "layer", "layer"),
        "wav2vec2-group": _wav2vec2(root / "group", "group"),
        "whisper": _whisper(root / "whisper"),
        "clap": _clap(root / "clap"),
    }


def _clip(samples: int, seed: int) -> np.ndarray:
    return torch.randn(samples, generator=torch.Generator().manual_seed(seed)).numpy()


def _batch(encoder: HFAudioEncoder, clips: list[np.ndarray], window: int) -> AudioBatch:
    """The clips at the encoder's rate in windows of ``window`` samples (``crop="chunks"``)."""
    rate = encoder.sample_rate
    spec = AudioSpec(rate, clip_seconds=window / rate, crop="chunks")
    return spec.collate([spec.load((clip, rate)) for clip in clips])


def _embed(encoder: HFAudioEncoder, clips: list[np.ndarray], window: int) -> torch.Tensor:
    with torch.no_grad():
        return encoder(_batch(encoder, clips, window))


@pytest.mark.parametrize("name", MODELS)
def test_padding_does_not_change_the_embedding(model_dirs: dict[str, Path], name: str) -> None:
    encoder = HFAudioEncoder(str(model_dirs[name])).eval()
    short, long = _clip(SHORT, 1), _clip(LONG, 2)
    unpadded = _embed(encoder, [short], SHORT)
    torch.testing.assert_close(_embed(encoder, [short], 2 * SHORT), unpadded, atol=ATOL, rtol=0)
    mixed = _embed(encoder, [short, long], WINDOW)  # the short clip padded, beside the long one's 2 windows
    torch.testing.assert_close(mixed[:1], unpadded, atol=ATOL, rtol=0)
    torch.testing.assert_close(mixed[1:], _embed(encoder, [long], WINDOW), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["wav2vec2-layer", "wav2vec2-group"])
def test_wav2vec2_embeds_a_padded_window_as_transformers_embeds_it_alone(
    model_dirs: dict[str, Path], name: str
) -> None:
    """The mean of transformers' own last hidden states on the unpadded clip (no mask: nothing is padded), so
    the valid-frame group norm adds nothing but the padding's removal."""
    from transformers import AutoFeatureExtractor, Wav2Vec2Model

    model = Wav2Vec2Model.from_pretrained(model_dirs[name]).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dirs[name])
    short = _clip(SHORT, 1)
    with torch.no_grad():
        values = extractor([short], sampling_rate=RATE, return_tensors="pt").input_values
        reference = model(values).last_hidden_state.mean(dim=1)
    encoder = HFAudioEncoder(str(model_dirs[name])).eval()
    assert encoder.pooling == "samples"
    torch.testing.assert_close(_embed(encoder, [short], 3 * SHORT), reference, atol=ATOL, rtol=0)


def test_whisper_averages_only_the_frames_of_real_audio(model_dirs: dict[str, Path]) -> None:
    """5,000 samples: ceil(5000 / 160) = 32 mel frames, 16 encoder frames out of the 1,500 of its 30 s."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    encoder_model = WhisperModel.from_pretrained(model_dirs["whisper"]).get_encoder().eval()
    extractor = WhisperFeatureExtractor.from_pretrained(model_dirs["whisper"])
    short = _clip(SHORT, 1)
    with torch.no_grad():
        hidden = encoder_model(extractor([short], sampling_rate=RATE, return_tensors="pt").input_features)
        reference = hidden.last_hidden_state[:, :16].mean(dim=1)
    encoder = HFAudioEncoder(str(model_dirs["whisper"])).eval()
    torch.testing.assert_close(_embed(encoder, [short], WINDOW), reference, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_export_split_equals_forward(model_dirs: dict[str, Path], name: str, tmp_path: Path) -> None:
    """``export_forward(*preprocessor(batch))`` (the ONNX graph's function, with a preprocessor rebuilt from its
    saved config) equals ``forward`` on a batch with padded windows."""
    encoder = HFAudioEncoder(str(model_dirs[name])).eval()
    batch = _batch(encoder, [_clip(SHORT, 1), _clip(LONG, 2)], WINDOW)
    preprocessor = encoder.export_preprocessor()
    preprocessor.save(tmp_path)
    rebuilt = load_preprocessor(preprocessor.describe(), tmp_path)
    assert isinstance(rebuilt, HFAudioFeatures)
    assert rebuilt.config() == preprocessor.config()
    tensors = rebuilt(batch)
    assert tuple(tensors) == rebuilt.input_names
    assert ("lengths" in tensors) == (name == "whisper")
    with torch.no_grad():
        torch.testing.assert_close(encoder.export_forward(*tensors.values()), encoder(batch), atol=ATOL, rtol=0)


def test_preprocessor_of_an_older_export_passes_windows_whole(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """A config without the padding settings (exported before them) rebuilds the old preprocessing."""
    HFAudioEncoder(str(model_dirs["wav2vec2-layer"])).export_preprocessor().save(tmp_path)
    old = {"kind": "hf_feature_extractor", "sample_rate": RATE, "keys": ["input_values"]}
    rebuilt = load_preprocessor(old, tmp_path)
    spec = AudioSpec(RATE, clip_seconds=1.0)
    tensors = rebuilt(spec.collate([spec.load((_clip(SHORT, 1), RATE))]))
    assert list(tensors) == ["input_values", "pool"]
    assert tensors["input_values"].shape == (1, RATE)


def test_real_lengths() -> None:
    waves = torch.zeros(4, 10)
    waves[0, :7] = 1.0
    waves[1, 2] = -0.5  # a zero inside the real audio is kept; trailing zeros are padding
    waves[3] = 0.25
    assert real_lengths(waves).tolist() == [7, 3, 1, 10]  # an all-zero row: the minimum
    assert real_lengths(waves, minimum=5).tolist() == [7, 5, 5, 10]
    assert real_lengths(waves, minimum=20).tolist() == [10, 10, 10, 10]
