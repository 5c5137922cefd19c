"""Text preprocessors: strings -> token tensors of a transformers or open_clip tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unibind.encoders.preprocessing.base import DynamicAxes, Preprocessor
from unibind.modalities import (
    ModalitySpec,
    TextSpec,
)


class HFTokens(Preprocessor):
    """``list[str]`` -> token tensors ``[B, T]`` of a transformers tokenizer (:class:`HFTextEncoder`).

    Args:
        tokenizer: a transformers tokenizer.
        instruction: prefix put before every text.
        max_length: tokens per text after truncation.
        input_names: the tokenizer outputs the model takes, e.g. ``input_ids``, ``token_type_ids``,
            ``attention_mask``.
    """

    kind = "hf_tokenizer"

    def __init__(self, tokenizer: Any, instruction: str, max_length: int, input_names: tuple[str, ...]) -> None:
        self.tokenizer, self.instruction, self.max_length = tokenizer, instruction, max_length
        self.input_names = tuple(input_names)

    def __call__(self, batch: list[str]) -> dict[str, torch.Tensor]:
        texts = [self.instruction + text for text in batch]
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {name: tokens[name].long() for name in self.input_names}

    def dynamic_axes(self) -> DynamicAxes:
        return {name: {0: "batch", 1: "sequence"} for name in self.input_names}

    def default_spec(self) -> ModalitySpec:
        return TextSpec()

    def config(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "max_length": self.max_length, "input_names": list(self.input_names)}

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> HFTokens:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(tokenizer, config["instruction"], int(config["max_length"]), tuple(config["input_names"]))


class ClipTokens(Preprocessor):
    """``list[str]`` -> ``input_ids [B, context_length]`` of an open_clip tokenizer (:class:`OpenClipTextEncoder`).

    Args:
        model_name: the open_clip model whose tokenizer to use, or None for CLIP's ``SimpleTokenizer``.
        context_length: tokens per text (open_clip pads every text to it).
        tokenizer: the tokenizer itself when already built.
    """

    kind = "open_clip_tokenizer"
    input_names = ("input_ids",)

    def __init__(self, model_name: str | None, context_length: int, tokenizer: Any = None) -> None:
        self.model_name, self.context_length = model_name, context_length
        if tokenizer is None:
            import open_clip

            if model_name is not None:
                tokenizer = open_clip.get_tokenizer(model_name, context_length=context_length)
            else:
                tokenizer = open_clip.SimpleTokenizer(context_length=context_length)
        self.tokenizer = tokenizer

    def __call__(self, batch: list[str]) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokenizer(list(batch)).long()}

    def dynamic_axes(self) -> DynamicAxes:
        return {"input_ids": {0: "batch"}}

    def default_spec(self) -> ModalitySpec:
        return TextSpec()

    def config(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "context_length": self.context_length}

    @classmethod
    def from_config(cls, config: dict[str, Any], folder: Path) -> ClipTokens:
        return cls(config["model_name"], int(config["context_length"]))
