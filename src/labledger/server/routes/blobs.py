"""``/api/v1/blobs``: the workspace's blob store over HTTP (download, presence, upload).

Blobs are addressed by content and shared by every project, so they belong to none: reading one
(or asking which are stored) needs a viewer's role in some project, storing one an editor's role
in some project. A digest is learnt from the records a user reads, and is 256 bits: nobody
guesses one. What remains is the usual cost of sharing bytes between projects: whoever holds a
file can learn whether the server holds the same bytes (see docs/server.md, "Who sees what").

``PUT /api/v1/blobs/{digest}`` streams the body into the store's own ``put`` (see ``UploadBody``):
every byte is hashed as it arrives, and the blob becomes visible only when the bytes match the
digest. Uploads have their own size limit (``--max-upload-mb``), apart from the JSON body limit.
``POST /api/v1/blobs/batch`` takes many small blobs in one JSON body (base64), bounded in count
and bytes: every one is hashed and checked first, and none is stored unless all match, so a
pipeline's outputs cost one request per flush instead of one per step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from labledger._foundation.digests import digest_bytes, parse_digest
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.project_reads import require_some_project
from labledger.server.upload_body import UploadBody, UploadCutOffError
from labledger.stores.identity import Role

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

    from labledger.workspace.blobstore import BlobStore

__all__ = [
    "BATCH_MAX_BLOBS",
    "BATCH_MAX_BYTES",
    "BlobBatchIn",
    "BlobBatchOut",
    "PresenceIn",
    "PresenceOut",
    "UploadOut",
    "router",
]

router = APIRouter(prefix="/api/v1/blobs", tags=["blobs"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
Digest = Annotated[str, Path(max_length=200, description="``blake3:`` and 64 hex digits.")]
_CHUNK = 1024 * 1024
BATCH_MAX_BLOBS = 1000  # blobs in one batched upload
BATCH_MAX_BYTES = 8 * 1024 * 1024  # their bytes together, decoded
_SHOWN = 3  # mismatched blobs named in an error


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


class BatchBlob(BaseModel):
    """One blob of a batched upload: its digest and its bytes in base64."""

    model_config = ConfigDict(extra="forbid")

    digest: str = Field(max_length=200)
    data: str = Field(max_length=(BATCH_MAX_BYTES // 3 + 1) * 4)


class BlobBatchIn(BaseModel):
    """Small blobs to store together (at most 1,000, 8 MiB of bytes in all)."""

    model_config = ConfigDict(extra="forbid")

    blobs: list[BatchBlob] = Field(max_length=BATCH_MAX_BLOBS)


class BlobBatchOut(BaseModel):
    """What each blob of a batched upload left in the store, in the order sent."""

    blobs: list[UploadOut]


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


def _decoded(body: BlobBatchIn, limit: int) -> list[tuple[str, bytes]]:
    """The batch's ``(digest, bytes)``, each checked: refuses the whole batch on any fault."""
    import base64
    import binascii

    blobs: list[tuple[str, bytes]] = []
    total = 0
    for blob in body.blobs:
        digest = parse_digest(blob.digest)
        try:
            data = base64.b64decode(blob.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(
                f"the bytes of blob {digest} are not valid base64",
                hint="send each blob's bytes base64-encoded; nothing was stored",
            ) from None
        total += len(data)
        if total > BATCH_MAX_BYTES or len(data) > limit:
            from labledger.server.errors import RequestTooLargeError

            raise RequestTooLargeError(
                f"the batch holds more than {min(BATCH_MAX_BYTES, limit)} bytes of blobs",
                hint="send fewer blobs a batch, and large ones with PUT /api/v1/blobs/{digest}; "
                "nothing was stored",
            )
        blobs.append((digest, data))
    wrong = [(digest, digest_bytes(data)) for digest, data in blobs if digest_bytes(data) != digest]
    if wrong:
        shown = "; ".join(
            f"{claimed} holds bytes hashing to {actual}" for claimed, actual in wrong[:_SHOWN]
        ) + ("; ..." if len(wrong) > _SHOWN else "")
        raise ValidationError(
            f"{len(wrong)} blob(s) do not match their digest ({shown}); nothing was stored",
            hint="send each blob's exact bytes under the digest of those bytes",
        )
    return blobs


@router.post("/batch", response_model=BlobBatchOut)
def upload_batch(request: Request, scope: Writer, body: BlobBatchIn) -> BlobBatchOut:
    """Store many small blobs in one request, each visible only once its bytes hash to its
    digest; when any does not, none is stored (400). Blobs stored already are not written
    again (``stored: false``), so sending a batch again changes nothing."""
    from labledger.workspace.blobstore import exists_many, put_many

    require_some_project(scope)
    blobs = _decoded(body, request.app.state.upload_limit)
    store = _store(request)
    held = exists_many(store, [digest for digest, _ in blobs])
    new = {digest: data for digest, data in blobs if not held[digest]}
    put_many(store, list(new.values()))
    return BlobBatchOut(
        blobs=[
            UploadOut(digest=digest, size=len(data), stored=digest in new) for digest, data in blobs
        ]
    )


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
