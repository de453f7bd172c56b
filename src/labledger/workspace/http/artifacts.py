"""``HttpArtifactStore``: a server's artifacts, over ``/api/v1/artifacts``.

The server records an artifact only once every blob it is made of is in its store (the blob store
uploads them first), and names the signed-in user as its maker: the artifacts it answers are the
ones to keep (their ``created_by`` and ``created_at`` are the server's). A user who holds a signing
key signs each artifact's ``artifact.produced`` entry, which the server writes as signed. That entry
names the artifact's time before the server could, so the server keeps the time signed (if within
``MAX_CLOCK_SKEW`` of its clock), and digests of its schema and stats, so these are sent as the
catalog stores them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from labledger._foundation.canonical import canonical_text
from labledger.stores.artifacts import (
    Artifact,
    produced_payload,
)
from labledger.stores.pages import Page

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from labledger.stores.artifacts import NewArtifact
    from labledger.stores.signed_wire import EntrySigner
    from labledger.workspace.http.client import Client

__all__ = ["HttpArtifactStore"]

_ROUTE = "/api/v1/artifacts"
_BATCH = 1000


class _Artifacts(BaseModel):
    items: list[Artifact]


class _ArtifactPage(BaseModel):
    items: list[Artifact]
    next_page_token: str | None


def _wire(new: NewArtifact) -> dict[str, Any]:
    artifact = new.artifact
    return {
        "id": artifact.id,
        "name": artifact.name,
        "kind": artifact.kind,
        "format": artifact.format,
        "digest": artifact.digest,
        "size": artifact.size,
        "run_id": artifact.run_id,
        # As the catalog stores them (a NaN as "NaN", which JSON cannot carry as a number), so
        # the server digests what the signed entry digests.
        "schema": _as_stored(artifact.schema),
        "stats": _as_stored(artifact.stats),
        "blobs": [list(blob) for blob in new.blobs],
        **({"project_id": new.project_id} if new.project_id else {}),
    }


def _as_stored(document: dict[str, Any]) -> Any:
    return json.loads(canonical_text(document))


class HttpArtifactStore:
    """Artifacts kept by a labledger server."""

    def __init__(self, client: Client, sign: EntrySigner | None = None) -> None:
        self._client = client
        self._sign = sign

    def add_artifacts(self, artifacts: Sequence[NewArtifact]) -> list[Artifact]:
        # One request, one transaction: a batch over the server's limit is refused whole.
        if not artifacts:
            return []
        body: dict[str, Any] = {"artifacts": [_wire(new) for new in artifacts]}
        if self._sign is not None:
            body["signed"] = [self._signed(new) for new in artifacts]
        # Not retried: a lost answer must not record the artifacts twice.
        answer: _Artifacts = self._client.call("POST", _ROUTE, body, _Artifacts)
        return answer.items

    def _signed(self, new: NewArtifact) -> dict[str, Any]:
        """The artifact's ``artifact.produced`` entry, signed by the user's key (if they hold
        one): the payload the server's store writes for it."""
        assert self._sign is not None
        artifact = new.artifact
        payload = produced_payload(artifact, new.project_id)
        return self._sign("artifact.produced", f"artifact:{artifact.id}", payload)

    def get_artifacts(
        self, refs: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[Artifact]:
        found: list[Artifact] = []
        for start in range(0, len(refs), _BATCH):
            body: dict[str, Any] = {"refs": list(refs[start : start + _BATCH])}
            if projects is not None:
                body["projects"] = sorted(set(projects))
            answer: _Artifacts = self._client.call(
                "POST", f"{_ROUTE}/get", body, _Artifacts, idempotent=True
            )
            found += answer.items
        return found

    def list_artifacts(
        self,
        *,
        run_id: str | None = None,
        kind: str | None = None,
        page_token: str | None = None,
        max_results: int = 100,
        projects: Collection[str] | None = None,
    ) -> Page[Artifact]:
        if projects is not None and not projects:
            return Page([], None)
        params: dict[str, Any] = {"max_results": max_results}
        if projects is not None:
            params["project"] = sorted(set(projects))
        if run_id is not None:
            params["run_id"] = run_id
        if kind is not None:
            params["kind"] = kind
        if page_token is not None:
            params["page_token"] = page_token
        page: _ArtifactPage = self._client.call("GET", _ROUTE, model=_ArtifactPage, params=params)
        return Page(page.items, page.next_page_token)
