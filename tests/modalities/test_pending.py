import pytest

from unibind.modalities import GraphSpec, MotionSpec


@pytest.mark.parametrize(("spec_cls", "name"), [(MotionSpec, "motion"), (GraphSpec, "graph")])
def test_pending_modalities_say_so(spec_cls, name) -> None:
    spec = spec_cls()
    for call in (lambda: spec.load("x.wav"), lambda: spec.collate([]), lambda: spec.dummy_batch(2)):
        with pytest.raises(NotImplementedError, match=f"{name} modality is not implemented yet"):
            call()
