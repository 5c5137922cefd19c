import hashlib
from pathlib import Path

from unibind.checksums import sha256_file


def test_sha256_file_reads_in_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 40
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_file(path, block=1000) == hashlib.sha256(data).hexdigest()
