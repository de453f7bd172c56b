"""Artifacts: ``ArtifactStore``, and the frozen types it takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from labledger._foundation.digests import digest_record

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from labledger.stores.pages import Page

__all__ = ["Artifact", "ArtifactStore", "NewArtifact", "produced_payload"]


@dataclass(frozen=True, slots=True)
class Artifact:
    """A typed, named value stored as a blob."""

    id: str
    name: str
    kind: str
    format: str
    digest: str
    size: int
    run_id: str | None
    created_at: float
    created_by: str
    schema: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewArtifact:
    """An artifact to record: its row, its project, and every blob it is made of as
    ``(digest, size)`` (a tree: its manifest and each file).

    An artifact of a run is recorded in the run's project, whatever ``project_id`` says; the
    project is for an artifact of no run.
    """

    artifact: Artifact
    project_id: str
    blobs: tuple[tuple[str, int], ...] = ()


class ArtifactStore(Protocol):
    """Artifacts: recorded, looked up and listed."""

    def add_artifacts(self, artifacts: Sequence[NewArtifact]) -> list[Artifact]:
        """Record artifacts in one transaction: register their blobs, index them for search and
        append an ``artifact.produced`` ledger entry for each.

        Raises:
            ConflictError: A run already has an artifact of one of these names (or two of them
                share a run and a name); nothing is written.
        """
        ...

    def get_artifacts(
        self, refs: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[Artifact]:
        """The artifacts ``refs`` name, in the order given: an id, a unique id prefix, a name
        (the newest of that name) or a digest.

        With ``projects`` (project ids), only artifacts of those projects are looked at: an
        artifact of another project is not found, exactly as if it did not exist (a server
        keeps each user to the projects they read). ``None``: every project.

        Raises:
            NotFoundError: A reference names no artifact.
            AmbiguousReferenceError: An id prefix names several artifacts.
        """
        ...

    def list_artifacts(
        self,
        *,
        run_id: str | None = None,
        kind: str | None = None,
        page_token: str | None = None,
        max_results: int = 100,
        projects: Collection[str] | None = None,
    ) -> Page[Artifact]:
        """One page of artifacts, newest first, of one run (those it made and those its pipeline
        tasks reused) or kind when given, and of ``projects`` (project ids) when given: the
        store keeps to them in its query, so pages stay full and tokens exact.

        Raises:
            ValidationError: ``page_token`` is not one this store gave out, or ``max_results``
                is not a positive int.
        """
        ...


def produced_payload(artifact: Artifact, project_id: str) -> dict[str, Any]:
    """The payload of ``artifact``'s ``artifact.produced`` entry: what the store writes, and what a
    client that signs its own entries signs. ``project_id`` is named only for an artifact of no
    run (a run's artifact is in the run's project).

    Beside what the artifact is, it holds when it was made (``created_at`` as stored: it decides
    which of several artifacts of one name a name finds) and digests of the canonical JSON of its
    schema and stats (``schema_digest``, ``stats_digest``: the text the catalog stores), so that
    ``verify`` sees any of them changed without the entry carrying documents that can be large.
    """
    payload: dict[str, Any] = {
        "artifact_id": artifact.id,
        "name": artifact.name,
        "digest": artifact.digest,
        "run_id": artifact.run_id,
        "kind": artifact.kind,
        "size": artifact.size,
        "format": artifact.format,
        # A float as the catalog's column holds it, whatever number type was given.
        "created_at": float(artifact.created_at),
        "schema_digest": digest_record(artifact.schema),
        "stats_digest": digest_record(artifact.stats),
    }
    if artifact.run_id is None:
        payload["project_id"] = project_id
    return payload
