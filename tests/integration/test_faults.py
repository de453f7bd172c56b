"""Faults: a process killed mid-write, a failing disk, and catalogs that cannot be read."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.digests import digest_file
from labledger._foundation.errors import WorkspaceError, WorkspaceUnreadableError
from labledger.tracking.query import get_metric_history, get_run
from labledger.tracking.run import start_run
from labledger.workspace import schema
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

# Logs metrics and stores ever-growing blobs until it is killed. Once some metrics are committed it
# writes their count to the "ready" file, so the parent knows what must survive the kill.
VICTIM = textwrap.dedent(
    """
    import os, sys
    from labledger.workspace.workspace import Workspace
    from labledger.tracking.run import start_run

    folder, ready = sys.argv[1], sys.argv[2]
    ws = Workspace.open(folder)
    run = start_run("victim", params={"seed": 7}, tags={"kind": "fault"}, workspace=ws)
    step = 0
    while True:
        run.log_metric("loss", 1.0 / (step + 1))
        if step % 5 == 0:
            size = (step // 5 % 40 + 1) * 128 * 1024
            run.log_artifact(bytes([step % 251]) * size + str(step).encode(), name=f"blob-{step}")
        if step == 60:
            run.flush()
            with open(ready + ".tmp", "w") as handle:
                handle.write(f"{run.id} {step + 1}")
            os.replace(ready + ".tmp", ready)
        step += 1
    """
)


def _kill_mid_run(folder: Path, tmp_path: Path, delay_s: float) -> tuple[str, int]:
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if child.poll() is not None:
                _, err = child.communicate()
                pytest.fail(
                    f"the child exited with {child.returncode} before logging:\n{err.decode()}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the child never started logging")
            time.sleep(0.01)
        time.sleep(delay_s)
        assert child.poll() is None, "the child ended on its own"
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == -signal.SIGKILL
    run_id, flushed = ready.read_text().split()
    return run_id, int(flushed)


def _every_visible_blob_is_whole(ws: Workspace) -> int:
    assert isinstance(ws.store, LocalBlobStore)
    count = 0
    for digest in ws.store.digests():
        assert digest_file(ws.store.path_of(digest)) == digest, f"{digest} is half-written"
        count += 1
    return count


@pytest.mark.parametrize("delay_s", [0.0, 0.15, 0.6])
def test_a_killed_process_leaves_a_consistent_workspace(tmp_path: Path, delay_s: float) -> None:
    Workspace.init(tmp_path).close()
    run_id, flushed = _kill_mid_run(tmp_path, tmp_path, delay_s)

    with Workspace.open(tmp_path) as ws:
        run = get_run(run_id, workspace=ws)
        # Opening reads only: the run keeps its status, and reading says it lost its lease.
        assert run.status == "running"
        assert run.lost is not None and run.lost.endswith("is gone")
        assert run.params == {"seed": "7"}
        history = get_metric_history(run_id, "loss", workspace=ws)
        assert len(history) >= flushed
        assert [p.step for p in history] == list(range(len(history)))
        assert all(p.value == 1.0 / (p.step + 1) for p in history)

        report = verify_workspace(ws)
        assert report.ok, report.problems
        assert _every_visible_blob_is_whole(ws) >= 2
        with ws.read() as conn:
            artifacts = (
                conn.execute(
                    sa.select(schema.artifacts.c.digest).where(schema.artifacts.c.run_id == run_id)
                )
                .scalars()
                .all()
            )
        assert artifacts
        assert all(ws.store.exists(d) for d in artifacts)

        # Work goes on in the same workspace; the next run seals the dead one as crashed.
        with start_run("after the crash", workspace=ws) as again:
            again.log_metric("loss", 0.1)
            again.log_artifact(b"fresh" * 1000, name="fresh")
        assert get_run(again.id, workspace=ws).status == "finished"
        assert get_run(run_id, workspace=ws).status == "crashed"
        assert verify_workspace(ws).ok


@pytest.mark.parametrize("failing", ["fsync", "replace"])
@pytest.mark.parametrize("source", ["bytes", "file"])
def test_a_failing_disk_leaves_no_catalog_row(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, source: str
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(300_000))
    value = path if source == "file" else path.read_bytes()
    assert isinstance(workspace.store, LocalBlobStore)
    with start_run("disk", workspace=workspace) as run:
        run.log_metric("m", 1.0)

        def broken(*_: object) -> None:
            raise OSError(errno.EIO, "Input/output error")

        with monkeypatch.context() as patch:
            patch.setattr(os, failing, broken)
            with pytest.raises(OSError, match="Input/output"):
                run.log_artifact(value, name="doomed")
        assert not workspace.store.exists(digest_file(path))
        assert list((workspace.store.root / "tmp").iterdir()) == []
        # The disk is back: the same artifact can be stored now.
        artifact = run.log_artifact(value, name="doomed")
    with workspace.read() as conn:
        names = conn.execute(sa.select(schema.artifacts.c.name)).scalars().all()
    assert names == ["doomed"]
    assert artifact.digest == digest_file(path)
    report = verify_workspace(workspace)
    assert report.ok, report.problems


def test_a_failing_disk_mid_run_still_verifies(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_run("disk", workspace=workspace) as run:

        def full_disk(_fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fsync", full_disk)
        with pytest.raises(OSError, match="No space left"):
            run.log_artifact(b"never stored", name="lost")
        monkeypatch.undo()
    assert get_run(run.id, workspace=workspace).status == "finished"
    with workspace.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.artifacts)).scalar_one() == 0
        )
    assert verify_workspace(workspace).ok


def _one_line_workspace_error(folder: Path) -> WorkspaceError:
    with pytest.raises(WorkspaceError) as caught:
        Workspace.open(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.hint
    return caught.value


def test_garbage_in_the_catalog_file(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    (tmp_path / ".labledger" / "catalog.db").write_bytes(os.urandom(64 * 1024))
    for leftover in ("catalog.db-wal", "catalog.db-shm"):
        (tmp_path / ".labledger" / leftover).unlink(missing_ok=True)
    error = _one_line_workspace_error(tmp_path)
    assert isinstance(error, WorkspaceUnreadableError)
    assert "catalog" in str(error)


def test_a_truncated_catalog_file(tmp_path: Path) -> None:
    with Workspace.init(tmp_path) as ws, start_run("r", workspace=ws) as run:
        for step in range(2000):
            run.log_metric("m", float(step))
    db = tmp_path / ".labledger" / "catalog.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    error = _one_line_workspace_error(tmp_path)
    assert isinstance(error, WorkspaceUnreadableError)


def test_a_folder_in_place_of_the_catalog(tmp_path: Path) -> None:
    root = tmp_path / ".labledger"
    (root / "objects").mkdir(parents=True)
    (root / "catalog.db").mkdir()
    with pytest.raises(WorkspaceError) as caught:
        Workspace.open(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_file_in_place_of_the_workspace_folder(tmp_path: Path) -> None:
    (tmp_path / ".labledger").write_bytes(b"\x00garbage")
    with pytest.raises(WorkspaceError) as caught:
        Workspace.open(tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(WorkspaceUnreadableError) as caught_init:
        Workspace.init(tmp_path)
    assert "\n" not in str(caught_init.value)
