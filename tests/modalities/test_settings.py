"""Spec settings to JSON and back: every spec rebuilt from its settings equals the original."""

import json

import numpy as np
import pytest

from unibind.modalities import AudioSpec, GraphSpec, ImageSpec, MotionSpec, TextSpec
from unibind.modalities.settings import spec_from_settings, spec_settings


@pytest.mark.parametrize(
    "spec",
    [
        ImageSpec(224, background=(0, 10, 20)),
        TextSpec(max_chars=50),
        AudioSpec(16000, clip_seconds=4.0, crop="chunks", min_seconds=0.05),
        MotionSpec(45, max_frames=64),
        MotionSpec(3, mean=np.zeros(3), std=np.full(3, 2.0)),
        GraphSpec(),
    ],
)
def test_round_trip_through_json(spec) -> None:
    settings = json.loads(json.dumps(spec_settings(spec)))
    assert repr(spec_from_settings(spec.modality, settings)) == repr(spec)


def test_settings_are_the_constructor_arguments() -> None:
    assert spec_settings(ImageSpec(32)) == {"image_size": 32, "background": [255, 255, 255]}
    assert spec_settings(GraphSpec()) == {}


def test_unknown_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"ImageSpec takes no setting \['size'\]"):
        spec_from_settings("image", {"size": 3})
