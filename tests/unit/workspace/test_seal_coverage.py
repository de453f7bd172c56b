"""Any single field of any catalog row that a sealed run, artifact, metadata value, collection or
reproduction check depends on, once changed, makes ``verify`` fail and say where."""

from __future__ import annotations

import shutil
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labledger
from labledger.metadata import collections as collection_api
from labledger.metadata import fields as field_api
from labledger.metadata import values as value_api
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

# (table, column): what the seal and the ledger vouch for. Not in the list, on purpose: tags
# (editable annotations), who/where a run ran (user, host, pid, heartbeat), task timings and
# attempts, artifact stats and creation times, search documents (an index rebuilt from rows).
# metrics.seq is covered by the order it gives, not its numbers (a renumbering that keeps the order
# changes nothing sealed): test_metric_batches swaps two values' seqs and verify finds it.
COVERED = [
    ("runs", "name"),
    ("runs", "status"),
    ("runs", "started_at"),
    ("runs", "ended_at"),
    ("runs", "environment_digest"),
    ("runs", "git_commit"),
    ("runs", "record_digest"),
    ("params", "value"),
    ("params", "value_num"),
    ("params", "key"),
    ("metrics", "value"),
    ("metrics", "step"),
    ("metrics", "timestamp"),
    ("metrics", "key"),
    ("latest_metrics", "value"),
    ("latest_metrics", "step"),
    ("artifacts", "name"),
    ("artifacts", "digest"),
    ("artifacts", "size"),
    ("artifacts", "kind"),
    ("artifacts", "format"),
    ("artifacts", "schema_json"),
    ("blobs", "size"),
    ("pipeline_runs", "pipeline"),
    ("pipeline_runs", "code_digest"),
    ("pipeline_runs", "lock_digest"),
    ("pipeline_runs", "facts_digest"),
    ("pipeline_runs", "seed"),
    ("pipeline_runs", "params_json"),
    ("tasks", "node"),
    ("tasks", "step"),
    ("tasks", "fingerprint"),
    ("tasks", "cache_key"),
    ("tasks", "status"),
    ("tasks", "params_json"),
    ("tasks", "options_json"),
    ("tasks", "log_digest"),
    ("task_inputs", "artifact_id"),
    ("task_outputs", "artifact_id"),
    ("task_outputs", "materializer"),
    ("verifications", "matched"),
    ("metadata_values", "value_num"),
    ("collection_members", "member_id"),
    ("metadata_fields", "unit"),
    ("metadata_fields", "maximum"),
    ("metadata_fields", "minimum"),
    ("collections", "name"),
]

PIPELINE = """
import labledger

@labledger.step
def count(path: labledger.File) -> int:
    return len(path.read_text().split())

@labledger.step
def double(n: int) -> dict:
    return {"n": 2 * n}

@labledger.pipeline
def study(factor: int = 2) -> dict:
    return double(count(labledger.File("words.txt")))
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("template")
    (root / "words.txt").write_text("a b c")
    (root / "study_pipe.py").write_text(PIPELINE)
    import sys

    sys.path.insert(0, str(root))
    ws = Workspace.init(root)
    try:
        with labledger.start_run("tracked", params={"lr": 0.1}, workspace=ws) as run:
            run.log_metric("auc", 0.9, step=1)
            run.log_artifact({"w": [1]}, name="model.json")
        import os

        here = os.getcwd()
        os.chdir(root)
        try:
            import study_pipe

            result = study_pipe.study.run(workspace=ws)
            labledger.reproduce(result.run_id, workspace=ws)
        finally:
            os.chdir(here)
        field_api.define_field("dose", "number", minimum=0, maximum=10, workspace=ws)
        value_api.set_metadata(run.id, {"dose": 5}, workspace=ws)
        collection_api.create_collection("keep", workspace=ws)
        collection_api.add_to_collection("keep", run.id, workspace=ws)
        assert verify_workspace(ws, remember=False).ok
    finally:
        ws.close()
        sys.path.remove(str(root))
    yield root


def _flip(db: sqlite3.Connection, table: str, column: str, rowid: int, value: Any) -> bool:
    """Change one field; ``False`` when no different value of the same sort is at hand."""
    if isinstance(value, bool) or column in ("matched",):
        new: Any = 0 if value else 1
    elif isinstance(value, int | float):
        new = value + 1
    elif column in ("artifact_id", "member_id"):
        source = "artifacts" if column == "artifact_id" else "runs"
        others = [r[0] for r in db.execute(f"SELECT id FROM {source} WHERE id != ?", (value,))]
        if column == "artifact_id":
            digest = db.execute("SELECT digest FROM artifacts WHERE id = ?", (value,)).fetchone()[0]
            others = [
                r[0] for r in db.execute("SELECT id FROM artifacts WHERE digest != ?", (digest,))
            ]
        if not others:
            return False
        new = others[0]
    elif isinstance(value, str) and value.startswith("blake3:"):
        others = [r[0] for r in db.execute("SELECT digest FROM blobs WHERE digest != ?", (value,))]
        new = others[0]
    elif value is None:
        new = "x"
    else:
        new = str(value) + "x"
    db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (new, rowid))
    return True


@settings(
    max_examples=45,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from(COVERED), st.integers(0, 50))
def test_any_field_a_seal_depends_on_is_found(
    template: Path, tmp_path_factory: pytest.TempPathFactory, target: tuple[str, str], pick: int
) -> None:
    table, column = target
    copy = tmp_path_factory.mktemp("flip") / "ws"
    shutil.copytree(template, copy)
    db = sqlite3.connect(copy / ".labledger" / "catalog.db")
    db.execute("PRAGMA foreign_keys = OFF")
    rows = db.execute(f"SELECT rowid, {column} FROM {table}").fetchall()
    assert rows, f"the template has no {table} rows"
    rowid, value = rows[pick % len(rows)]
    changed = _flip(db, table, column, rowid, value)
    db.commit()
    db.close()
    if not changed:
        return
    with Workspace.open(copy) as ws:
        report = verify_workspace(ws, remember=False)
    assert not report.ok, f"{table}.{column} {value!r} changed and verify said ok"
    assert all(p.reason and p.hint for p in report.problems), report.problems


@pytest.mark.parametrize("target", COVERED, ids=lambda t: f"{t[0]}.{t[1]}")
def test_every_covered_field_once(
    template: Path, tmp_path_factory: pytest.TempPathFactory, target: tuple[str, str]
) -> None:
    for pick in (0, -1):
        copy = tmp_path_factory.mktemp("each") / "ws"
        shutil.copytree(template, copy)
        db = sqlite3.connect(copy / ".labledger" / "catalog.db")
        db.execute("PRAGMA foreign_keys = OFF")
        rows = db.execute(f"SELECT rowid, {target[1]} FROM {target[0]}").fetchall()
        rowid, value = rows[pick]
        changed = _flip(db, *target, rowid, value)
        db.commit()
        db.close()
        if not changed:
            continue
        with Workspace.open(copy) as ws:
            report = verify_workspace(ws, remember=False)
        assert not report.ok, f"{target} row {pick} {value!r} changed and verify said ok"


def _pages(path: Path) -> int:
    return path.stat().st_size // 4096


def test_a_damaged_index_is_found_before_anything_trusts_it(template: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"
    shutil.copytree(template, copy)
    catalog = copy / ".labledger" / "catalog.db"
    db = sqlite3.connect(catalog)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = db.execute(
        "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = 'ix_ledger_kind'"
    ).fetchone()
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with catalog.open("r+b") as handle:  # keep the page header, scramble its cells (at its end)
        handle.seek(root * page_size - 1024)
        handle.write(bytes(range(256)) * 4)
    with Workspace.open(copy) as ws:
        report = verify_workspace(ws, remember=False)
    assert not report.ok
    assert report.problems[0].kind == "catalog"
    assert "integrity check" in report.problems[0].reason
    assert "restore it from a backup" in report.problems[0].hint


def test_corrupt_pages_never_give_a_traceback_or_ok(template: Path, tmp_path: Path) -> None:
    from labledger._foundation.errors import LabledgerError

    source = template / ".labledger" / "catalog.db"
    db = sqlite3.connect(source)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    pages = _pages(source)
    outcomes = []
    for page in range(1, pages, max(1, pages // 13)):
        copy = tmp_path / f"ws{page}"
        shutil.copytree(template, copy)
        with (copy / ".labledger" / "catalog.db").open("r+b") as handle:
            handle.seek((page + 1) * 4096 - 1024)  # cells sit at the end of a page
            handle.write(b"\xff\x00" * 512)
        try:
            check = sqlite3.connect(copy / ".labledger" / "catalog.db")
            sqlite_ok = check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            check.close()
        except sqlite3.DatabaseError:
            sqlite_ok = False
        try:
            with Workspace.open(copy) as ws:
                report = verify_workspace(ws, remember=False)
        except LabledgerError as exc:  # a catalog too damaged to open is a clear error too
            outcomes.append(("refused", str(exc)))
            continue
        if not sqlite_ok:
            assert not report.ok, f"page {page} damaged, SQLite's check fails, verify said ok"
        outcomes.append(("found" if not report.ok else "harmless", page))
    assert any(kind != "harmless" for kind, _ in outcomes)
