"""TMR's losses and its training objective; the variational towers and the decoder are :mod:`unibind.encoders.tmr`.

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

from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from unibind.alignment import AlignerOutput, IdentityAligner, ProjectionHead
from unibind.encoders.tmr import Posterior, TMRMotionDecoder, sample_latent, standard_normal_like

if TYPE_CHECKING:
    from unibind.embedder import UnifiedEmbedder

#: TMR's loss weights (Mathux/TMR ``configs/model/tmr.yaml`` ``lmd``).
TMR_WEIGHTS = {"recons": 1.0, "kl": 1.0e-5, "latent": 1.0e-5, "contrastive": 0.1}


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
