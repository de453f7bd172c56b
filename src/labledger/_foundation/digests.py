"""BLAKE3 digests written as ``blake3:<64 hex>``.

Large files are hashed memory-mapped with several threads, which is what makes adding a
gigabyte-sized file cost about as much as reading it once.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from blake3 import blake3

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

__all__ = [
    "ALGORITHM",
    "Hasher",
    "digest_bytes",
    "digest_file",
    "digest_record",
    "hex_of",
    "parse_digest",
]

ALGORITHM = "blake3"
_DIGEST_RE = re.compile(r"blake3:[0-9a-f]{64}")
# Below this size threads and mmap cost more than they save.
_MMAP_THRESHOLD = 4 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024


class Hasher:
    """Incremental hasher: feed chunks with ``update`` and read ``digest``."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = blake3()

    def update(self, data: bytes | memoryview) -> None:
        self._h.update(data)

    def copy(self) -> Hasher:
        clone = Hasher()
        clone._h = self._h.copy()
        return clone

    @property
    def digest(self) -> str:
        return f"{ALGORITHM}:{self._h.hexdigest()}"


def digest_bytes(data: bytes | bytearray | memoryview) -> str:
    """Digest of a byte string."""
    return f"{ALGORITHM}:{blake3(data).hexdigest()}"


def digest_chunks(chunks: Iterable[bytes]) -> str:
    """Digest of a stream of chunks."""
    hasher = Hasher()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest


def digest_record(value: Any) -> str:
    """Digest of a JSON-able value's canonical JSON form."""
    return digest_bytes(canonical_json(value))


def digest_file(path: str | os.PathLike[str] | Path) -> str:
    """Digest of a file's bytes; memory-mapped and multithreaded for large files."""
    size = os.path.getsize(path)
    hasher = blake3(max_threads=blake3.AUTO) if size >= _MMAP_THRESHOLD else blake3()
    if size >= _MMAP_THRESHOLD:
        hasher.update_mmap(os.fspath(path))
    else:
        with open(path, "rb") as handle:
            hasher.update(handle.read())
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def parse_digest(digest: str) -> str:
    """Check that ``digest`` is well formed and return it; raise ``ValidationError`` if not."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise ValidationError(
            f"{digest!r} is not a digest", hint="digests look like blake3:<64 lowercase hex digits>"
        )
    return digest


def hex_of(digest: str) -> str:
    """The hex part of a well-formed digest."""
    return parse_digest(digest).split(":", 1)[1]
