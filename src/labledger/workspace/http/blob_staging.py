"""Direct uploads: a large blob sent straight to the server's S3 bucket, checked by the server.

``POST /api/v1/blobs/uploads`` asks for a presigned PUT URL of a staging key (never the blob's
content address); the file goes there without passing through the server; ``POST
/api/v1/blobs/uploads/{id}/complete`` has the server read the staged object back, check its size
and digest, and only then copy it to its address. A server whose store is not S3 answers that it
cannot, and the caller streams the blob through the server instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from labledger._foundation.digests import CHUNK_SIZE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.http.client import Client

__all__ = ["DirectUploads", "StagedUpload", "UploadOut", "file_chunks"]

_ROUTE = "/api/v1/blobs/uploads"


class UploadOut(BaseModel):
    """The blob an upload left in the server's store."""

    digest: str
    size: int
    stored: bool


class StagedUpload(BaseModel):
    """Where to send a blob directly; ``direct`` is false when the server's store cannot."""

    direct: bool
    upload_id: str | None = None
    url: str | None = None
    reason: str | None = None


def file_chunks(path: str) -> Iterator[bytes]:
    """A file's bytes in chunks of ``CHUNK_SIZE``, read as they are sent."""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


class DirectUploads:
    """Sends files to a server's S3 bucket through presigned URLs, when the server offers them."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._unavailable = False

    def send(self, path: str, digest: str, size: int) -> bool:
        """Upload ``path`` directly and have the server register it; false where it cannot be."""
        if self._unavailable:
            return False
        staged: StagedUpload = self._client.call(
            "POST", _ROUTE, {"digest": digest, "size": size}, StagedUpload
        )
        if not staged.direct or staged.upload_id is None or staged.url is None:
            self._unavailable = True  # the server's store does not change while we talk to it
            return False
        self._put(staged.url, path, size)
        self._client.call(
            "POST",
            f"{_ROUTE}/{staged.upload_id}/complete",
            {"digest": digest, "size": size},
            UploadOut,
            idempotent=True,
        )
        return True

    def _put(self, url: str, path: str, size: int) -> None:
        import httpx

        from labledger._foundation.errors import StoreUnavailableError

        # A client of its own: the bucket must never see the server's token.
        with httpx.Client(timeout=self._client.timeout_s) as bucket:
            response = bucket.put(
                url, content=file_chunks(path), headers={"Content-Length": str(size)}
            )
        if response.status_code >= 300:
            raise StoreUnavailableError(
                f"the bucket refused the direct upload of {path}: {response.status_code} "
                f"{response.text[:200]}",
                hint="check the server's S3 settings, or set a higher direct upload threshold "
                "so blobs go through the server",
            )
