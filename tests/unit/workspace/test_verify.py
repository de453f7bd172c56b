"""verify_workspace: the chain, every referenced blob, and every sealed run record."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger.tracking.run import start_run
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def _finished_run(ws: Workspace) -> tuple[str, str]:
    with start_run("verified", params={"lr": 0.1, "model": "gbm"}, workspace=ws) as run:
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1))
        artifact = run.log_artifact(b"model weights", name="model")
    return run.id, artifact.digest


def _flip_a_byte(ws: Workspace, digest: str) -> None:
    assert isinstance(ws.store, LocalBlobStore)
    path = ws.store.path_of(digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_clean_workspace_verifies(workspace: Workspace) -> None:
    empty = verify_workspace(workspace)
    assert empty.ok
    assert empty.problems == []
    _finished_run(workspace)
    report = verify_workspace(workspace)
    assert report.ok, report.problems
    assert report.entries_checked >= 3  # run.started, artifact.produced, run.finished
    assert report.runs_checked == 1
    assert report.blobs_checked >= 2  # environment and artifact


def test_progress_is_reported(workspace: Workspace) -> None:
    _finished_run(workspace)
    seen: list[tuple[str, int, int]] = []
    verify_workspace(
        workspace, progress=lambda phase, done, total: seen.append((phase, done, total))
    )
    phases = {phase for phase, _, _ in seen}
    assert phases == {"runs", "blobs"}
    assert all(done <= total for _, done, total in seen)


def test_a_flipped_byte_is_a_blob_problem(workspace: Workspace) -> None:
    _, digest = _finished_run(workspace)
    _flip_a_byte(workspace, digest)
    report = verify_workspace(workspace)
    assert not report.ok
    assert [(p.kind, p.id) for p in report.problems] == [("blob", digest)]
    assert "hash to blake3:" in report.problems[0].reason
    # Without re-hashing, the catalog and ledger alone still look fine.
    quick = verify_workspace(workspace, blobs=False)
    assert quick.ok
    assert quick.blobs_checked == 0


def test_a_deleted_blob_is_missing(workspace: Workspace) -> None:
    _, digest = _finished_run(workspace)
    workspace.store.delete(digest)
    report = verify_workspace(workspace)
    assert [(p.kind, p.id) for p in report.problems] == [("blob", digest)]
    assert "missing" in report.problems[0].reason


def _edit(ws: Workspace, statement: str, **params: object) -> None:
    with ws.catalog.writer.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_editing_a_param_of_a_finished_run_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(
        workspace,
        "UPDATE params SET value = '0.2', value_num = 0.2 WHERE run_id = :r AND key = 'lr'",
        r=run_id,
    )
    report = verify_workspace(workspace)
    assert [(p.kind, p.id) for p in report.problems] == [("run", run_id)]
    assert "changed after it was sealed" in report.problems[0].reason


def test_editing_a_metric_of_a_finished_run_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 0.0001 WHERE run_id = :r AND step = 4", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_deleting_or_adding_metric_rows_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r AND step = 0", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_editing_an_artifact_or_status_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE runs SET status = 'failed' WHERE id = :r", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_tags_stay_editable(workspace: Workspace) -> None:
    with start_run("tagged", tags={"team": "assay"}, workspace=workspace) as run:
        pass
    run.set_tag("team", "screening")
    assert verify_workspace(workspace).ok


def test_a_sealed_run_missing_from_the_catalog(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    for table in ("params", "metrics", "latest_metrics", "tags", "artifacts"):
        _edit(workspace, f"DELETE FROM {table} WHERE run_id = :r", r=run_id)
    _edit(workspace, "DELETE FROM runs WHERE id = :r", r=run_id)
    problems = verify_workspace(workspace).problems
    assert ("run", run_id) in [(p.kind, p.id) for p in problems]
    assert any("its row is gone" in p.reason for p in problems)


def test_a_broken_chain_is_a_ledger_problem(workspace: Workspace) -> None:
    _finished_run(workspace)
    _edit(workspace, "UPDATE ledger SET actor = 'mallory' WHERE seq = 1")
    problems = verify_workspace(workspace).problems
    assert problems[0].kind == "ledger"
    assert problems[0].reason.startswith("entry #1")


def test_an_edited_metric_is_named_with_its_sealed_and_current_value(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 0.0001 WHERE run_id = :r AND step = 4", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': sealed 0.2 at step 4, now 0.0001 at step 4" in problem.reason


def test_an_edited_earlier_metric_value_or_a_deleted_row_is_named(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 7.0 WHERE run_id = :r AND step = 1", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': an earlier value changed" in problem.reason
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r AND step = 0", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': 5 values sealed, 4 now" in problem.reason
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss' was sealed but is gone, last 0.2 at step 4" in problem.reason


def test_an_edited_param_is_named(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(
        workspace,
        "UPDATE params SET value = '0.2', value_num = 0.2 WHERE run_id = :r AND key = 'lr'",
        r=run_id,
    )
    (problem,) = verify_workspace(workspace).problems
    assert problem.reason == (
        "rows of this run changed after it was sealed: param 'lr' changed after the seal, now 0.2"
    )
    assert "restore the catalog from a backup" in problem.hint
