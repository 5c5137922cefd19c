import pytest

from unibind.modalities import InputError, Modality, TextSpec, default_spec


def test_load_normalises_whitespace() -> None:
    assert TextSpec().load("  a  red\n circle ") == "a red circle"


@pytest.mark.parametrize("raw", ["", "   ", None, 3, ["a"]])
def test_bad_text_names_the_item(raw) -> None:
    with pytest.raises(InputError, match="row 7"):
        TextSpec().load(raw, item="row 7")


def test_max_chars() -> None:
    with pytest.raises(InputError, match="max_chars=3"):
        TextSpec(max_chars=3).load("four", item="x")


def test_collate_and_dummy_batch() -> None:
    spec = TextSpec()
    batch = spec.dummy_batch(3)
    assert len(batch) == 3
    assert all(isinstance(t, str) and t for t in batch)
    assert spec.collate(batch) == batch
    assert repr(spec) == "TextSpec(max_chars=None)"


def test_default_spec_per_modality() -> None:
    assert isinstance(default_spec("text"), TextSpec)
    assert default_spec(Modality.IMAGE).modality == Modality.IMAGE
    with pytest.raises(ValueError, match="smell"):
        default_spec("smell")
