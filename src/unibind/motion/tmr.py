"""TMR in full: variational text and motion encoders, a shared motion decoder, and TMR's four losses.

TMR (Petrovich, Black, Varol, "TMR: Text-to-Motion Retrieval Using Contrastive 3D Human Motion Synthesis",
ICCV 2023, https://arxiv.org/abs/2305.00976; code https://github.com/Mathux/TMR) extends TEMOS
(https://arxiv.org/abs/2204.14109) with a contrastive loss. Each side is an ACTOR-style transformer VAE
encoder (https://arxiv.org/abs/2104.05670): learned ``mu`` and ``logvar`` tokens are prepended to the
sequence and read out after the transformer. The text side runs over the frozen token states of a language
model (DistilBERT in TMR). A latent ``z = mu + eps * sigma`` is sampled in training (``mu`` at inference),
and one transformer decoder (the latent as memory, sinusoidal time queries) rebuilds the motion from
``z_text`` and from ``z_motion``. The loss, from Mathux/TMR ``src/model/tmr.py`` ``TMR.compute_loss``::

    1.0  * recons      = SmoothL1(decode(z_text), x) + SmoothL1(decode(z_motion), x)
    1e-5 * kl          = KL(q_t || q_m) + KL(q_m || q_t) + KL(q_m || N(0, I)) + KL(q_t || N(0, I))
    1e-5 * latent      = SmoothL1(z_text, z_motion)
    0.1  * contrastive = InfoNCE(z_text, z_motion), temperature 0.1, negatives with caption similarity > 0.8
                         (on the 0..1 scale) left out

(weights, temperature and ``threshold_selfsim``: ``configs/model/tmr.yaml``, which overrides ``TMR.__init__``'s
temperature 0.7; no loss compares the two decodings with each other.)

In unibind the encoders are ordinary towers (:class:`TMRMotionEncoder`, :class:`TMRTextEncoder`) whose
``forward`` gives ``mu``, so a saved model embeds with the means; :class:`TMRObjective` is the auxiliary
objective of :class:`~unibind.training.UnibindModule` that samples, decodes and adds recons, KL and latent;
the contrastive term is the module's ``objective`` (``WeightedObjective(InfoNCELoss(...), 0.1)``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from unibind.alignment import AlignerOutput, IdentityAligner, ProjectionHead
from unibind.encoders.hf_text import HFTextEncoder
from unibind.encoders.motion_transformer import MotionTransformerEncoder, sinusoidal_positions
from unibind.modalities import MotionBatch

if TYPE_CHECKING:
    from unibind.embedder import UnifiedEmbedder

#: TMR's loss weights (Mathux/TMR ``configs/model/tmr.yaml`` ``lmd``).
TMR_WEIGHTS = {"recons": 1.0, "kl": 1.0e-5, "latent": 1.0e-5, "contrastive": 0.1}


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


def kl_divergence(q: Posterior, p: Posterior) -> torch.Tensor:
    """``KL(q || p)`` of diagonal Gaussians, averaged over rows and dimensions (a scalar), as TMR's ``KLLoss``.

    .. math::
        \\mathrm{KL} = \\tfrac12 \\Big( \\tfrac{\\sigma_q^2}{\\sigma_p^2}
            + \\tfrac{(\\mu_p - \\mu_q)^2}{\\sigma_p^2} - 1 - \\log \\tfrac{\\sigma_q^2}{\\sigma_p^2} \\Big)

    per dimension; a mean, not a sum, over the ``D`` dimensions (Mathux/TMR ``src/model/losses.py``).
    """
    log_ratio = q.logvar - p.logvar
    per_dimension = 0.5 * (log_ratio.exp() + (p.mu - q.mu).pow(2) / p.logvar.exp() - 1 - log_ratio)
    return per_dimension.mean()


def kl_loss(text: Posterior, motion: Posterior) -> torch.Tensor:
    """TMR's KL term: ``KL(t || m) + KL(m || t) + KL(m || N(0, I)) + KL(t || N(0, I))`` (``TEMOS.compute_loss``)."""
    prior = standard_normal_like(motion)
    return (
        kl_divergence(text, motion)
        + kl_divergence(motion, text)
        + kl_divergence(motion, prior)
        + kl_divergence(text, prior)
    )


def reconstruction_loss(decoded: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Smooth L1 (``beta = 1``) of ``decoded [B, T, F]`` against ``target [B, T, F]``, averaged over every
    element: padded frames (``mask [B, T]`` False) count as zero against zero, as in TMR (its decoder zeroes
    them and its batches pad with zeros; ``torch.nn.SmoothL1Loss(reduction="mean")``)."""
    keep = mask.bool().unsqueeze(-1)
    return F.smooth_l1_loss(decoded.masked_fill(~keep, 0.0), target.masked_fill(~keep, 0.0))


def latent_loss(z_text: torch.Tensor, z_motion: torch.Tensor) -> torch.Tensor:
    """Smooth L1 between the two sampled latents ``[B, D]`` (TMR's "latent" term)."""
    return F.smooth_l1_loss(z_text, z_motion)


def tmr_loss_terms(
    from_text: torch.Tensor,
    from_motion: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    text: Posterior,
    motion: Posterior,
    z_text: torch.Tensor,
    z_motion: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """TMR's unweighted ``recons``, ``kl`` and ``latent`` terms (the contrastive one is the pair objective's).

    Args:
        from_text, from_motion: the decoder's motions ``[B, T, F]`` from ``z_text`` and from ``z_motion``.
        target: the (normalised) motion ``[B, T, F]``; mask: ``[B, T]``, True on real frames.
        text, motion: the two posteriors (``[B, D]`` each); z_text, z_motion: their samples ``[B, D]``.
    """
    return {
        "recons": reconstruction_loss(from_text, target, mask) + reconstruction_loss(from_motion, target, mask),
        "kl": kl_loss(text, motion),
        "latent": latent_loss(z_text, z_motion),
    }


# -- encoders and decoder --------------------------------------------------------------------------


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
        check_sequences(features, mask, self.num_features, self.max_frames)
        return self.posterior_of(features, mask)

    def forward(self, batch: MotionBatch) -> torch.Tensor:
        """``mu [B, width]``: the embedding at inference, as TMR retrieves with the means."""
        return self.posterior(batch).mu

    def export_forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``mu [B, width]`` of checked ``features [B, T, F]`` and ``mask [B, T]`` (the ONNX graph's forward)."""
        return self.posterior_of(features, mask).mu


def check_sequences(features: torch.Tensor, mask: torch.Tensor, num_features: int, max_length: int) -> None:
    """Raise ``ValueError`` unless ``features`` is ``[B, T, num_features]`` with ``T <= max_length`` and every
    row of ``mask [B, T]`` keeps a position."""
    if features.shape[-1] != num_features:
        raise ValueError(f"expected {num_features} features per position, got {features.shape[-1]}")
    if features.shape[1] > max_length:
        raise ValueError(f"{features.shape[1]} positions exceed the maximum of {max_length}")
    if not bool(mask.any(dim=1).all()):
        raise ValueError("every sequence in the batch needs at least one unmasked position")


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


# -- the auxiliary objective -----------------------------------------------------------------------


def make_identity_head(head: ProjectionHead) -> None:
    """Set a linear ``head`` to the identity and freeze it, so that the embedding is the latent itself."""
    if head.hidden_dim is not None or head.in_dim != head.out_dim:
        raise ValueError(f"TMR needs linear heads from the latent to itself, got {head.extra_repr()}")
    linear = head.net[-1]
    with torch.no_grad():
        linear.weight.copy_(torch.eye(head.in_dim))
        linear.bias.zero_()
    linear.requires_grad_(False)


class TMRObjective(nn.Module):
    """TMR's reconstruction, KL and latent losses, as the ``auxiliary`` of :class:`~unibind.training.UnibindModule`.

    Each training step it takes both posteriors, samples ``z_text`` and ``z_motion``, decodes the batch's
    motion from each, and returns the contrasted outputs (``contrast="sample"``: the normalised samples, as
    TMR's ``compute_loss`` contrasts the latents it sampled; ``"mean"``: the means) with the weighted
    losses ``tmr_recons_loss``, ``tmr_kl_loss`` and ``tmr_latent_loss``. The module's ``objective`` adds the
    contrastive term (``WeightedObjective(InfoNCELoss(...), weight=0.1)``).

    :meth:`attach` checks the embedder and makes its text and motion heads frozen identities over an
    :class:`~unibind.alignment.IdentityAligner`, so the saved model embeds with ``normalize(mu)``.

    Args:
        decoder: the shared motion decoder (its width is the latent size).
        lambda_recons, lambda_kl, lambda_latent: TMR 1.0, 1e-5, 1e-5 (``configs/model/tmr.yaml``).
        text, motion: the modality names of the two towers.
        contrast: ``sample`` (TMR) or ``mean``: which latents the pair objective sees in training.
        fact: scale of the sampling noise (TMR's ``fact``, 1.0; 0 samples nothing, ``z = mu``, which with
            ``lambda_kl=0`` is TMR's deterministic, ``vae: false`` ablation up to the unused logvar token).
    """

    def __init__(
        self,
        decoder: TMRMotionDecoder,
        lambda_recons: float = TMR_WEIGHTS["recons"],
        lambda_kl: float = TMR_WEIGHTS["kl"],
        lambda_latent: float = TMR_WEIGHTS["latent"],
        text: str = "text",
        motion: str = "motion",
        contrast: Literal["sample", "mean"] = "sample",
        fact: float = 1.0,
    ) -> None:
        super().__init__()
        if contrast not in ("sample", "mean"):
            raise ValueError(f"contrast must be sample or mean, got {contrast!r}")
        self.decoder = decoder
        self.weights = {"recons": lambda_recons, "kl": lambda_kl, "latent": lambda_latent}
        self.text, self.motion, self.contrast, self.fact = text, motion, contrast, fact

    def attach(self, embedder: UnifiedEmbedder) -> None:
        """Check that ``embedder`` has variational text and motion towers of the decoder's width over an
        ``IdentityAligner`` that normalises, and make their heads frozen identities."""
        if not isinstance(embedder.aligner, IdentityAligner) or not embedder.aligner.normalize:
            raise ValueError(
                "TMR contrasts the latents themselves: use a normalising unibind.alignment.IdentityAligner"
            )
        for name in (self.text, self.motion):
            if name not in embedder.encoders or not hasattr(embedder.encoders[name], "posterior"):
                raise ValueError(f"TMR needs a variational {name!r} tower (TMRTextEncoder / TMRMotionEncoder)")
            encoder = embedder.encoders[name]
            if encoder.width != self.decoder.width or embedder.embed_dim != self.decoder.width:
                raise ValueError(
                    f"{name!r} tower width {encoder.width}, embed_dim {embedder.embed_dim} and decoder width "
                    f"{self.decoder.width} must be equal"
                )
            make_identity_head(embedder.heads[name])

    def forward(
        self, embedder: UnifiedEmbedder, batch: dict[str, Any]
    ) -> tuple[dict[str, AlignerOutput], dict[str, torch.Tensor]]:
        """``(outputs, losses)`` for a collated batch whose every item has a caption and a motion; ``({}, {})``
        when the batch lacks either modality."""
        inputs = batch["inputs"]
        if self.text not in inputs or self.motion not in inputs:
            return {}, {}
        texts, motions = inputs[self.text], inputs[self.motion]
        if not len(texts) == len(motions) == len(batch["ids"]):
            raise ValueError("TMR needs a caption and a motion for every item of the batch")
        text = embedder.encoders[self.text].posterior(texts)
        motion = embedder.encoders[self.motion].posterior(motions)
        z_text, z_motion = sample_latent(text, self.fact), sample_latent(motion, self.fact)
        mask = motions.mask.bool()
        from_text, from_motion = self.decoder(z_text, mask), self.decoder(z_motion, mask)
        terms = tmr_loss_terms(from_text, from_motion, motions.features, mask, text, motion, z_text, z_motion)
        losses = {f"tmr_{key}_loss": self.weights[key] * value for key, value in terms.items()}
        contrasted = (z_text, z_motion) if self.contrast == "sample" else (text.mu, motion.mu)
        outputs = {
            self.text: embedder.align_features(self.text, contrasted[0]),
            self.motion: embedder.align_features(self.motion, contrasted[1]),
        }
        return outputs, losses
