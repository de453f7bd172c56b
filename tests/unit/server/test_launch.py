"""Which binds may run without authentication, opening a served workspace, and the heap a server
starts with."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import ConfigurationError, SchemaOutdatedError
from labledger.server import auth_required_for, is_loopback, open_served_workspace
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.workspace import Workspace
from tests.old_catalogs import folder_catalog_at

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert auth_required_for(host, has_users=False) is False
    assert auth_required_for(host, has_users=True) is True


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.4", "example.org"])
def test_other_binds_without_users_refuse(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError, match="without authentication"):
        auth_required_for(host, has_users=False)
    assert auth_required_for(host, has_users=True) is True


def test_a_served_workspace_is_migrated_on_start(tmp_path: Path) -> None:
    root = folder_catalog_at(tmp_path, "0005")
    with pytest.raises(SchemaOutdatedError, match="labledger migrate"):
        open_served_workspace(str(tmp_path), migrate=False)
    with open_served_workspace(str(tmp_path)) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        assert ws.settings.root == root.resolve()
    with open_served_workspace(str(tmp_path), migrate=False) as ws:  # now current
        assert ws.catalog.revision() == HEAD_REVISION


def test_a_team_workspace_is_named_by_catalog_and_store(
    tmp_path: Path, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'team.db'}"
    blobs = str(tmp_path / "blobs")
    with pytest.raises(ConfigurationError, match="no blob store"):
        open_served_workspace(catalog=url)
    monkeypatch.setenv("LABLEDGER_STORE", blobs)
    Workspace.init(url).close()
    monkeypatch.delenv("LABLEDGER_STORE")
    # --catalog takes the place of --workspace / LABLEDGER_URI.
    with open_served_workspace(str(workspace.settings.root), catalog=url, store=blobs) as ws:
        assert (ws.settings.catalog_url, ws.settings.store_url) == (url, blobs)
    with pytest.raises(ConfigurationError, match="workspace folder"):
        open_served_workspace(str(workspace.settings.root), store=blobs)


def test_a_missing_server_extra_is_named_before_anything_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from labledger.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    # No workspace there: the check comes first, so its error is the one the user reads.
    result = CliRunner().invoke(app, ["server", "-w", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "the server needs its extra dependencies: server (uvicorn missing)" in result.output
    assert "no workspace" not in result.output


def test_every_missing_extra_a_team_server_needs_is_named_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from labledger.cli import app

    real = importlib.util.find_spec
    gone = {"psycopg", "s3fs"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in gone else real(name, *a)
    )
    result = CliRunner().invoke(
        app, ["server", "--catalog", "postgresql://lab@db/ll", "--store", "s3://lab/ll"]
    )
    assert result.exit_code == 1
    assert "the server needs its extra dependencies: postgres, s3" in result.output
    assert "pip install -e '.[server,postgres,s3]'" in result.output


def test_a_served_workspace_derives_its_ledger_tip_before_it_takes_requests(
    workspace: Workspace,
) -> None:
    """A server with no tip yet (a fresh container's state folder) derives it on start, in a
    read, not inside the first run's end, where it would hold every other writer back."""
    import labledger
    from labledger.workspace.ledger import ledger_head
    from labledger.workspace.verify_state import forget_state

    for name in ("a", "b", "c"):
        labledger.start_run(name, workspace=workspace).end()
    forget_state(workspace)
    root = str(workspace.settings.root)
    with open_served_workspace(root) as served:
        with served.read() as conn:
            size, _ = ledger_head(conn)
        assert served.ledger_tip is not None
        assert served.ledger_tip.size == size
    with open_served_workspace(root) as served:  # remembered in the state folder
        assert served.ledger_tip is not None
        assert served.ledger_tip.size == size


def test_a_ledger_cut_since_the_tip_is_left_for_verify(workspace: Workspace) -> None:
    import labledger
    from labledger.workspace.checkpoints import catch_up_tip

    for name in ("a", "b"):
        labledger.start_run(name, workspace=workspace).end()
    size = catch_up_tip(workspace)
    assert size
    with workspace.write() as conn:
        conn.exec_driver_sql("DELETE FROM ledger WHERE seq = ?", (size,))
    workspace.ledger_tip = None  # the remembered tip is read from the state folder
    assert catch_up_tip(workspace) is None


def test_a_server_started_on_a_cut_ledger_warns(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    import labledger
    from labledger.workspace.checkpoints import catch_up_tip

    for name in ("a", "b"):
        labledger.start_run(name, workspace=workspace).end()
    size = catch_up_tip(workspace)
    with workspace.write() as conn:
        conn.exec_driver_sql("DELETE FROM ledger WHERE seq = ?", (size,))
    root = str(workspace.settings.root)
    with caplog.at_level("WARNING", logger="labledger.server"), open_served_workspace(root) as ws:
        assert ws.ledger_tip is None
    assert "no longer extends" in caplog.text


def test_the_heap_a_server_starts_with_is_kept_out_of_full_collections() -> None:
    import gc

    from labledger.server.launch import settle_heap

    assert gc.get_freeze_count() == 0
    try:
        settle_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the modules imported so far, at least
        # What comes later is collected as usual: a cycle made now is found by a collection.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()


def test_a_store_that_refuses_at_start_is_warned_of(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from labledger.server.launch import _warn_if_store_refuses

    def refused(*_: object) -> bool:
        raise PermissionError("Forbidden")

    _warn_if_store_refuses(workspace)
    assert not caplog.records
    monkeypatch.setattr(type(workspace.store), "exists", refused)
    with caplog.at_level("WARNING", logger="labledger.server"):
        _warn_if_store_refuses(workspace)
    assert "the blob store does not answer: PermissionError: Forbidden" in caplog.text
