"""TMR's towers: variational text and motion encoders and the shared motion decoder.

TMR (Petrovich, Black, Varol, ICCV 2023, https://arxiv.org/abs/2305.00976; code
https://github.com/Mathux/TMR): each side is an ACTOR-style transformer VAE encoder
(https://arxiv.org/abs/2104.05670) whose learned ``mu`` and ``logvar`` tokens are read out after the
transformer; the text side runs over the frozen token states of a language model (DistilBERT in TMR). The
towers' ``forward`` gives ``mu``, so a saved model embeds with the means. One transformer decoder (the latent
as memory, sinusoidal time queries) rebuilds a motion from a latent. The losses and the training objective
are :mod:`unibind.objectives.tmr`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from unibind.encoders.hf_text import HFTextEncoder
from unibind.encoders.motion_transformer import MotionTransformerEncoder, check_motion_batch, sinusoidal_positions
from unibind.modalities import MotionBatch


class Posterior(NamedTuple):
    """A diagonal Gaussian ``N(mu, exp(logvar))``: ``mu [B, D]``, ``logvar [B, D]``."""

    mu: torch.Tensor
    logvar: torch.Tensor


# -- sampling and losses ---------------------------------------------------------------------------


def sample_latent(posterior: Posterior, fact: float = 1.0) -> torch.Tensor:
    """``z = mu + fact * eps * exp(logvar / 2)``, ``eps ~ N(0, I)``: ``[B, D]`` (the reparameterisation
    trick, Kingma & Welling 2014, https://arxiv.org/abs/1312.6114; Mathux/TMR ``TEMOS.encode``)."""
    return posterior.mu + fact * torch.randn_like(posterior.mu) * (0.5 * posterior.logvar).exp()


def standard_normal_like(posterior: Posterior) -> Posterior:
    """``N(0, I)`` of ``posterior``'s shape (``mu = 0``, ``logvar = 0``)."""
    return Posterior(torch.zeros_like(posterior.mu), torch.zeros_like(posterior.logvar))


class TMRMotionEncoder(MotionTransformerEncoder):
    """The motion tower with TMR's variational head: ``MotionBatch`` -> ``mu [B, width]`` (:meth:`posterior`
    gives ``mu`` and ``logvar``).

    :class:`~unibind.encoders.MotionTransformerEncoder` (frame embedding, sinusoidal positions, pre-norm
    transformer under a key-padding mask) with a second learned token: its ``cls`` token reads out ``mu`` and
    ``logvar_token`` reads out ``logvar`` (TMR's ``ACTORStyleEncoder`` with ``vae: true``, Mathux/TMR
    ``src/model/actor.py``), so a plain motion tower's weights load into it (``strict=False``). TMR uses the
    same encoder over the text side's token states; :class:`TMRTextEncoder` does too.

    Args: as :class:`~unibind.encoders.MotionTransformerEncoder` (TMR: width 256, depth 6, 4 heads, ff 1024,
    dropout 0.1).
    """

    def __init__(
        self,
        num_features: int = 263,
        width: int = 256,
        depth: int = 6,
        heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        max_frames: int = 1024,
    ) -> None:
        super().__init__(num_features, width, depth, heads, ff_dim, dropout, max_frames)
        self.logvar_token = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.logvar_norm = nn.LayerNorm(width)
        # two read-out tokens before the frames
        self.register_buffer("positions", sinusoidal_positions(max_frames + 2, width), persistent=False)

    def posterior_of(self, features: torch.Tensor, mask: torch.Tensor) -> Posterior:
        """``mu, logvar [B, width]`` of ``features [B, T, num_features]`` under ``mask [B, T]`` (True: real)."""
        mask = mask.bool()
        rows = features.shape[0]
        tokens = torch.cat(
            [self.cls.expand(rows, -1, -1), self.logvar_token.expand(rows, -1, -1), self.embed(features)], dim=1
        )
        tokens = tokens + self.positions[: tokens.shape[1]]
        keep = torch.cat([mask.new_ones(rows, 2), mask], dim=1)
        out = self.transformer(tokens, src_key_padding_mask=~keep)
        return Posterior(self.norm(out[:, 0]), self.logvar_norm(out[:, 1]))

    def posterior(self, batch: MotionBatch) -> Posterior:
        """The checked batch's posterior (see :meth:`posterior_of`)."""
        features, mask = batch.features, batch.mask.bool()
        check_motion_batch(features, mask, self.num_features, self.max_frames)
        return self.posterior_of(features, mask)

    def forward(self, batch: MotionBatch) -> torch.Tensor:
        """``mu [B, width]``: the embedding at inference, as TMR retrieves with the means."""
        return self.posterior(batch).mu

    def export_forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mu [B, width]`` of checked ``features [B, T, F]`` and ``mask [B, T]`` (the ONNX graph's forward)."""
        return self.posterior_of(features, mask).mu


class TMRTextEncoder(HFTextEncoder):
    """``list[str]`` -> ``mu [B, width]``: a frozen transformers language model's token states through a
    :class:`TMRMotionEncoder`-style VAE encoder (TMR: DistilBERT's ``last_hidden_state`` with its attention
    mask, Mathux/TMR ``src/model/text_encoder.py``, into ``ACTORStyleEncoder(nfeats=768)``).

    The language model is frozen (no gradients, always in eval mode); the VAE encoder (``vae``) trains.
    Saved and rebuilt like :class:`~unibind.encoders.HFTextEncoder` (tokenizer and config in the assets,
    every weight in the model's safetensors).

    Args:
        model_name_or_path: hub id, local directory or ``package:NAME`` of the language model
            (TMR: ``distilbert-base-uncased``).
        width, depth, heads, ff_dim, dropout: the VAE encoder's sizes (TMR: 256, 6, 4, 1024, 0.1).
        instruction, max_length, trust_remote_code, load_weights: as :class:`~unibind.encoders.HFTextEncoder`;
            ``max_length`` also bounds the VAE encoder's positions.
    """

    def __init__(
        self,
        model_name_or_path: str,
        width: int = 256,
        depth: int = 6,
        heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        instruction: str = "",
        max_length: int = 256,
        trust_remote_code: bool = False,
        load_weights: bool = True,
    ) -> None:
        super().__init__(model_name_or_path, "mean", instruction, max_length, trust_remote_code, load_weights)
        self.model.requires_grad_(False)
        self.vae = TMRMotionEncoder(self.width, width, depth, heads, ff_dim, dropout, max_frames=max_length)
        self.width = width
        self.model.eval()

    def train(self, mode: bool = True) -> TMRTextEncoder:
        """Train mode for the VAE encoder only: the language model stays in eval mode."""
        super().train(mode)
        self.model.eval()
        return self

    def token_states(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen model's ``last_hidden_state [B, L, hidden]`` and ``attention_mask [B, L]`` (bool)."""
        device = next(self.parameters()).device
        tokens = {key: value.to(device) for key, value in self.tokenize(texts).items()}
        with torch.no_grad():
            hidden = self.model(**tokens).last_hidden_state
        return hidden, tokens["attention_mask"].bool()

    def posterior(self, texts: list[str]) -> Posterior:
        """``mu, logvar [B, width]`` of ``texts``."""
        hidden, mask = self.token_states(texts)
        return self.vae.posterior(MotionBatch(hidden, mask))

    def forward(self, batch: list[str], max_length: int | None = None) -> torch.Tensor:
        """``mu [B, width]`` (``max_length`` is refused: the VAE encoder's positions are fixed)."""
        if max_length is not None:
            raise ValueError("TMRTextEncoder truncates to its own max_length")
        return self.posterior(batch).mu

    def export_forward(self, *tokens: torch.Tensor) -> torch.Tensor:
        """``mu [B, width]`` of the tokenizer's tensors, in the order :meth:`tokenize` gives them."""
        names = tuple(self.tokenize([self.instruction + "a"]).keys())
        named = dict(zip(names, tokens, strict=True))
        hidden = self.model(**named).last_hidden_state
        return self.vae.posterior_of(hidden, named["attention_mask"]).mu


class TMRMotionDecoder(nn.Module):
    """``z [B, D]`` and ``mask [B, T]`` -> motion ``[B, T, num_features]`` (zero on padded frames).

    TMR's ``ACTORStyleDecoder`` (Mathux/TMR ``src/model/actor.py``): time queries are sinusoidal positions
    (zeros plus the positional encoding), the latent is the one-element memory of a transformer decoder, and
    a linear layer maps each frame back to features. Pre-norm layers with a final LayerNorm, like the
    encoders here (TMR: post-norm).

    Args:
        num_features: per-frame output size (HumanML3D 263, KIT-ML 251).
        width: latent and model width (TMR: 256); depth, heads, ff_dim, dropout: TMR 6, 4, 1024, 0.1.
        max_frames: the longest motion decoded.
    """

    def __init__(
        self,
        num_features: int = 263,
        width: int = 256,
        depth: int = 6,
        heads: int = 4,
        ff_dim: int = 1024,
        dropout: float = 0.1,
        max_frames: int = 1024,
    ) -> None:
        super().__init__()
        self.num_features, self.width, self.max_frames = num_features, width, max_frames
        self.register_buffer("positions", sinusoidal_positions(max_frames, width), persistent=False)
        layer = nn.TransformerDecoderLayer(
            width, heads, ff_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerDecoder(layer, depth)
        self.norm = nn.LayerNorm(width)
        self.output = nn.Linear(width, num_features)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        rows, frames = mask.shape
        if frames > self.max_frames:
            raise ValueError(f"{frames} frames exceed the decoder's max_frames={self.max_frames}")
        queries = self.positions[:frames].unsqueeze(0).repeat(rows, 1, 1)
        out = self.transformer(queries, z.unsqueeze(1), tgt_key_padding_mask=~mask)
        return self.output(self.norm(out)).masked_fill(~mask.unsqueeze(-1), 0.0)
