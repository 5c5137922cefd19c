"""Saved class paths: only subclasses of the expected base resolve, and paths from before a move still load."""

import pytest

from unibind.alignment import Aligner, MoEAligner
from unibind.config import MOVED_MODULES, import_class


def test_a_class_saved_before_a_move_resolves_to_its_new_home() -> None:
    assert import_class("unibind.fusion.moe.MoEAligner", Aligner) is MoEAligner
    assert import_class("unibind.fusion.MoEAligner", Aligner) is MoEAligner


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_every_moved_module_is_gone_and_its_new_home_imports(old: str) -> None:
    import importlib

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)
    importlib.import_module(MOVED_MODULES[old])


def test_a_class_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a subclass of Aligner"):
        import_class("collections.OrderedDict", Aligner)
