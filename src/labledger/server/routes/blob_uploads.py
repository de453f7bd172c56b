"""``/api/v1/blobs/uploads``: direct uploads to the store's S3 bucket (see ``s3_staging``).

``POST /uploads`` answers a presigned PUT URL for a staging key when the store is S3, and
``direct: false`` otherwise (the client then streams the blob through ``PUT /blobs/{digest}``).
``POST /uploads/{id}/complete`` reads the staged bytes back, checks their size and digest, and
publishes the blob at its content address only when both match. Both need an editor's role in
some project, as ``PUT /blobs/{digest}`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import ValidationError
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.blobs import UploadOut
from labledger.server.routes.project_reads import require_some_project
from labledger.stores.identity import Role
from labledger.workspace.s3_staging import staging_of

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore

__all__ = ["StagedUploadOut", "UploadClaim", "router"]

router = APIRouter(prefix="/api/v1/blobs/uploads", tags=["blobs"])
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
UploadId = Annotated[str, Path(max_length=64, description="The id ``POST /uploads`` gave.")]


def _store(request: Request) -> BlobStore:
    return request.app.state.workspace.store  # type: ignore[no-any-return]


class UploadClaim(BaseModel):
    """The blob a client is about to send (or has sent): its digest and size in bytes."""

    model_config = ConfigDict(extra="forbid")

    digest: str = Field(max_length=200)
    size: int = Field(ge=0, le=2**62)


class StagedUploadOut(BaseModel):
    """Where to PUT the bytes; ``direct`` is false (with a reason) when the store cannot."""

    direct: bool
    upload_id: str | None = None
    url: str | None = None
    reason: str | None = None


def _check_size(request: Request, size: int) -> None:
    limit: int = request.app.state.upload_limit
    if size > limit:
        from labledger.server.errors import RequestTooLargeError

        raise RequestTooLargeError(
            f"the blob is larger than the server's upload limit of {limit} bytes",
            hint="ask the server's administrator to raise --max-upload-mb",
        )


@router.post("", response_model=StagedUploadOut)
def begin(request: Request, scope: Writer, body: UploadClaim) -> StagedUploadOut:
    """A presigned URL to send a blob straight to the store's bucket (S3 stores only)."""
    require_some_project(scope)
    parse_digest(body.digest)
    _check_size(request, body.size)
    staging = staging_of(_store(request))
    if staging is None:
        return StagedUploadOut(
            direct=False,
            reason="the server's blob store is not S3: send the blob with "
            "PUT /api/v1/blobs/{digest}",
        )
    upload_id, url = staging.begin()
    return StagedUploadOut(direct=True, upload_id=upload_id, url=url)


@router.post("/{upload_id}/complete", response_model=UploadOut)
async def complete(
    request: Request, scope: Writer, upload_id: UploadId, body: UploadClaim
) -> UploadOut:
    """Check the staged bytes (read back in full to hash them) and publish them at their digest."""
    await run_in_threadpool(require_some_project, scope)
    digest = parse_digest(body.digest)
    staging = staging_of(_store(request))
    if staging is None:
        raise ValidationError(
            "the server's blob store is not S3: it takes no direct uploads",
            hint="send the blob with PUT /api/v1/blobs/{digest}",
        )
    limit: int = request.app.state.upload_limit
    done = await run_in_threadpool(staging.complete, upload_id, digest, body.size, limit=limit)
    return UploadOut(digest=done.digest, size=done.size, stored=done.stored)
