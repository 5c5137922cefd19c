"""Weight files that are not what they claim are refused with a WeightsError naming the file, never unpickled."""

import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from unibind.modalities import InputError
from unibind.weights import WeightsError, load_safetensors, load_state_dict, load_weights_only


class _Marker:
    """Unpickling this would create a marker file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_pickle_payload_never_runs_and_the_error_says_how_to_convert(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hook": _Marker(marker)}, path)
    with pytest.raises(WeightsError) as info:
        load_state_dict(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a weights-only torch checkpoint")
    assert "safetensors.torch.save_file" in message
    assert "weights_only=False" not in message
    assert not marker.exists()
    assert isinstance(info.value, InputError)


def _safetensors_with_header_length(path: Path, length: int) -> None:
    path.write_bytes(struct.pack("<Q", length) + b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("huge-header.safetensors", lambda p: _safetensors_with_header_length(p, 2**40)),
        ("short.safetensors", lambda p: p.write_bytes(b"\x01\x02")),
        ("not-json.safetensors", lambda p: p.write_bytes(struct.pack("<Q", 8) + b"notjson!")),
    ],
)
def test_broken_safetensors_name_the_file(tmp_path: Path, name: str, make) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(WeightsError, match=rf"^{path}: not a readable safetensors file"):
        load_state_dict(path)


def test_truncated_safetensors_and_torch_files_name_the_file(tmp_path: Path) -> None:
    save_file({"w": torch.arange(1000.0)}, tmp_path / "w.safetensors")
    whole = (tmp_path / "w.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match=r"cut\.safetensors: not a readable safetensors file"):
        load_safetensors(tmp_path / "cut.safetensors")
    torch.save({"w": torch.arange(1000.0)}, tmp_path / "w.pt")
    whole = (tmp_path / "w.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match=r"cut\.pt: cannot be read as a torch checkpoint, truncated\?"):
        load_weights_only(tmp_path / "cut.pt")


def test_only_requested_keys_are_read(tmp_path: Path) -> None:
    save_file({"a": torch.ones(2), "b": torch.zeros(3)}, tmp_path / "w.safetensors")
    assert list(load_safetensors(tmp_path / "w.safetensors", keys={"b"})) == ["b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a torch checkpoint \(the file is empty\)"),
        (b"epoch: 3\n", r"not a torch checkpoint \(not torch's format"),
    ],
)
def test_files_that_are_not_torch_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "w.pt").write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_state_dict(tmp_path / "w.pt")


def test_a_checkpoint_of_plain_values_is_not_a_state_dict(tmp_path: Path) -> None:
    torch.save({"epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(WeightsError, match="does not hold a flat state dict of tensors"):
        load_state_dict(tmp_path / "meta.pt")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_state_dict(tmp_path / "missing.pt")
