"""BLAKE3 digests of bytes, files and streams agree, whichever path computes them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from blake3 import blake3
from hypothesis import given
from hypothesis import strategies as st

from labledger._foundation import digests
from labledger._foundation.digests import (
    Hasher,
    digest_bytes,
    digest_chunks,
    digest_file,
    digest_record,
    hex_of,
    parse_digest,
)
from labledger._foundation.errors import LabledgerError, ValidationError

if TYPE_CHECKING:
    from pathlib import Path

EMPTY = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_known_value_of_empty_input() -> None:
    assert digest_bytes(b"") == EMPTY
    assert digest_chunks([]) == EMPTY
    assert Hasher().digest == EMPTY


def test_memoryview_and_bytes_agree() -> None:
    data = b"plate 7, well A1"
    assert digest_bytes(memoryview(data)) == digest_bytes(data)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        1023,
        digests.CHUNK_SIZE + 7,
        digests._MMAP_THRESHOLD - 1,
        digests._MMAP_THRESHOLD,
        digests._MMAP_THRESHOLD + 3 * digests.CHUNK_SIZE + 11,
    ],
)
def test_bytes_file_and_chunks_agree(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    expected = f"blake3:{blake3(data).hexdigest()}"
    assert digest_bytes(data) == expected
    assert digest_file(path) == expected
    assert digest_file(str(path)) == expected
    assert digest_chunks(_chunks(data, 65536)) == expected
    hasher = Hasher()
    for chunk in _chunks(data, 4097):
        hasher.update(memoryview(chunk))
    assert hasher.digest == expected


def test_large_file_uses_the_memory_mapped_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(digests._MMAP_THRESHOLD + 1)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    mapped: list[str] = []
    real = blake3

    class Spy:
        AUTO = real.AUTO

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._h = real(*args, **kwargs)

        def update(self, data: bytes) -> None:
            self._h.update(data)

        def update_mmap(self, path: str) -> None:
            mapped.append(path)
            self._h.update_mmap(path)

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    monkeypatch.setattr(digests, "blake3", Spy)
    assert digest_file(path) == f"blake3:{real(data).hexdigest()}"
    assert mapped == [str(path)]


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        digest_file(tmp_path / "absent")


def test_record_digest_is_the_digest_of_canonical_json() -> None:
    assert digest_record({"b": 1, "a": [1.5]}) == digest_bytes(b'{"a":[1.5],"b":1}')


@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=600))
def test_chunking_never_changes_the_digest(data: bytes, size: int) -> None:
    assert digest_chunks(_chunks(data, size)) == digest_bytes(data)


def test_parse_digest_accepts_and_returns_a_well_formed_digest() -> None:
    assert parse_digest(EMPTY) == EMPTY
    assert hex_of(EMPTY) == EMPTY.removeprefix("blake3:")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "blake3:",
        "blake3:" + "0" * 63,
        "blake3:" + "0" * 65,
        "blake3:" + "A" * 64,
        "sha256:" + "0" * 64,
        "BLAKE3:" + "0" * 64,
        "0" * 64,
        " blake3:" + "0" * 64,
        "blake3:" + "0" * 64 + "\n",
        "blake3:" + "g" * 64,
        None,
        b"blake3:" + b"0" * 64,
        42,
    ],
)
def test_parse_digest_rejects_malformed_digests(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_digest(bad)
    assert isinstance(caught.value, LabledgerError)
    assert caught.value.hint is not None
    assert "blake3:<64 lowercase hex digits>" in str(caught.value)
    with pytest.raises(ValidationError):
        hex_of(bad)
