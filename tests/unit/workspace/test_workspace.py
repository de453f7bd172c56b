"""Creating, opening and using a workspace; the current-workspace switch."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import (
    ConfigurationError,
    WorkspaceError,
    WorkspaceNotFoundError,
    WorkspaceUnreadableError,
)
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.current import get_workspace, set_workspace
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from labledger.workspace.workspace import DEFAULT_PROJECT, Workspace, current_actor

if TYPE_CHECKING:
    from pathlib import Path


def test_init_creates_the_layout(tmp_path: Path) -> None:
    with Workspace.init(tmp_path) as ws:
        root = tmp_path / ".labledger"
        assert ws.settings.root == root.resolve()
        assert (root / "catalog.db").is_file()
        assert (root / "objects").is_dir()
        assert (root / ".gitignore").read_text().splitlines()[-1] == "*"
        assert isinstance(ws.store, LocalBlobStore)
        assert ws.catalog.revision() == HEAD_REVISION
        assert repr(ws) == f"<Workspace {root.resolve()}>"


def test_init_twice_opens_the_same_workspace(tmp_path: Path) -> None:
    with Workspace.init(tmp_path) as first:
        project = first.project_id()
    (tmp_path / ".labledger" / ".gitignore").write_text("kept\n")
    with Workspace.init(tmp_path / ".labledger") as second:
        assert second.project_id() == project
    assert (tmp_path / ".labledger" / ".gitignore").read_text() == "kept\n"


def test_init_accepts_file_uris_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Workspace.init(f"file://{tmp_path / 'a'}") as ws:
        assert ws.settings.root == (tmp_path / "a" / ".labledger").resolve()
    monkeypatch.setenv("LABLEDGER_URI", str(tmp_path / "b"))
    with Workspace.init() as ws:
        assert ws.settings.root == (tmp_path / "b" / ".labledger").resolve()


def test_init_defaults_to_the_current_folder(in_folder: Path) -> None:
    with Workspace.init() as ws:
        assert ws.settings.root == (in_folder / ".labledger").resolve()


def test_open_finds_an_existing_workspace(workspace: Workspace, tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    with Workspace.open(nested.parent.parent) as ws:
        assert ws.settings.root == workspace.settings.root
        assert ws.project_id() == workspace.project_id()


def test_open_without_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="labledger init"):
        Workspace.open(tmp_path)
    (tmp_path / ".labledger").mkdir()
    with pytest.raises(WorkspaceNotFoundError, match=r"no catalog\.db"):
        Workspace.open(tmp_path)


def test_init_where_the_folder_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(WorkspaceUnreadableError) as caught:
        Workspace.init(blocker)
    assert "\n" not in str(caught.value)
    assert caught.value.hint


def test_a_catalog_newer_than_this_version_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.catalog.writer.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(WorkspaceUnreadableError, match="newer") as caught:
        Workspace.open(tmp_path)
    assert "pip install -U labledger" in str(caught.value)


def test_actor_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABLEDGER_USER", "ana")
    assert current_actor() == "ana"
    with Workspace.init(tmp_path) as ws:
        assert ws.actor == "ana"
    with Workspace.init(tmp_path, actor="ben") as ws:
        assert ws.actor == "ben"


def test_a_given_store_is_used(tmp_path: Path) -> None:
    store = MemoryBlobStore()
    with Workspace.init(tmp_path, store=store) as ws:
        assert ws.store is store


def test_projects_are_created_once_and_cached(workspace: Workspace, tmp_path: Path) -> None:
    first = workspace.project_id("assays")
    assert workspace.project_id("assays") == first
    assert workspace.project_id(DEFAULT_PROJECT) != first
    with Workspace.open(tmp_path) as other:
        assert other.project_id("assays") == first
    with workspace.read() as conn:
        names = set(conn.execute(sa.select(schema.projects.c.name)).scalars())
    assert names == {DEFAULT_PROJECT, "assays"}


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_invalid_project_names(workspace: Workspace, name: str) -> None:
    with pytest.raises(ConfigurationError):
        workspace.project_id(name)


def test_write_commits_or_rolls_back(workspace: Workspace) -> None:
    table = schema.collections
    row = {
        "id": "c1",
        "name": "kept",
        "description": "",
        "owner": "a",
        "created_at": 1.0,
        "project_id": workspace.project_id(),
    }
    with workspace.write() as conn:
        conn.execute(table.insert(), row)
    with pytest.raises(ZeroDivisionError), workspace.write() as conn:
        conn.execute(table.insert(), {**row, "id": "c2", "name": "lost"})
        _ = 1 / 0
    with workspace.read() as conn:
        assert list(conn.execute(sa.select(table.c.name)).scalars()) == ["kept"]


def test_upsert_and_insert_ignore(workspace: Workspace) -> None:
    table = schema.collections
    row = {
        "id": "c1",
        "name": "one",
        "description": "first",
        "owner": "a",
        "created_at": 1.0,
        "project_id": workspace.project_id(),
    }
    with workspace.write() as conn:
        workspace.insert_ignore(conn, table, [row])
        workspace.insert_ignore(conn, table, [{**row, "description": "ignored"}])
        workspace.insert_ignore(conn, table, [])
    with workspace.read() as conn:
        assert conn.execute(sa.select(table.c.description)).scalar_one() == "first"
    with workspace.write() as conn:
        workspace.upsert(conn, table, [{**row, "description": "replaced"}], ["id"])
        workspace.upsert(conn, table, [], ["id"])
    with workspace.read() as conn:
        assert conn.execute(sa.select(table.c.description)).scalar_one() == "replaced"


def test_register_blob_is_idempotent(workspace: Workspace) -> None:
    digest = workspace.store.put(b"x")
    with workspace.write() as conn:
        workspace.register_blob(conn, digest, 1)
        workspace.register_blob(conn, digest, 1)
    with workspace.read() as conn:
        assert list(conn.execute(sa.select(schema.blobs.c.digest)).scalars()) == [digest]


def test_current_workspace_is_opened_from_settings(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    opened = get_workspace()
    try:
        assert opened is not workspace
        assert opened.settings.root == workspace.settings.root
        assert get_workspace() is opened
    finally:
        set_workspace(None)
        opened.close()


def test_set_workspace_by_object_path_and_none(workspace: Workspace, tmp_path: Path) -> None:
    assert set_workspace(workspace) is workspace
    assert get_workspace() is workspace
    by_path = set_workspace(tmp_path)
    assert by_path is not None
    try:
        assert by_path.settings.root == workspace.settings.root
        assert get_workspace() is by_path
    finally:
        by_path.close()
    assert set_workspace(None) is None


def test_public_init_and_open_make_the_workspace_current(tmp_path: Path) -> None:
    ws = labledger.init(tmp_path)
    try:
        assert get_workspace() is ws
        opened = labledger.open_workspace(tmp_path)
        try:
            assert get_workspace() is opened
            assert labledger.verify().ok
        finally:
            opened.close()
    finally:
        set_workspace(None)
        ws.close()


def test_workspace_errors_are_workspace_errors() -> None:
    assert issubclass(WorkspaceUnreadableError, WorkspaceError)


def test_store_files_are_read_only(workspace: Workspace) -> None:
    digest = workspace.store.put(b"immutable")
    assert isinstance(workspace.store, LocalBlobStore)
    mode = workspace.store.path_of(digest).stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _driver(conn: sa.Connection) -> object:
    return conn.connection.driver_connection


def test_consecutive_writes_share_one_connection(workspace: Workspace) -> None:
    pool = workspace.catalog.writer.pool
    with workspace.write() as conn:
        first = _driver(conn)
    with workspace.write() as conn:
        assert _driver(conn) is first
    assert pool.checkedout() == 1  # kept for the next write
    workspace.close()
    assert pool.checkedout() == 0


def test_a_failed_write_does_not_keep_its_connection(workspace: Workspace) -> None:
    with workspace.write() as kept:
        pass
    with pytest.raises(RuntimeError), workspace.write() as failed:
        assert failed is kept
        failed.execute(
            sa.insert(schema.ledger_keys), {"actor": "a", "public_key": "k", "created_at": 0}
        )
        raise RuntimeError("roll back")
    assert failed.closed
    with workspace.write() as conn:
        assert conn is not failed
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.ledger_keys)).scalar() == 0
        )


def test_writes_from_two_threads_both_commit(workspace: Workspace) -> None:
    import threading

    def write_key(actor: str) -> None:
        with workspace.write() as conn:
            conn.execute(
                sa.insert(schema.ledger_keys), {"actor": actor, "public_key": "k", "created_at": 0}
            )

    threads = [threading.Thread(target=write_key, args=(f"actor-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with workspace.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.ledger_keys)).scalar() == 8
        )
    assert workspace.catalog.writer.pool.checkedout() <= 1


def test_an_unclosed_workspace_returns_its_connection_when_collected(tmp_path: Path) -> None:
    import gc

    ws = Workspace.init(tmp_path)
    pool = ws.catalog.writer.pool
    with ws.write():
        pass
    assert pool.checkedout() == 1
    del ws
    gc.collect()
    assert pool.checkedout() == 0
