"""Artifacts logged through a server are held by ``verify`` to their creation time, stats and
schema as the embedded store holds them: with the server signing, and with a client that signs
its own ``artifact.produced`` entries (whose time the server keeps, within its clock's skew)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labledger._foundation.errors import ValidationError
from labledger._foundation.ids import new_id
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.pipelines import pipeline, step
from labledger.stores.artifacts import Artifact, NewArtifact
from labledger.tracking.artifacts import get_artifact, store_artifact
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.ledger import iter_entries
from labledger.workspace.signing import Signer
from labledger.workspace.verify import verify_workspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.workspace.workspace import Workspace

_EDITS = {
    "created_at": "UPDATE artifacts SET created_at = created_at - 60 WHERE id = :i",
    "stats": """UPDATE artifacts SET stats_json = '{"rows": 0}' WHERE id = :i""",
    "schema": """UPDATE artifacts SET schema_json = '{"fields": []}' WHERE id = :i""",
}


@step
def wells(n: int) -> list[int]:
    return list(range(n))


@pipeline
def plate(n: int = 4) -> Any:
    return wells(n)


@pytest.fixture
def open_as(
    app: Any, team: dict[str, str], workspace: Workspace
) -> Iterator[Callable[[bool], RemoteWorkspace]]:
    """ed, an editor of ``default``, through the server: signing with a registered key or not."""
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    signer = Signer("ed", Ed25519PrivateKey.generate())
    service.add_key("ed", signer.public_key_hex, name="laptop", by="ed")
    opened: list[RemoteWorkspace] = []

    def make(signing: bool) -> RemoteWorkspace:
        remote = RemoteWorkspace(
            server_settings("http://server.test"),
            transport=AppTransport(app),
            token=team["ed"],
            signer=signer if signing else None,
        )
        opened.append(remote)
        return remote

    yield make
    for remote in opened:
        remote.close()


def _edited_shows(workspace: Workspace, artifact_id: str, fact: str) -> bool:
    with workspace.catalog.writer.begin() as conn:
        before = dict(
            conn.execute(sa.text("SELECT * FROM artifacts WHERE id = :i"), {"i": artifact_id})
            .mappings()
            .one()
        )
        conn.execute(sa.text(_EDITS[fact]), {"i": artifact_id})
    problems = verify_workspace(workspace, blobs=False, remember=False).problems
    with workspace.catalog.writer.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE artifacts SET created_at = :created_at, stats_json = :stats_json, "
                "schema_json = :schema_json WHERE id = :id"
            ),
            before,
        )
    return any(
        (p.kind, p.id) == ("artifact", artifact_id) and f"its {fact}" in p.reason for p in problems
    )


def _entry(workspace: Workspace, artifact_id: str) -> Any:
    with workspace.read() as conn:
        (entry,) = iter_entries(conn, subject=f"artifact:{artifact_id}", kind="artifact.produced")
    return entry


@pytest.mark.parametrize("signing", [False, True], ids=["server-signed", "client-signed"])
def test_an_artifact_logged_through_a_server_is_held_to_its_time_stats_and_schema(
    open_as: Callable[[bool], RemoteWorkspace], workspace: Workspace, signing: bool
) -> None:
    remote = open_as(signing)
    logged = store_artifact(remote, {"wells": [1, 2, 3]}, name="layout")
    entry = _entry(workspace, logged.id)
    assert entry.payload.get("by", entry.actor) == "ed" and (entry.actor == "ed") is signing
    stored = get_artifact(logged.id, workspace=workspace)
    assert entry.payload["created_at"] == stored.created_at == logged.created_at
    assert verify_workspace(workspace, blobs=False, remember=False).ok
    for fact in _EDITS:
        assert _edited_shows(workspace, logged.id, fact), fact
    assert verify_workspace(workspace, blobs=False, remember=False).ok


def _add(remote: RemoteWorkspace, *, stats: dict[str, Any], created_at: float) -> Artifact:
    digest = remote.store.put(b"plate reader export")
    artifact = Artifact(
        new_id(), "export", "bytes", "bin", digest, 19, None, created_at, "ed", stats=stats
    )
    new = NewArtifact(artifact, remote.project_id(), ((digest, 19),))
    return remote.stores.artifacts.add_artifacts([new])[0]


def test_a_signed_entry_keeps_the_clients_time_and_non_finite_stats(
    open_as: Callable[[bool], RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as(True)
    made_at = time.time() - 30
    stats = {"mean": math.nan, "max": math.inf}
    recorded = _add(remote, stats=stats, created_at=made_at)
    assert recorded.created_at == made_at
    stored = get_artifact(recorded.id, workspace=workspace)
    assert stored.created_at == made_at and stored.stats == {"mean": "NaN", "max": "Infinity"}
    assert verify_workspace(workspace, blobs=False, remember=False).ok
    assert _edited_shows(workspace, recorded.id, "stats")


def test_a_signed_time_far_from_the_servers_clock_is_refused(
    open_as: Callable[[bool], RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as(True)
    with pytest.raises(ValidationError) as refused:
        _add(remote, stats={}, created_at=time.time() - 86400)
    assert "from the server's clock" in refused.value.message
    assert "clock" in (refused.value.hint or "")
    with workspace.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM artifacts")).scalar_one() == 0


@pytest.mark.parametrize("signing", [False, True], ids=["server-signed", "client-signed"])
def test_a_pipeline_run_through_a_server_holds_its_outputs_at_the_seal(
    open_as: Callable[[bool], RemoteWorkspace], workspace: Workspace, signing: bool
) -> None:
    done = plate.run(workspace=open_as(signing))
    assert done.status == "finished"
    with workspace.read() as conn:
        (entry,) = iter_entries(conn, kind="artifacts.produced")
    assert bool(entry.signature) is signing
    (artifact_id,) = [item[0] for item in entry.payload["artifacts"]]
    assert entry.payload["created_at"] == [
        get_artifact(artifact_id, workspace=workspace).created_at
    ]
    assert verify_workspace(workspace, blobs=False, remember=False).ok
    assert _edited_shows(workspace, artifact_id, "created_at")
    assert _edited_shows(workspace, artifact_id, "stats")
