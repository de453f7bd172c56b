"""Checking a ledger someone else keeps (a server): its signed checkpoint, its consistency with
what this user saw last, and (full) every entry walked here."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

import labledger
from labledger.workspace.ledger_check import check_ledger, last_seen, remember
from labledger.workspace.workspace import Workspace
from tests.unit.workspace.test_transparency import _rehash, _truncate

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.stores.ledger import LedgerEntry


def _runs(ws: Workspace, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        with labledger.start_run(f"r{i}", params={"i": i}, workspace=ws) as run:
            run.log_metric("auc", 0.5 + i / 100)


def _keeper(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace as a keeper that lies would serve it: opened afresh, remembering nothing,
    so it signs whatever its catalog now holds."""
    monkeypatch.setenv("LABLEDGER_STATE_DIR", str(tmp_path / "keeper-state"))
    assert ws.settings.root is not None
    return Workspace.open(ws.settings.root.parent)


def test_a_whole_ledger_checks_out_quick_and_full(workspace: Workspace) -> None:
    _runs(workspace, 3)
    store = workspace.stores.ledger
    first = check_ledger(store, full=True)
    assert first.ok, first.problems
    assert first.walked == first.checkpoint.size > 0 and first.checkpoint.signatures
    _runs(workspace, 2, start=3)
    later = check_ledger(store, previous=first.checkpoint, full=True)
    assert later.ok, later.problems
    assert later.checkpoint.size > first.checkpoint.size
    quick = check_ledger(store, previous=later.checkpoint)
    assert quick.ok and quick.walked == 0


def test_a_keeper_that_cut_entries_is_caught_by_the_quick_check(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runs(workspace, 3)
    seen = check_ledger(workspace.stores.ledger).checkpoint
    workspace.close()
    _truncate(workspace, 2)
    with _keeper(workspace, tmp_path, monkeypatch) as keeper:
        result = check_ledger(keeper.stores.ledger, previous=seen)
    assert not result.ok
    assert any("were cut from its end" in p for p in result.problems), result.problems


def test_a_keeper_that_rewrote_and_regrew_history_is_caught(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _runs(workspace, 3)
    seen = check_ledger(workspace.stores.ledger).checkpoint
    workspace.close()
    assert workspace.settings.root is not None
    db = sqlite3.connect(workspace.settings.root / "catalog.db")
    db.execute(
        'UPDATE ledger SET payload_json = replace(payload_json, \'"i":"1"\', \'"i":"9"\') '
        "WHERE kind = 'run.started'"
    )
    db.commit()
    db.close()
    _rehash(workspace)
    with _keeper(workspace, tmp_path, monkeypatch) as keeper:
        _runs(keeper, 2, start=10)  # grown past what was seen, so sizes alone do not tell
        quick = check_ledger(keeper.stores.ledger, previous=seen)
        full = check_ledger(keeper.stores.ledger, previous=seen, full=True)
    assert any("does not extend" in p for p in quick.problems), quick.problems
    assert any("do not make the root" in p for p in full.problems), full.problems


class _LyingKeeper:
    """A keeper that signs honest checkpoints but hands out an edited entry."""

    def __init__(self, store: Any, edit_seq: int) -> None:
        self._store, self._edit_seq = store, edit_seq

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def entries(self, *, after_seq: int = 0, limit: int = 5000) -> list[LedgerEntry]:
        return [
            dataclasses.replace(e, actor="mallory") if e.seq == self._edit_seq else e
            for e in self._store.entries(after_seq=after_seq, limit=limit)
        ]


def test_a_full_check_walks_every_entry_and_finds_an_edited_one(workspace: Workspace) -> None:
    _runs(workspace, 2)
    honest = workspace.stores.ledger
    assert check_ledger(_LyingKeeper(honest, edit_seq=0), full=True).ok
    result = check_ledger(_LyingKeeper(honest, edit_seq=2), full=True)
    assert any("entry #2" in p and "does not match its hash" in p for p in result.problems)
    assert any("do not make the new checkpoint's root" in p for p in result.problems)
    # The quick check trusts the keeper's hashes, by design: only the full walk reads entries.
    assert check_ledger(_LyingKeeper(honest, edit_seq=2)).ok


def test_the_last_seen_checkpoint_is_remembered_per_location(
    workspace: Workspace,
) -> None:
    _runs(workspace, 1)
    first = check_ledger(workspace.stores.ledger).checkpoint
    assert last_seen("http://lab:8080") is None
    remember("http://lab:8080", first)
    _runs(workspace, 1, start=1)
    second = check_ledger(workspace.stores.ledger).checkpoint
    remember("http://lab:8080", second)
    remember("http://lab:8080", first)  # an older one never replaces a newer one
    assert last_seen("http://lab:8080") == second
    assert last_seen("http://other:8080") is None


def test_a_keeper_holds_its_first_checkpoint_to_its_entries(workspace: Workspace) -> None:
    from labledger._foundation.errors import IntegrityError

    _runs(workspace, 3)
    seen = check_ledger(workspace.stores.ledger).checkpoint
    workspace.close()
    assert workspace.settings.root is not None
    db = sqlite3.connect(workspace.settings.root / "catalog.db")
    changed = db.execute(
        "UPDATE ledger SET payload_json = replace(payload_json, '\"r1\"', '\"r9\"') "
        "WHERE kind = 'run.started'"
    ).rowcount
    assert changed == 3
    db.commit()
    db.close()
    # The same user, who remembers the ledger as it was: its tip alone would sign the old root.
    with Workspace.open(workspace.settings.root.parent) as keeper:
        with pytest.raises(IntegrityError, match="edited in place"):
            check_ledger(keeper.stores.ledger, previous=seen)
