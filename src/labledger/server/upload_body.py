"""``UploadBody``: a request body that streams in, read as a blocking binary stream, checked.

A blob store's ``put`` reads a stream on a worker thread (it writes files, or spools and uploads to
S3); the body arrives on the event loop. ``UploadBody`` pulls it from the loop chunk by chunk as
``put`` reads, hashing every byte, and at the end of the body raises ``ValidationError`` instead of
reporting the end when the bytes do not hash to the digest the client named. ``put`` then drops its
temporary copy, as it does for any failed read, so a blob whose bytes do not match never becomes
visible; a client that goes away mid-upload fails the read the same way.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import anyio.from_thread

from labledger._foundation.digests import Hasher
from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["UploadBody", "UploadCutOffError"]


class UploadCutOffError(ValidationError):
    """The client went away before it sent the whole body."""


class UploadBody(io.RawIOBase):
    """The body of an upload of ``digest``, read from a worker thread.

    Args:
        chunks: The request's body (``Request.stream()``), iterated on the event loop.
        digest: What the bytes must hash to.
    """

    def __init__(self, chunks: AsyncIterator[bytes], digest: str) -> None:
        super().__init__()
        self._chunks = chunks
        self._digest = digest
        self._hasher = Hasher()
        self._pending = b""
        self._ended = False
        self.size = 0

    def readable(self) -> bool:
        return True

    async def _gather(self, wanted: int) -> bytes:
        """At least ``wanted`` bytes (fewer only at the end), in one trip to the event loop."""
        from starlette.requests import ClientDisconnect

        parts = [self._pending]
        held = len(self._pending)
        try:
            while held < wanted:
                chunk = await self._chunks.__anext__()
                parts.append(chunk)
                held += len(chunk)
        except StopAsyncIteration:
            self._ended = True
        except ClientDisconnect:
            raise UploadCutOffError(
                f"the upload of {self._digest} was cut off after {self.size + held} bytes",
                hint="send it again; nothing was stored",
            ) from None
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        if len(self._pending) < wanted and not self._ended:
            self._pending = anyio.from_thread.run(self._gather, wanted)
        data, self._pending = self._pending[:wanted], self._pending[wanted:]
        if not data:
            self._check()
            return 0
        self._hasher.update(data)
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)

    def _check(self) -> None:
        actual = self._hasher.digest
        if actual != self._digest:
            raise ValidationError(
                f"the uploaded bytes ({self.size} of them) hash to {actual}, not to {self._digest}"
                "; nothing was stored",
                hint="upload the blob under the digest of its bytes (blake3), or send it again "
                "if it changed on the way",
            )
