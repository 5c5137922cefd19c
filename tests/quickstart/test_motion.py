"""Motion windows in the quickstart's mixed batches: padded MotionBatch inputs next to emoji and sounds."""

import torch

from unibind.modalities import MotionBatch
from unibind.quickstart.features import FeatureTable
from unibind.quickstart.motion import MotionTable
from unibind.quickstart.sounds import SoundTable
from unibind.quickstart.train import CaptionPairs, feature_embedder


def _emoji_table() -> FeatureTable:
    return FeatureTable(
        rows=[{"id": f"e{i}", "split": "train"} for i in range(3)],
        image=torch.randn(3, 4),
        text=torch.randn(3, 5),
        caption_item=torch.tensor([0, 1, 2]),
        caption_language=["en"] * 3,
        caption_is_name=torch.tensor([True] * 3),
    )


def _sounds() -> SoundTable:
    """Five clips of three groups (0, 0, 1, 1, 2), one caption each."""
    return SoundTable(
        rows=[{"id": f"s{i}", "split": "train", "source": "fluidsynth"} for i in range(5)],
        audio=torch.randn(5, 7),
        text=torch.randn(5, 5),
        caption_row=torch.arange(5),
        caption_is_label=torch.tensor([True] * 5),
        group=torch.tensor([0, 0, 1, 1, 2]),
    )


def _motions() -> MotionTable:
    rows = [{"id": f"m{i}", "split": "train", "clip": "walk"} for i in range(3)]
    return MotionTable(
        rows=rows,
        motions=[torch.randn(length, 45) for length in (10, 4, 7)],
        text=torch.randn(3, 5),
        caption_row=torch.tensor([0, 1, 2]),
        caption_is_label=torch.tensor([True, True, True]),
        group=torch.tensor([0, 0, 1]),
    )


def test_motion_rows_collate_into_a_padded_batch_after_the_sounds() -> None:
    table, sounds, motions = _emoji_table(), _sounds(), _motions()
    pairs = CaptionPairs(table, torch.arange(2), extras=[(sounds, torch.tensor([4])), (motions, torch.arange(3))])
    batch = pairs.collate([pairs[i] for i in range(len(pairs))])
    assert isinstance(batch["inputs"]["motion"], MotionBatch)
    assert batch["inputs"]["motion"].features.shape == (3, 10, 45)
    assert batch["inputs"]["motion"].lengths.tolist() == [10, 4, 7]
    assert batch["present"]["motion"] == [3, 4, 5]
    assert batch["present"]["audio"] == [2]
    # emoji groups 0..2, sound groups 3..5, motion groups from 6
    assert batch["groups"].tolist() == [0, 1, 5, 6, 6, 7]


def test_the_embedder_gets_a_motion_encoder() -> None:
    embedder = feature_embedder(_emoji_table(), "moe", 32, extras=[_motions()])
    assert set(embedder.modalities) == {"image", "text", "motion"}
    out = embedder.align("motion", MotionTable.combine([torch.randn(5, 45), torch.randn(9, 45)]))
    assert out.embedding.shape == (2, 32)
