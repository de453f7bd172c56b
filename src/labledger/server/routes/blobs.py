"""``/api/v1/blobs``: the workspace's blob store over HTTP (download, presence, upload).

Blobs are addressed by content and shared by every project, so they belong to none: reading one
(or asking which are stored) needs a viewer's role in some project, storing one an editor's role
in some project. A digest is learnt from the records a user reads, and is 256 bits: nobody
guesses one. What remains is the usual cost of sharing bytes between projects: whoever holds a
file can learn whether the server holds the same bytes (see docs/server.md, "Who sees what").

``PUT /api/v1/blobs/{digest}`` streams the body into the store's own ``put`` (see ``UploadBody``):
every byte is hashed as it arrives, and the blob becomes visible only when the bytes match the
digest. Uploads have their own size limit (``--max-upload-mb``), apart from the JSON body limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import NotFoundError
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.project_reads import require_some_project
from labledger.server.upload_body import UploadBody, UploadCutOffError
from labledger.stores.identity import Role

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from labledger.workspace.blobstore import BlobStore

__all__ = ["PresenceIn", "PresenceOut", "UploadOut", "router"]

router = APIRouter(prefix="/api/v1/blobs", tags=["blobs"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
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


class UploadOut(BaseModel):
    """The blob an upload left in the store; ``stored`` is false when it was there already."""

    digest: str
    size: int
    stored: bool


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


@router.post("/presence", response_model=PresenceOut)
def presence(request: Request, scope: Reader, body: PresenceIn) -> PresenceOut:
    """Which of these blobs the store holds, in one request (a read)."""
    require_some_project(scope)
    from labledger.workspace.blobstore import exists_many

    digests = [parse_digest(d) for d in body.digests]
    found = exists_many(_store(request), digests)
    return PresenceOut(present=[d for d in digests if found[d]])


@router.head("/{digest}", response_class=Response)
def head(request: Request, scope: Reader, digest: Digest) -> Response:
    """200 with ``Content-Length`` when the blob is stored, 404 otherwise."""
    require_some_project(scope)
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
def download(request: Request, scope: Reader, digest: Digest) -> StreamingResponse:
    """The blob's bytes, streamed."""
    require_some_project(scope)
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


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.put(
    "/{digest}",
    response_model=UploadOut,
    status_code=201,
    responses={200: {"model": UploadOut, "description": "The blob was stored already."}},
    openapi_extra=_UPLOAD_BODY,
)
async def upload(request: Request, scope: Writer, digest: Digest) -> JSONResponse:
    """Store the body as the blob ``digest``: visible only if its bytes hash to ``digest``.

    A blob the store holds already is not written again (200, ``stored: false``); its body is
    read and dropped, so a client may ask first (``HEAD`` or ``POST /presence``) to save sending it.
    """
    await run_in_threadpool(require_some_project, scope)
    checked = parse_digest(digest)
    store = _store(request)
    if await run_in_threadpool(store.exists, checked):
        try:
            async for _chunk in request.stream():
                pass
        except ClientDisconnect:
            raise UploadCutOffError(
                f"the upload of {checked} was cut off", hint="the blob is stored already"
            ) from None
        size = await run_in_threadpool(store.size, checked)
        answer = UploadOut(digest=checked, size=size, stored=False)
        return JSONResponse(answer.model_dump(), status_code=200)
    body = UploadBody(request.stream(), checked)
    # The store's own put: a temporary copy made visible only after a complete, matching read.
    stored = await run_in_threadpool(store.put, body)  # type: ignore[arg-type]
    answer = UploadOut(digest=stored, size=body.size, stored=True)
    return JSONResponse(answer.model_dump(), status_code=201)
