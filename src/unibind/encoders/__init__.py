"""Modality encoders: wrappers around open_clip, transformers and timm backbones."""

from unibind.encoders.audio_frontend import LogMel, pool_windows
from unibind.encoders.base import Encoder
from unibind.encoders.hf_audio import HFAudioEncoder
from unibind.encoders.hf_text import HFTextEncoder, pool_hidden_states
from unibind.encoders.motion_transformer import MotionTransformerEncoder
from unibind.encoders.open_clip_towers import TINY_CLIP_CFG, OpenClipImageEncoder, OpenClipTextEncoder
from unibind.encoders.packaged import resolve_weights
from unibind.encoders.precomputed import PrecomputedFeatures
from unibind.encoders.timm_audio import TimmAudioEncoder
from unibind.encoders.timm_image import TimmImageEncoder, load_timm_weights
from unibind.encoders.use_multilingual import USEMultilingualEncoder
from unibind.encoders.whisper_ct2 import WhisperCT2Encoder

__all__ = [
    "TINY_CLIP_CFG",
    "Encoder",
    "HFAudioEncoder",
    "HFTextEncoder",
    "LogMel",
    "MotionTransformerEncoder",
    "OpenClipImageEncoder",
    "OpenClipTextEncoder",
    "PrecomputedFeatures",
    "TimmAudioEncoder",
    "TimmImageEncoder",
    "USEMultilingualEncoder",
    "WhisperCT2Encoder",
    "load_timm_weights",
    "pool_hidden_states",
    "pool_windows",
    "resolve_weights",
]
