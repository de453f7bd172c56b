"""Processes writing one workspace's ledger at once, for the transparency log's concurrency tests.

Run as a script: ``python ledger_writers.py WORKSPACE WORKER RUNS GO_FILE [STOP_FILE]``. It waits
for ``GO_FILE`` so that all writers start together, then finishes ``RUNS`` runs (each with a
metric and an artifact named ``w<WORKER>-r<i>.bin``) and one pipeline run. With ``STOP_FILE`` it
is a checkpointer instead: it signs checkpoints and makes proofs until ``STOP_FILE`` appears.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.workspace.workspace import Workspace


def artifact_name(worker: int, index: int) -> str:
    """The name of the artifact a writer logs in its ``index``-th run."""
    return f"w{worker}-r{index}.bin"


def _write(ws: Workspace, worker: int, runs: int) -> None:
    from labledger.pipelines import pipeline, step
    from labledger.tracking.run import start_run

    for index in range(runs):
        with start_run(f"w{worker}-r{index}", params={"worker": worker}, workspace=ws) as run:
            run.log_metric("loss", 1.0 / (index + 1))
            run.log_artifact(
                f"worker {worker} run {index}".encode(), name=artifact_name(worker, index)
            )

    @step
    def scale(x: int) -> int:
        return 3 * x

    @pipeline
    def scaled(x: int = 0) -> int:
        return scale(scale(x))

    scaled.run(workspace=ws, x=worker)


def _checkpoints(ws: Workspace, stop: Path) -> int:
    from labledger.workspace.checkpoints import make_checkpoint
    from labledger.workspace.proofs import check_proof, make_proof

    made = 0
    while not stop.exists():
        make_checkpoint(ws)
        try:
            document = make_proof(ws, artifact_name(0, 0))
        except Exception as error:  # not produced yet
            if "matches" not in str(error) and "no artifact.produced" not in str(error):
                raise
        else:
            assert check_proof(document).ok
        made += 1
    return made


def main(argv: list[str]) -> None:
    from labledger.workspace.workspace import Workspace

    target, worker, runs, go = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    while not go.exists():  # start together, so the writers really overlap
        time.sleep(0.005)
    with Workspace.open(target) as ws:
        if len(argv) > 4:
            print("checkpoints", _checkpoints(ws, Path(argv[4])))
        else:
            _write(ws, worker, runs)
            print("done", worker)


def start(
    target: str, workers: int, runs: int, folder: Path, env: Mapping[str, str]
) -> tuple[list[subprocess.Popen[str]], subprocess.Popen[str], Path, Path]:
    """Start ``workers`` writers and one checkpointer; return them, the go and the stop file."""
    go, stop = folder / "go", folder / "stop"
    command = [sys.executable, __file__, target]

    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
        )

    writers = [spawn(str(w), str(runs), str(go)) for w in range(workers)]
    checkpointer = spawn("-1", "0", str(go), str(stop))
    return writers, checkpointer, go, stop


def wait(
    writers: list[subprocess.Popen[str]], checkpointer: subprocess.Popen[str], stop: Path
) -> list[tuple[int, str, str]]:
    """Wait for the writers, then stop the checkpointer; ``(code, stdout, stderr)`` of each."""
    outcomes = []
    try:
        for child in writers:
            out, err = child.communicate(timeout=300)
            outcomes.append((child.returncode, out, err))
        stop.write_text("stop")
        out, err = checkpointer.communicate(timeout=120)
        outcomes.append((checkpointer.returncode, out, err))
    finally:
        for child in [*writers, checkpointer]:
            if child.poll() is None:
                child.kill()
                child.communicate()
    return outcomes


def check_log(ws: Workspace, workers: int, runs: int) -> None:
    """Everything the writers left is one whole log: the assertions both concurrency tests share."""
    from labledger.workspace.checkpoints import load_checkpoint
    from labledger.workspace.ledger import iter_entries, walk_chain
    from labledger.workspace.log_tree import tree_root, tree_size
    from labledger.workspace.proofs import check_proof, make_proof
    from labledger.workspace.schema import ledger_checkpoints
    from labledger.workspace.verify import verify_workspace

    report = verify_workspace(ws, remember=False)
    assert report.ok, report.problems
    assert report.runs_checked >= workers * (runs + 1)
    with ws.read() as conn:
        seqs = [entry.seq for entry in iter_entries(conn)]
        size = tree_size(conn)
        stored_root = tree_root(conn, size)
        stored = [
            load_checkpoint(document)
            for document in conn.execute(
                ledger_checkpoints.select().with_only_columns(ledger_checkpoints.c.document)
            ).scalars()
        ]
        walk = walk_chain(conn, sizes={c.size for c in stored})
    assert seqs == list(range(1, len(seqs) + 1))
    assert size == len(seqs) == report.tree_size == walk.checked
    assert stored_root == report.tree_root == walk.root
    # Every run wrote one; the checkpointer more.
    assert len(stored) >= workers * (runs + 1)
    empty = hashlib.sha256(b"").hexdigest()  # the root of no entries (RFC 9162)
    for checkpoint in stored:
        expected = walk.roots[checkpoint.size] if checkpoint.size else empty
        assert expected == checkpoint.root, checkpoint
    for worker in range(workers):
        proof = make_proof(ws, artifact_name(worker, runs - 1))
        assert check_proof(proof).ok
        assert proof["subject"]["name"] == artifact_name(worker, runs - 1)


if __name__ == "__main__":
    main(sys.argv[1:])
