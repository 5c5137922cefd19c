"""The quickstart's sound table: mixed emoji + sound training batches, retrieval with several clips per label."""

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from unibind.quickstart.features import FeatureTable
from unibind.quickstart.sounds import SoundTable, sound_ranks
from unibind.quickstart.train import CaptionPairs


class UnitNormStub:
    """Stands in for a trained embedder: the shared space is the (unit-normalised) feature space itself."""

    def eval(self) -> "UnitNormStub":
        return self

    def align(self, modality: str, features: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(embedding=F.normalize(features, dim=-1), expert_counts=None)


def _sounds(split: str = "test") -> SoundTable:
    # two instruments (groups 0, 1) with two clips each, then one event sound (group 2)
    groups = [0, 0, 1, 1, 2]
    rows = [
        {"id": f"s{i}", "split": split, "source": "fluidsynth", "label": f"label {g}"} for i, g in enumerate(groups)
    ]
    basis = torch.eye(3)
    audio = basis[groups] + 0.01 * torch.arange(5).view(-1, 1)
    captions = [(row, position) for row in range(5) for position in range(2)]  # label + one more caption each
    text = torch.stack([basis[groups[row]] if position == 0 else -basis[groups[row]] for row, position in captions])
    return SoundTable(
        rows=rows,
        audio=audio,
        text=text,
        caption_row=torch.tensor([row for row, _ in captions]),
        caption_is_label=torch.tensor([position == 0 for _, position in captions]),
        group=torch.tensor(groups),
    )


def test_sound_ranks_query_each_label_once_and_count_every_clip_relevant() -> None:
    ranks = sound_ranks(UnitNormStub(), _sounds())
    assert ranks["text_to_audio"].candidates == 5
    assert ranks["text_to_audio"].ranks.tolist() == [0, 0, 0]  # three labels, not five
    assert ranks["audio_to_text"].candidates == 3
    assert ranks["audio_to_text"].ranks.tolist() == [0] * 5
    swapped = _sounds()
    swapped.audio = swapped.audio[[2, 3, 0, 1, 4]]  # clips of instruments 0 and 1 exchanged: both rank after 3 others
    assert sound_ranks(UnitNormStub(), swapped)["text_to_audio"].ranks.tolist() == [3, 3, 0]


def _emoji_table() -> FeatureTable:
    rows = [{"id": f"e{i}", "split": "train"} for i in range(3)]
    return FeatureTable(
        rows=rows,
        image=torch.randn(3, 4),
        text=torch.randn(6, 5),
        caption_item=torch.tensor([0, 0, 1, 1, 2, 2]),
        caption_language=["en", "de"] * 3,
        caption_is_name=torch.tensor([True, True] * 3),
    )


def test_mixed_batches_mark_what_each_row_carries() -> None:
    table, sounds = _emoji_table(), _sounds("train")
    sounds.text = torch.randn(10, 5)
    sounds.audio = torch.randn(5, 7)
    pairs = CaptionPairs(table, torch.arange(3), extras=[(sounds, torch.tensor([0, 1, 4]))])
    assert len(pairs) == 6
    batch = pairs.collate([pairs[i] for i in range(6)])
    assert batch["present"]["image"] == [0, 1, 2]
    assert batch["present"]["audio"] == [3, 4, 5]  # the emoji here have no spoken names
    assert batch["present"]["text"] == list(range(6))
    assert batch["inputs"]["image"].shape == (3, 4)
    assert batch["inputs"]["audio"].shape == (3, 7)
    assert torch.equal(batch["inputs"]["audio"][2], sounds.audio[4])
    # clips of one instrument share a group, after the emoji's groups
    assert batch["groups"].tolist() == [0, 1, 2, 3, 3, 5]
    assert batch["ids"][3:] == ["s0", "s1", "s4"]
    sounds_only = pairs.collate([pairs[3], pairs[5]])
    assert "image" not in sounds_only["inputs"]
