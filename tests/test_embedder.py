import json
from pathlib import Path

import pytest
import torch

from unibind.alignment import DenseAligner, MoEAligner
from unibind.embedder import CONFIG_NAME, UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, HFTextEncoder, OpenClipImageEncoder, OpenClipTextEncoder


def test_forward_returns_unit_embeddings_per_modality(tiny_embedder: UnifiedEmbedder) -> None:
    out = tiny_embedder.eval()({"image": torch.rand(3, 3, 32, 32), "text": ["a", "b c", "d"]})
    assert set(out) == {"image", "text"}
    for emb in out.values():
        assert emb.shape == (3, 32)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))


def test_save_load_round_trip_identical(tiny_embedder: UnifiedEmbedder, tmp_path: Path) -> None:
    tiny_embedder.eval()
    batch = {"image": torch.rand(3, 3, 32, 32), "text": ["a red circle", "a blue square", "x"]}
    with torch.no_grad():
        before = tiny_embedder(batch)
    tiny_embedder.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "model.safetensors", "unibind_config.json"]
    loaded = UnifiedEmbedder.from_pretrained(tmp_path)
    with torch.no_grad():
        after = loaded(batch)
    for modality in batch:
        assert torch.equal(before[modality], after[modality])


def test_load_only_requested_modalities(tiny_embedder: UnifiedEmbedder, tmp_path: Path) -> None:
    tiny_embedder.save_pretrained(tmp_path)
    text_only = UnifiedEmbedder.from_pretrained(tmp_path, modalities=["text"])
    assert text_only.modalities == ["text"]
    with pytest.raises(KeyError, match="no encoder for modality 'image'"):
        text_only.align("image", torch.rand(1, 3, 32, 32))
    with pytest.raises(KeyError, match="audio"):
        UnifiedEmbedder.from_pretrained(tmp_path, modalities=["audio"])


def test_hf_encoder_round_trip_saves_its_assets(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = UnifiedEmbedder({"text": HFTextEncoder(str(tiny_bert_dir))}, 16, DenseAligner(16)).eval()
    with torch.no_grad():
        before = model({"text": ["a cat on the mat"]})["text"]
    model.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "assets" / "text" / "config.json").is_file()
    loaded = UnifiedEmbedder.from_pretrained(tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(loaded({"text": ["a cat on the mat"]})["text"], before)


def test_refuses_foreign_class_paths(tiny_embedder: UnifiedEmbedder, tmp_path: Path) -> None:
    tiny_embedder.save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    config["encoders"]["text"]["class_path"] = "os.system"
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a subclass of Encoder"):
        UnifiedEmbedder.from_pretrained(tmp_path)


def test_remote_code_and_paths_leaving_the_assets_are_refused(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from unibind.weights import WeightsError

    UnifiedEmbedder({"text": HFTextEncoder(str(tiny_bert_dir))}, 16, DenseAligner(16)).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / CONFIG_NAME).read_text())
    config = json.loads(json.dumps(saved))
    config["encoders"]["text"]["init_args"]["trust_remote_code"] = True
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="encoder 'text' asks for trust_remote_code"):
        UnifiedEmbedder.from_pretrained(tmp_path)
    config = json.loads(json.dumps(saved))
    config["encoders"]["text"]["init_args"]["model_name_or_path"] = str(tiny_bert_dir)  # outside the folder
    (tmp_path / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="leaves the assets"):
        UnifiedEmbedder.from_pretrained(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not a unibind model config"),
        (b"\xff\xfe{}", "not a unibind model config"),
        (b"[1, 2]", "a JSON object is expected"),
        (b'{"format_version": 1, "encoders": {}, "aligner": {}}', "'embed_dim' is missing"),
        (
            b'{"format_version": 1, "encoders": {"text": 3}, "aligner": {}, "embed_dim": 8}',
            "'text' needs a 'class_path'",
        ),
    ],
)
def test_a_broken_config_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    from unibind.weights import WeightsError

    (tmp_path / CONFIG_NAME).write_bytes(content)
    with pytest.raises(WeightsError, match=rf"{CONFIG_NAME}: .*{message}"):
        UnifiedEmbedder.from_pretrained(tmp_path)


def test_not_a_model_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a unibind model directory"):
        UnifiedEmbedder.from_pretrained(tmp_path)


def test_validation_of_components() -> None:
    image = OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG)
    with pytest.raises(ValueError, match="encodes 'image'"):
        UnifiedEmbedder({"text": image}, 16, DenseAligner(16))
    with pytest.raises(ValueError, match="aligner dim 8 differs"):
        UnifiedEmbedder({"image": image}, 16, MoEAligner(8))


def test_locked_encoder_stays_frozen_in_train_mode(tmp_path: Path) -> None:
    text = OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG).lock()
    model = UnifiedEmbedder({"text": text}, 16, DenseAligner(16)).train()
    assert not text.training
    assert model.heads["text"].training
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"heads", "aligner"}


def test_saving_over_a_model_replaces_it_as_a_whole(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    bert = UnifiedEmbedder({"text": HFTextEncoder(str(tiny_bert_dir))}, 16, DenseAligner(16)).eval()
    bert.save_pretrained(folder)
    (folder / "notes.txt").write_text("mine")
    clip = UnifiedEmbedder({"text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)}, 16, DenseAligner(16)).eval()
    clip.save_pretrained(folder)  # the new version has no assets: the old ones go, other files stay
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "model.safetensors",
        "notes.txt",
        "unibind_config.json",
    ]
    loaded = UnifiedEmbedder.from_pretrained(folder)
    assert isinstance(loaded.encoders["text"], OpenClipTextEncoder)
    with torch.no_grad():
        assert torch.equal(loaded({"text": ["a cat"]})["text"], clip({"text": ["a cat"]})["text"])


def test_a_failed_save_keeps_the_previous_model(tiny_embedder: UnifiedEmbedder, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    tiny_embedder.save_pretrained(folder)
    before = sorted(p.name for p in folder.iterdir())
    model = UnifiedEmbedder({"text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)}, 16, DenseAligner(16))
    model.encoders["text"].init_args["not_json"] = object()  # the config cannot be written
    with pytest.raises(TypeError):
        model.save_pretrained(folder)
    assert sorted(p.name for p in folder.iterdir()) == before  # no temporary folder left
    assert UnifiedEmbedder.from_pretrained(folder).modalities == ["image", "text"]


def test_damaged_weights_are_named(tiny_embedder: UnifiedEmbedder, tmp_path: Path) -> None:
    from unibind.weights import WeightsError

    tiny_embedder.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(WeightsError, match=r"model\.safetensors"):
        UnifiedEmbedder.from_pretrained(tmp_path)
