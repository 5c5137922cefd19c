import pytest

from unibind.modalities import GraphSpec


def test_pending_modalities_say_so() -> None:
    spec = GraphSpec()
    for call in (lambda: spec.load("x.json"), lambda: spec.collate([]), lambda: spec.dummy_batch(2)):
        with pytest.raises(NotImplementedError, match="graph modality is not implemented yet"):
            call()
