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


def test_default_length_limit() -> None:
    TextSpec().load("x" * 100_000)
    with pytest.raises(InputError, match="100001 characters, more than max_chars=100000"):
        TextSpec().load("x" * 100_001)
    assert TextSpec(max_chars=None).load("x" * 200_000) == "x" * 200_000


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x9b"])
def test_control_characters_are_refused_with_their_position(char: str) -> None:
    with pytest.raises(InputError, match=rf"doc 4: text holds the control character U\+{ord(char):04X} at position 3"):
        TextSpec().load(f"abc{char}def", item="doc 4")


def test_control_characters_can_be_stripped_and_whitespace_controls_collapse() -> None:
    spec = TextSpec(control_chars="strip")
    assert spec.load("a\x00b\x1b[31m red\x7f") == "ab[31m red"
    assert TextSpec().load("tab\there\r\nnext\x0bline\x0cpage\x1cgroup") == "tab here next line page group"
    assert TextSpec().load("family \U0001f468\u200d\U0001f469") == "family \U0001f468\u200d\U0001f469"  # ZWJ kept


def test_allow_empty() -> None:
    assert TextSpec(allow_empty=True).load(" \n ") == ""
    with pytest.raises(InputError, match="text is empty"):
        TextSpec().load(" \n ")
    with pytest.raises(ValueError, match="control_chars"):
        TextSpec(control_chars="keep")


def test_collate_and_dummy_batch() -> None:
    spec = TextSpec()
    batch = spec.dummy_batch(3)
    assert len(batch) == 3
    assert all(isinstance(t, str) and t for t in batch)
    assert spec.collate(batch) == batch
    assert repr(spec) == "TextSpec(max_chars=100000, control_chars='refuse', allow_empty=False)"


def test_default_spec_per_modality() -> None:
    assert isinstance(default_spec("text"), TextSpec)
    assert default_spec(Modality.IMAGE).modality == Modality.IMAGE
    with pytest.raises(ValueError, match="smell"):
        default_spec("smell")
