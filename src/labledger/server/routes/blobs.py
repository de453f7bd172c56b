"""``/api/v1/blobs``: reading the workspace's blob store over HTTP (download, presence).

Uploads are not served yet: a remote workspace reads blobs through the server and writes none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import NotFoundError
from labledger.server.permissions import ProjectContext, in_workspace
from labledger.stores.identity import Role

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from labledger.workspace.blobstore import BlobStore

__all__ = ["PresenceIn", "PresenceOut", "router"]

router = APIRouter(prefix="/api/v1/blobs", tags=["blobs"])
Reader = Annotated[ProjectContext, in_workspace(Role.VIEWER)]
Digest = Annotated[str, Path(max_length=200, description="``blake3:`` and 64 hex digits.")]
_CHUNK = 1024 * 1024


def _store(request: Request) -> BlobStore:
    return request.app.state.workspace.store  # type: ignore[no-any-return]


class PresenceIn(BaseModel):
    """Digests to look for."""

    model_config = ConfigDict(extra="forbid")

    digests: list[str] = Field(max_length=100_000)


class PresenceOut(BaseModel):
    """Which of the digests asked about the store holds."""

    present: list[str]


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


@router.post("/presence", response_model=PresenceOut)
def presence(request: Request, _: Reader, body: PresenceIn) -> PresenceOut:
    """Which of these blobs the store holds, in one request (a read)."""
    from labledger.workspace.blobstore import exists_many

    digests = [parse_digest(d) for d in body.digests]
    found = exists_many(_store(request), digests)
    return PresenceOut(present=[d for d in digests if found[d]])


@router.head("/{digest}", response_class=Response)
def head(request: Request, _: Reader, digest: Digest) -> Response:
    """200 with ``Content-Length`` when the blob is stored, 404 otherwise."""
    checked = parse_digest(digest)
    try:
        size = _store(request).size(checked)
    except (FileNotFoundError, NotFoundError):  # the store's message names its location
        raise NotFoundError(f"blob {checked} is not in the store") from None
    return Response(status_code=200, headers={"Content-Length": str(size)})


@router.get(
    "/{digest}",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(request: Request, _: Reader, digest: Digest) -> StreamingResponse:
    """The blob's bytes, streamed."""
    store = _store(request)
    checked = parse_digest(digest)
    try:
        size = store.size(checked)
        handle = store.open(checked)
    except (FileNotFoundError, NotFoundError):  # the store's message names its location
        raise NotFoundError(f"blob {checked} is not in the store") from None
    return StreamingResponse(
        _chunks(handle),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )
