"""Modality encoders: wrappers around open_clip, transformers and timm backbones.

Names are imported on first use, so that a light caller (the ONNX runtime's preprocessors) does not load
every backbone library.
"""

from __future__ import annotations

from unibind.lazy import lazy_attributes

_EXPORTS = {
    "Encoder": "unibind.encoders.base",
    "HFAudioEncoder": "unibind.encoders.hf_audio",
    "HFTextEncoder": "unibind.encoders.hf_text",
    "LogMel": "unibind.encoders.audio_frontend",
    "MotionTransformerEncoder": "unibind.encoders.motion_transformer",
    "OpenClipImageEncoder": "unibind.encoders.open_clip_towers",
    "OpenClipTextEncoder": "unibind.encoders.open_clip_towers",
    "PrecomputedFeatures": "unibind.encoders.precomputed",
    "TINY_CLIP_CFG": "unibind.encoders.open_clip_towers",
    "TimmAudioEncoder": "unibind.encoders.timm_audio",
    "TimmImageEncoder": "unibind.encoders.timm_image",
    "USEMultilingualEncoder": "unibind.encoders.use_multilingual",
    "WhisperCT2Encoder": "unibind.encoders.whisper_ct2",
    "load_timm_weights": "unibind.encoders.timm_image",
    "pool_hidden_states": "unibind.encoders.hf_text",
    "pool_windows": "unibind.encoders.audio_frontend",
    "resolve_weights": "unibind.encoders.packaged",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
