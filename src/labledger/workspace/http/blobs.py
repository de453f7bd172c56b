"""``HttpBlobStore``: a server's blob store, over ``/api/v1/blobs``.

Reads stream; writes hash the bytes here first, ask the server whether it has them (one request
for a whole batch with ``put_files`` and ``put_many``), and send only what it lacks; small blobs
held in memory go together (``put_many``: ``POST /api/v1/blobs/batch``, up to 1,000 blobs or
4 MiB a request); others streamed from the file (never
read whole into memory): through the server (``PUT /api/v1/blobs/{digest}``), or, for blobs of at
least ``direct_upload_bytes`` when the server's store is S3, straight to the bucket through a
presigned URL, after which the server checks the bytes before the blob becomes visible
(``blob_staging``). Deleting and listing stay the server's (its garbage collection).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from labledger._foundation.digests import (
    CHUNK_SIZE,
    Hasher,
    digest_bytes,
    digest_file,
    parse_digest,
)
from labledger._foundation.errors import (
    ConfigurationError,
    IntegrityError,
    LabledgerError,
    NotFoundError,
    PermissionDeniedError,
)
from labledger.workspace.http.blob_staging import DirectUploads, UploadOut, file_chunks

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    import httpx

    from labledger._foundation.settings import StoreLink
    from labledger.workspace.blobstore import BlobSource
    from labledger.workspace.http.client import Client

__all__ = [
    "BATCH_BLOB_BYTES",
    "DIRECT_UPLOAD_BYTES",
    "HttpBlobStore",
    "direct_upload_threshold",
]

_ROUTE = "/api/v1/blobs"
_PRESENCE_BATCH = 10_000
BATCH_BLOB_BYTES = 1024 * 1024  # blobs up to this size go in a batched upload
_BATCH_BYTES = 4 * 1024 * 1024  # bytes of one batched upload (the server takes up to 8 MiB)
_BATCH_COUNT = 1000  # blobs of one batched upload (the server's bound)
# Blobs this small in all go up without asking first which the server has: a round trip saved.
_UNASKED_BYTES = 256 * 1024
# Error codes that say the server cannot take batched uploads: send the blobs one by one.
_NO_BATCHES = frozenset({"too_large", "method_not_allowed", "error"})
DIRECT_UPLOAD_BYTES = 64 * 1024 * 1024


def direct_upload_threshold() -> int:
    """The size from which blobs go straight to a server's S3 bucket: ``LABLEDGER_DIRECT_UPLOAD_MB``
    (MiB), else 64 MiB.

    Raises:
        ConfigurationError: The variable is not a positive number.
    """
    raw = os.environ.get("LABLEDGER_DIRECT_UPLOAD_MB")
    if raw is None or not raw.strip():
        return DIRECT_UPLOAD_BYTES
    try:
        mib = float(raw)
    except ValueError:
        mib = -1.0
    if not mib > 0 or mib == float("inf"):
        raise ConfigurationError(
            f"LABLEDGER_DIRECT_UPLOAD_MB={raw!r} is not a positive number of MiB",
            hint="set it to e.g. 64, or unset it for the default (64 MiB)",
        )
    return int(mib * 1024 * 1024)


def _changed(path: str) -> IntegrityError:
    return IntegrityError(
        f"{path} changed while it was being stored",
        hint="store it again once nothing is writing to it",
    )


class _ResponseReader(io.RawIOBase):
    """A streaming response's body as a binary stream; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._response.close()
        super().close()


class HttpBlobStore:
    """The blob store of the workspace a server serves.

    Args:
        client: The server.
        direct_upload_bytes: Blobs at least this large go straight to the server's S3 bucket
            (when its store is S3) instead of through the server; by default
            ``LABLEDGER_DIRECT_UPLOAD_MB`` or 64 MiB.
    """

    remote = True  # each call is a round trip: writers may hold small blobs for a batch

    def __init__(self, client: Client, *, direct_upload_bytes: int | None = None) -> None:
        self._client = client
        self.url = client.base_url
        self.direct_upload_bytes = (
            direct_upload_threshold() if direct_upload_bytes is None else direct_upload_bytes
        )
        self._direct = DirectUploads(client)
        self._batches = True  # false once the server refuses batched uploads

    def _refuse(self, what: str) -> NoReturn:
        raise ConfigurationError(
            f"{what} a server's blobs is not done through it: the server's garbage collection "
            "owns its store",
            hint="run `labledger gc` (or `labledger verify`) where the server's workspace is",
        )

    def put(self, source: BlobSource) -> str:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            if self._batches and len(data) <= _UNASKED_BYTES:
                return self.put_many([data])[0]  # one request, not a question and an upload
            digest = digest_bytes(data)
            if not self.exists(digest):
                self._send(digest, len(data), lambda: iter((data,)))
            return digest
        # A stream's digest is known only at its end, and the upload's address needs it first.
        fd, spool = tempfile.mkstemp(prefix="labledger-upload-")
        try:
            hasher = Hasher()
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    handle.write(chunk)
            digest = hasher.digest
            if not self.exists(digest):
                self._send_file(spool, digest, os.stat(spool))
            return digest
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        """Store a local file's bytes (``link`` does not apply: the bytes travel)."""
        return self.put_files([path])[0]

    def put_files(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        """Store local files; their digests, in order. One presence request for them all."""
        local = [os.fspath(path) for path in paths]
        before = [os.stat(path) for path in local]
        digests = [digest_file(path) for path in local]
        present = self.exists_many(digests)
        sent: set[str] = set()
        for path, status, digest in zip(local, before, digests, strict=True):
            if present[digest] or digest in sent:
                continue
            self._send_file(path, digest, status)
            sent.add(digest)
        return digests

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store blobs held in memory; their digests, in order.

        Up to 256 KiB in all, they go in one batched upload without asking first (the server
        keeps what it has as it is). Otherwise one presence request for them all; the missing
        ones up to ``BATCH_BLOB_BYTES`` go together in batched uploads (the server checks every digest before any is stored), larger
        ones one by one. A server without batched uploads, or whose body limit is lower than a
        batch, gets them one by one.
        """
        data = [bytes(blob) for blob in blobs]
        digests = [digest_bytes(blob) for blob in data]
        if self._batches and sum(map(len, data)) <= _UNASKED_BYTES and len(data) <= _BATCH_COUNT:
            # Cheaper to send than to ask about: the server keeps what it has already as it is.
            try:
                self._send_batch(list(dict(zip(digests, data, strict=True)).items()))
                return digests
            except PermissionDeniedError:
                pass  # a reader may still "store" what the server has: asked below
        present = self.exists_many(digests)
        missing = {d: blob for d, blob in zip(digests, data, strict=True) if not present[d]}
        batch: list[tuple[str, bytes]] = []
        size = 0
        for digest, blob in missing.items():
            if len(blob) > BATCH_BLOB_BYTES or not self._batches:
                self._send(digest, len(blob), lambda blob=blob: iter((blob,)))
                continue
            if batch and (len(batch) >= _BATCH_COUNT or size + len(blob) > _BATCH_BYTES):
                self._send_batch(batch)
                batch, size = [], 0
            batch.append((digest, blob))
            size += len(blob)
        if batch:
            self._send_batch(batch)
        return digests

    def _send_batch(self, batch: list[tuple[str, bytes]]) -> None:
        """One batched upload; one by one where the server cannot take it."""
        import base64

        body = {
            "blobs": [
                {"digest": digest, "data": base64.b64encode(blob).decode("ascii")}
                for digest, blob in batch
            ]
        }
        if self._batches:
            try:
                # The same bytes under the same digests: sending them again changes nothing.
                self._client.call("POST", f"{_ROUTE}/batch", body, dict, idempotent=True)
                return
            except LabledgerError as exc:
                # An older server (no such route: 404 or 405), or a body limit below the
                # batch's size (413); any other refusal is the caller's to see.
                if not isinstance(exc, NotFoundError) and exc.code not in _NO_BATCHES:
                    raise
                self._batches = False
        for digest, blob in batch:
            self._send(digest, len(blob), lambda blob=blob: iter((blob,)))

    def _send_file(self, path: str, digest: str, before: os.stat_result) -> None:
        after = os.stat(path)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise _changed(path)
        try:
            if before.st_size >= self.direct_upload_bytes and self._direct.send(
                path, digest, before.st_size
            ):
                return
            self._send(digest, before.st_size, lambda: file_chunks(path))
        except IntegrityError:
            raise
        except Exception as exc:
            # The server refuses bytes that do not match; say why when the file moved under us.
            now = os.stat(path)
            if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise _changed(path) from exc
            raise

    def _send(self, digest: str, size: int, chunks: Any) -> UploadOut:
        answer: UploadOut = self._client.upload(f"{_ROUTE}/{digest}", chunks, size, UploadOut)
        return answer

    def delete(self, digest: str) -> None:
        self._refuse("deleting")

    def digests(self) -> Iterator[str]:
        self._refuse("listing every one of")

    def open(self, digest: str) -> BinaryIO:
        response = self._client.stream(f"{_ROUTE}/{parse_digest(digest)}")
        return io.BufferedReader(_ResponseReader(response))

    def size(self, digest: str) -> int:
        try:
            return self._client.head(f"{_ROUTE}/{parse_digest(digest)}")
        except NotFoundError:
            raise NotFoundError(f"blob {digest} is not in the server's store") from None

    def exists(self, digest: str) -> bool:
        return self.exists_many([digest])[digest]

    def exists_many(self, digests: Iterable[str]) -> dict[str, bool]:
        """Whether each blob is stored, asked in batches of 10,000 digests per request."""
        unique = [parse_digest(d) for d in dict.fromkeys(digests)]
        found: dict[str, bool] = {}
        for start in range(0, len(unique), _PRESENCE_BATCH):
            batch = unique[start : start + _PRESENCE_BATCH]
            answer = self._client.call(
                "POST", f"{_ROUTE}/presence", {"digests": batch}, dict, idempotent=True
            )
            present = set(answer["present"])
            found.update((digest, digest in present) for digest in batch)
        return found
