"""Writers that store bytes equal to old orphan blobs while gc runs: shared by the SQLite and the
PostgreSQL + S3 tests.

Each writer is a separate process that logs artifacts through the public API, one per orphan of its
share, and so finds most orphans present (renewing them) just before it commits their rows.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

from labledger.workspace.gc import collect_garbage
from labledger.workspace.verify import verify_workspace
from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.gc import GcReport
    from labledger.workspace.workspace import Workspace

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import labledger
    from labledger.workspace import Workspace

    where, first, step, count, started = sys.argv[1:6]
    ws = Workspace.open(None if where == "-" else where)
    Path(started).touch()
    with labledger.start_run(f"writer-{first}", workspace=ws) as run:
        for i in range(int(first), int(count), int(step)):
            run.log_artifact(f"orphan payload {i} ".encode() * 4, name=f"a{i}")
    ws.close()
    """
)


def payload(index: int) -> bytes:
    """The bytes of orphan ``index``, which writer processes store again."""
    return f"orphan payload {index} ".encode() * 4


def start_writers(
    where: str | None, count: int, writers: int, folder: Path
) -> list[subprocess.Popen[bytes]]:
    """Start ``writers`` processes logging the ``count`` payloads between them; wait until each has
    opened the workspace."""
    environment = subprocess_env()
    started = [folder / f"writer-{n}.started" for n in range(writers)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                where or "-",
                str(n),
                str(writers),
                str(count),
                str(flag),
            ],
            env=environment,
            stderr=subprocess.PIPE,
        )
        for n, flag in enumerate(started)
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in started) and time.monotonic() < deadline:
        time.sleep(0.01)
    return processes


def collect_while_writing(
    workspace: Workspace, writers: list[subprocess.Popen[bytes]], grace_s: float
) -> list[GcReport]:
    """Run gc again and again until every writer has finished (successfully)."""
    reports = []
    while any(process.poll() is None for process in writers):
        reports.append(collect_garbage(workspace, grace_s=grace_s))
    for process in writers:
        _, errors = process.communicate()
        assert process.returncode == 0, errors.decode()
    return reports


def blob_problems(workspace: Workspace) -> list[str]:
    """Blobs that committed rows reference but the store does not have (or has damaged)."""
    report = verify_workspace(workspace)
    return [f"{p.id}: {p.reason}" for p in report.problems if p.kind == "blob"]
