"""Lineage queries on a large synthetic graph: ancestors, descendants and reproducibility status.

The graph (rows inserted directly, about 100,000 artifacts and as many tasks) has:

* a *chain*: ``chain-0`` (a logged source) and 1,000 steps, each reading the previous artifact and a
  shared ``config`` artifact, so ``chain-1000`` has 1,000 generations of ancestors;
* a *fan*: ``hub`` (a logged source) read by ``--branches`` tasks (990 by default), each starting a
  branch of ``--branch-length`` steps (100), every step also reading ``config``.

``config`` is thus read by every task: its descendants are the whole graph. The chain's blobs and
the hub's are stored for real; the fan's artifacts share one stored blob, so the status checks ask
the store about each distinct digest once, as they would anyway.

Run: ``.venv/bin/python benchmarks/bench_lineage.py [--workspace URI] [--repeat 7] [--json FILE]``.
A PostgreSQL URL as ``--workspace`` (with ``LABLEDGER_STORE`` naming a blob folder) measures a
team catalog; the database must be empty.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from _common import (
    MachineInfo,
    Result,
    console,
    median_seconds,
    print_header,
    print_results,
    scratch_dir,
    timed,
    write_json,
)

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

CHAIN = 1000
TARGET_S = 0.1
BATCH = 10_000


class _Rows:
    """Collects catalog rows and writes them in large batches."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        from labledger.workspace import schema

        self.ws, self.run_id, self.schema = ws, run_id, schema
        self.project = ws.project_id()
        self.tables: dict[str, list[dict[str, Any]]] = {
            "blobs": [],
            "artifacts": [],
            "tasks": [],
            "task_inputs": [],
            "task_outputs": [],
        }
        self.count = 0
        self.blobs: set[str] = set()

    def artifact(self, name: str, digest: str) -> str:
        from labledger._foundation.ids import new_id

        artifact_id = new_id()
        self.tables["artifacts"].append(
            {
                "id": artifact_id,
                "project_id": self.project,
                "name": name,
                "kind": "file",
                "format": "bin",
                "digest": digest,
                "size": 8,
                "schema_json": "{}",
                "stats_json": "{}",
                "run_id": self.run_id,
                "created_at": time.time(),
                "created_by": "bench",
            }
        )
        self.count += 1
        return artifact_id

    def step(self, node: str, inputs: dict[str, str], output: str) -> None:
        from labledger._foundation.ids import new_id

        task_id = new_id()
        self.tables["tasks"].append(
            {
                "id": task_id,
                "run_id": self.run_id,
                "node": node,
                "step": "bench.step",
                "fingerprint": "blake3:" + "0" * 64,
                "cache_key": "blake3:" + "1" * 64,
                "status": "finished",
                "cached_from": None,
                "attempts": 1,
                "started_at": time.time(),
                "ended_at": time.time(),
                "params_json": "{}",
                "options_json": '{"deterministic":true}',
                "code_captured": True,
                "log_digest": None,
                "error": None,
            }
        )
        self.tables["task_inputs"] += [
            {"task_id": task_id, "name": name, "artifact_id": artifact_id}
            for name, artifact_id in inputs.items()
        ]
        self.tables["task_outputs"].append(
            {
                "task_id": task_id,
                "name": "out",
                "artifact_id": output,
                "produced": True,
                "materializer": "bytes",
            }
        )
        if len(self.tables["tasks"]) >= BATCH:
            self.flush()

    def blob(self, data: bytes) -> str:
        digest = self.ws.store.put(data)
        if digest not in self.blobs:
            self.blobs.add(digest)
            self.tables["blobs"].append(
                {"digest": digest, "size": len(data), "created_at": time.time()}
            )
        return digest

    def flush(self) -> None:
        with self.ws.write() as conn:
            for name, rows in self.tables.items():
                if rows:
                    conn.execute(self.schema.metadata.tables[name].insert(), rows)
                rows.clear()


def build(ws: Workspace, branches: int, branch_length: int) -> dict[str, str]:
    """Insert the graph; return the ids of its landmarks."""
    run_id = _pipeline_run(ws)
    rows = _Rows(ws, run_id)
    blob = rows.blob
    shared = blob(b"fan")
    marks = {"config": rows.artifact("config", blob(b"config"))}
    marks["chain-0"] = previous = rows.artifact("chain-0", blob(b"chain-0"))
    for level in range(1, CHAIN + 1):
        output = rows.artifact(f"chain-{level}", blob(f"chain-{level}".encode()))
        rows.step(f"chain_{level}", {"x": previous, "config": marks["config"]}, output)
        previous = output
    marks["chain-end"] = previous
    marks["hub"] = hub = rows.artifact("hub", blob(b"hub"))
    for branch in range(branches):
        previous = hub
        for level in range(branch_length):
            output = rows.artifact(f"fan-{branch}-{level}", shared)
            rows.step(f"fan_{branch}_{level}", {"x": previous, "config": marks["config"]}, output)
            previous = output
        marks["fan-leaf"] = previous
    rows.flush()
    marks["artifacts"] = str(rows.count)
    return marks


def _pipeline_run(ws: Workspace) -> str:
    from labledger._foundation.canonical import canonical_json
    from labledger._foundation.ids import new_id
    from labledger.workspace import schema

    run_id = new_id()
    code = ws.store.put(canonical_json({"kind": "tree", "entries": []}))
    now = time.time()
    with ws.write() as conn:
        ws.register_blob(conn, code, 30)
        conn.execute(
            schema.runs.insert(),
            {
                "id": run_id,
                "project_id": ws.project_id(),
                "name": "bench",
                "kind": "pipeline",
                "status": "finished",
                "user": "bench",
                "host": "bench",
                "pid": 1,
                "started_at": now,
                "ended_at": now,
                "heartbeat_at": now,
            },
        )
        conn.execute(
            schema.pipeline_runs.insert(),
            {
                "run_id": run_id,
                "pipeline": "bench:graph",
                "code_digest": code,
                "lock_digest": code,
                "seed": 0,
            },
        )
    return run_id


def measure(ws: Workspace, marks: dict[str, str], repeat: int) -> list[Result]:
    from labledger.lineage import ancestors, descendants, graph_reproducibility, reproducibility

    results: list[Result] = []

    def add(group: str, name: str, action: Any, target: float | None = None) -> Any:
        value = action()
        seconds, _ = median_seconds(action, repeat)
        size = (
            f"{len(value.nodes):,} nodes, {len(value.edges):,} edges"
            if hasattr(value, "nodes")
            else ""
        )
        results.append(Result(group, name, seconds, None, "s", target, note=size))
        return value

    end, start, leaf = marks["chain-end"], marks["chain-0"], marks["fan-leaf"]
    deep = "1,000-deep chain"
    add("chain", f"ancestors, {deep}", lambda: ancestors(end, workspace=ws), TARGET_S)
    add("chain", f"descendants, {deep}", lambda: descendants(start, workspace=ws), TARGET_S)
    add("chain", "ancestors, depth=10", lambda: ancestors(end, depth=10, workspace=ws))
    add(
        "chain",
        "ancestors by name (newest of a name)",
        lambda: ancestors("chain-1000", workspace=ws),
    )
    up = ancestors(end, workspace=ws)
    down = descendants(start, workspace=ws)
    add("status", f"reproducibility(), {deep}", lambda: reproducibility(end, workspace=ws))
    add(
        "status",
        f"graph_reproducibility(ancestors), {deep}",
        lambda: graph_reproducibility(up, workspace=ws),
    )
    add(
        "status",
        f"graph_reproducibility(descendants), {deep}",
        lambda: graph_reproducibility(down, workspace=ws),
    )
    add("fan", "ancestors of a branch leaf", lambda: ancestors(leaf, workspace=ws))
    add(
        "fan",
        "descendants of the hub, depth=2",
        lambda: descendants(marks["hub"], depth=2, workspace=ws),
    )
    add(
        "fan",
        "descendants of the hub, whole fan",
        lambda: descendants(marks["hub"], workspace=ws),
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="an empty workspace folder or database URL")
    parser.add_argument("--branches", type=int, default=990)
    parser.add_argument("--branch-length", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    info = MachineInfo.collect(["sqlalchemy", "psycopg"])
    print_header("lineage queries", info)
    from labledger.workspace.workspace import Workspace

    with scratch_dir(None, "labledger-lineage-") as folder:
        ws = Workspace.init(args.workspace or folder)
        try:
            with timed() as watch:
                marks = build(ws, args.branches, args.branch_length)
            console.print(
                f"built {int(marks['artifacts']):,} artifacts in {watch.seconds:.1f} s "
                f"({ws.catalog.dialect})"
            )
            results = measure(ws, marks, args.repeat)
        finally:
            ws.close()
    print_results(f"lineage on {ws.catalog.dialect}", "-", results)
    write_json(args.json, info, results, artifacts=int(marks["artifacts"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
