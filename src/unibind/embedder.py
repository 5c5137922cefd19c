"""``UnifiedEmbedder``: per-modality encoders and heads feeding one aligner, saved as safetensors + JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from unibind.alignment import Aligner, AlignerOutput, ProjectionHead
from unibind.atomic import read_directory, write_directory
from unibind.config import class_path, import_class, to_jsonable
from unibind.encoders.base import Encoder
from unibind.modalities import Modality
from unibind.model_card import CARD_NAME, CardFacts, record_towers, render_card
from unibind.weights import WeightsError, load_safetensors

CONFIG_NAME = "unibind_config.json"
WEIGHTS_NAME = "model.safetensors"
ASSETS_DIR = "assets"
FORMAT_VERSION = 1


class UnifiedEmbedder(nn.Module):
    """Encoders -> projection heads -> shared aligner, one modality at a time (ImageBind's loop, built from dicts).

    Args:
        encoders: modality name -> :class:`~unibind.encoders.Encoder` (its ``modality`` must match the key).
        embed_dim: shared embedding size ``D``.
        aligner: shared alignment layer over ``D`` (``MoEAligner``, ``DenseAligner`` or ``IdentityAligner``).
        head_hidden_dim: hidden size of MLP heads (``None``: linear heads).
        matryoshka_dims: the prefix sizes the model was trained for (a ``MatryoshkaLoss``; the training module
            records them), the sizes :meth:`encode` may truncate to besides ``embed_dim``; saved with the model.

    ``forward({"image": Tensor[B, 3, H, W], "text": list[str]})`` returns
    ``{"image": Tensor[B, D], "text": Tensor[B, D]}``.
    """

    def __init__(
        self,
        encoders: Mapping[str, Encoder],
        embed_dim: int,
        aligner: Aligner,
        head_hidden_dim: int | None = None,
        matryoshka_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        for name, encoder in encoders.items():
            if Modality(name) != encoder.modality:
                raise ValueError(f"encoder under key {name!r} encodes {str(encoder.modality)!r}")
        if aligner.dim != embed_dim:
            raise ValueError(f"aligner dim {aligner.dim} differs from embed_dim {embed_dim}")
        self.embed_dim = embed_dim
        self.head_hidden_dim = head_hidden_dim
        self.matryoshka_dims = check_matryoshka_dims(matryoshka_dims, embed_dim)
        self.card = CardFacts()  # training data and headline figures for the model card
        self._loaded_towers: set[str] = set()  # towers rebuilt from a saved folder (their card record is kept)
        self.encoders = nn.ModuleDict(dict(encoders))
        self.heads = nn.ModuleDict(
            {name: ProjectionHead(enc.width, embed_dim, head_hidden_dim) for name, enc in encoders.items()}
        )
        self.aligner = aligner

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def align(self, modality: str, batch: Any) -> AlignerOutput:
        """Encode, project and align one modality's batch."""
        if modality not in self.encoders:
            raise KeyError(f"no encoder for modality {modality!r}; this model has {self.modalities}")
        return self.align_features(modality, self.encoders[modality](batch))

    def align_features(self, modality: str, features: torch.Tensor) -> AlignerOutput:
        """Project and align encoder features ``[B, width]`` of ``modality``."""
        return self.aligner(self.heads[modality](features), modality)

    def forward(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        return {modality: self.align(modality, inputs).embedding for modality, inputs in batch.items()}

    def embed_batch(self, modality: str, batch: Any) -> torch.Tensor:
        """Aligned embeddings ``[B, D]`` of one collated batch (what :func:`unibind.encoding.encode` calls)."""
        return self.align(modality, batch).embedding

    def encode(self, inputs: Any, modality: str | None = None, batch_size: int = 32, **options: Any):
        """Embeddings ``[N, D]`` of strings, paths, images, arrays or a mixed list, in input order, in eval mode;
        ``normalize``, ``dim`` (Matryoshka), ``show_progress_bar``, ``convert_to``, ``on_error``, ``specs``
        and ``names`` as in :func:`unibind.encoding.encode`."""
        from unibind.encoding import encode

        was_training = self.training
        self.eval()
        try:
            return encode(self, inputs, modality, batch_size, **options)
        finally:
            self.train(was_training)

    # -- persistence -------------------------------------------------------------------------------

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``unibind_config.json``, ``model.safetensors`` (plus encoder assets) and the model card
        ``README.md`` (:mod:`unibind.model_card`, with the facts in :attr:`card`) into ``directory``.

        The files are saved as a whole (:func:`unibind.atomic.write_directory`): a crash or kill while saving
        leaves :meth:`from_pretrained` exactly the previous model or exactly this one. Other files in
        ``directory`` are left alone.
        """
        state = {key: value.detach().contiguous() for key, value in self.state_dict().items()}
        self.card = record_towers(self, self.card, self._loaded_towers)

        def write(folder: Path) -> None:
            encoders = {}
            for name, encoder in self.encoders.items():
                args = encoder.rebuild_args(folder / ASSETS_DIR / name)
                encoders[name] = {
                    "class_path": class_path(encoder),
                    "init_args": to_jsonable(args, f"encoder {name!r}"),
                }
            config = {
                "format_version": FORMAT_VERSION,
                "embed_dim": self.embed_dim,
                "head_hidden_dim": self.head_hidden_dim,
                "matryoshka_dims": self.matryoshka_dims,
                "card": self.card.to_json(),
                "encoders": encoders,
                "aligner": {
                    "class_path": class_path(self.aligner),
                    "init_args": to_jsonable(self.aligner.init_args, "aligner"),
                },
            }
            save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
            (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))
            (folder / CARD_NAME).write_text(render_card(self, self.card), encoding="utf-8")

        return write_directory(directory, write, owned=(WEIGHTS_NAME, CONFIG_NAME, ASSETS_DIR, CARD_NAME))

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, modalities: Iterable[str] | None = None, trust_remote_code: bool = False
    ) -> UnifiedEmbedder:
        """Rebuild a saved model, only with the encoders of ``modalities`` (default: all), and load its weights.

        Nothing is unpickled: the config is JSON, each class is checked to be an ``Encoder`` or
        ``Aligner`` before it is built, and tensors come from safetensors. Reads the last complete save. A
        config asking for ``trust_remote_code`` is refused unless the caller passes ``trust_remote_code=True``.
        A config that is not JSON or lacks a part is a :class:`~unibind.weights.WeightsError` naming it.
        """
        return read_directory(directory, lambda folder: cls._read(folder, modalities, trust_remote_code))

    @classmethod
    def _read(cls, directory: Path, modalities: Iterable[str] | None, trust_remote_code: bool) -> UnifiedEmbedder:
        config_path = directory / CONFIG_NAME
        config = read_model_config(config_path)
        wanted = list(config["encoders"]) if modalities is None else [str(Modality(m)) for m in modalities]
        unknown = [m for m in wanted if m not in config["encoders"]]
        if unknown:
            raise KeyError(f"{directory} has no encoder for {unknown}; it has {list(config['encoders'])}")
        encoders = {}
        for name in wanted:
            spec = config["encoders"][name]
            if spec["init_args"].get("trust_remote_code") and not trust_remote_code:
                raise WeightsError(
                    f"{config_path}: encoder {name!r} asks for trust_remote_code, which runs code from the model's "
                    "files; pass trust_remote_code=True to from_pretrained if you trust them"
                )
            encoder_cls = import_class(spec["class_path"], Encoder)
            encoders[name] = encoder_cls.from_rebuild_args(spec["init_args"], directory / ASSETS_DIR / name)
        aligner = import_class(config["aligner"]["class_path"], Aligner)(**config["aligner"]["init_args"])
        dims = config.get("matryoshka_dims")
        model = cls(encoders, config["embed_dim"], aligner, config["head_hidden_dim"], dims)
        model.card = CardFacts.from_json(config.get("card"))
        model._loaded_towers = set(wanted)
        own = model.state_dict()
        state = load_safetensors(directory / WEIGHTS_NAME, keys=set(own))
        missing = sorted(set(own) - set(state))
        if missing:
            raise ValueError(f"{directory / WEIGHTS_NAME} lacks {len(missing)} tensors, e.g. {missing[:3]}")
        model.load_state_dict(state)
        return model.eval()


def check_matryoshka_dims(dims: Sequence[int] | None, embed_dim: int) -> tuple[int, ...] | None:
    """``dims`` sorted without repeats, each in ``1..embed_dim``; None or empty: None."""
    if not dims:
        return None
    bad = [d for d in dims if not isinstance(d, int) or not 0 < d <= embed_dim]
    if bad:
        raise ValueError(f"matryoshka_dims {bad} are not sizes between 1 and embed_dim={embed_dim}")
    return tuple(sorted(set(dims)))


def read_model_config(path: Path) -> dict[str, Any]:
    """A saved model's ``unibind_config.json``, checked for its parts; anything else is a ``WeightsError``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a unibind model directory")
    try:
        config = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WeightsError(f"{path}: not a unibind model config (not UTF-8 JSON: {err})") from None
    if not isinstance(config, dict):
        raise WeightsError(f"{path}: not a unibind model config (a JSON object is expected)")
    if config.get("format_version") != FORMAT_VERSION:
        raise WeightsError(f"{path}: format_version {config.get('format_version')!r} is not {FORMAT_VERSION}")
    parts = {"encoders": dict, "aligner": dict, "embed_dim": int}
    for key, kind in parts.items():
        if not isinstance(config.get(key), kind):
            raise WeightsError(f"{path}: {key!r} is missing or not a {kind.__name__}")
    for name, part in [*config["encoders"].items(), ("aligner", config["aligner"])]:
        if not isinstance(part, dict) or not isinstance(part.get("class_path"), str):
            raise WeightsError(f"{path}: {name!r} needs a 'class_path' string")
        if not isinstance(part.get("init_args", {}), dict):
            raise WeightsError(f"{path}: {name!r} 'init_args' must be an object")
        part.setdefault("init_args", {})
    return config
