"""Lineage graphs written straight into a workspace's catalog, with their blobs in its store.

``LineageBuilder`` inserts the rows a pipeline run leaves (runs, pipeline runs, tasks, artifacts,
input and output edges, verifications) without running anything, so tests can shape any graph.
``build_study`` makes the multi-run graph most lineage tests use::

    raw (logged source) ─ clean ─ train ─┬ model ─ report          run "first" (pipeline)
                                          └ metrics
    first re-run: clean, train cached; eval reads model + holdout ─ score; peek (code not
    captured) reads score ─ peek                                     run "second" (pipeline)
    plot reads clean ─ plot; noisy (not deterministic) reads clean ─ noisy
                                                                     run "third" (no code snapshot)
    a reproduce run of "first" verified model (matched) and report (did not match).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.ids import new_id
from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

_clock = itertools.count(1)


def _now() -> float:
    # Strictly increasing, so "the newest of a name" is well defined within a test.
    return 1_700_000_000.0 + next(_clock)


class LineageBuilder:
    """Insert lineage rows into ``workspace``; blobs are really stored."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.project = workspace.project_id()

    def blob(self, data: bytes) -> str:
        digest = self.ws.store.put(data)
        with self.ws.write() as conn:
            self.ws.register_blob(conn, digest, len(data))
        return digest

    def run(
        self,
        name: str,
        *,
        pipeline: bool = True,
        code: bool = True,
        lock: bool = True,
        reproduces: str | None = None,
    ) -> str:
        run_id = new_id()
        started = _now()
        row = {
            "id": run_id,
            "project_id": self.project,
            "name": name,
            "kind": "pipeline" if pipeline else "run",
            "status": "finished",
            "user": "ada",
            "host": "bench-1",
            "pid": 1,
            "started_at": started,
            "ended_at": started + 60,
            "heartbeat_at": started + 60,
        }
        code_digest = self.blob(canonical_json({"kind": "tree", "entries": []})) if code else None
        lock_digest = self.blob(canonical_json({"python": "3.11"})) if lock else None
        with self.ws.write() as conn:
            conn.execute(schema.runs.insert(), row)
            if pipeline:
                conn.execute(
                    schema.pipeline_runs.insert(),
                    {
                        "run_id": run_id,
                        "pipeline": f"study:{name}",
                        "code_digest": code_digest,
                        "lock_digest": lock_digest,
                        "seed": 7,
                        "reproduces": reproduces,
                    },
                )
        return run_id

    def artifact(
        self,
        name: str,
        data: bytes,
        *,
        run_id: str | None = None,
        kind: str = "file",
        fmt: str = "bin",
    ) -> str:
        digest = self.blob(data)
        artifact_id = new_id()
        with self.ws.write() as conn:
            conn.execute(
                schema.artifacts.insert(),
                {
                    "id": artifact_id,
                    "project_id": self.project,
                    "name": name,
                    "kind": kind,
                    "format": fmt,
                    "digest": digest,
                    "size": len(data),
                    "schema_json": "{}",
                    "stats_json": "{}",
                    "run_id": run_id,
                    "created_at": _now(),
                    "created_by": "ada",
                },
            )
        return artifact_id

    def tree(self, name: str, files: dict[str, bytes], *, run_id: str | None = None) -> str:
        entries = [
            {"path": path, "digest": self.blob(data), "size": len(data)}
            for path, data in sorted(files.items())
        ]
        manifest = canonical_json({"kind": "tree", "entries": entries})
        return self.artifact(name, manifest, run_id=run_id, kind="tree", fmt="tree")

    def task(
        self,
        run_id: str,
        node: str,
        *,
        inputs: dict[str, str] | None = None,
        outputs: dict[str, bytes] | None = None,
        reused: dict[str, str] | None = None,
        cached_from: str | None = None,
        status: str = "finished",
        code_captured: bool = True,
        deterministic: bool = True,
    ) -> tuple[str, dict[str, str]]:
        """A task; ``outputs`` become new artifacts, ``reused`` names artifacts a cached task reused.

        Returns:
            The task id and its outputs' artifact ids by output name.
        """
        task_id = new_id()
        made = {
            name: self.artifact(
                node if len(outputs or {}) == 1 else f"{node}.{name}", data, run_id=run_id
            )
            for name, data in (outputs or {}).items()
        }
        started = _now()
        with self.ws.write() as conn:
            conn.execute(
                schema.tasks.insert(),
                {
                    "id": task_id,
                    "run_id": run_id,
                    "node": node,
                    "step": f"study.steps.{node}",
                    "fingerprint": "blake3:" + "0" * 64,
                    "cache_key": "blake3:" + "1" * 64,
                    "status": "cached" if reused else status,
                    "cached_from": cached_from,
                    "attempts": 1,
                    "started_at": started,
                    "ended_at": started + 1,
                    "params_json": "{}",
                    "options_json": canonical_text({"deterministic": deterministic}),
                    "code_captured": code_captured,
                    "log_digest": None,
                    "error": None,
                },
            )
            for name, artifact_id in (inputs or {}).items():
                conn.execute(
                    schema.task_inputs.insert(),
                    {"task_id": task_id, "name": name, "artifact_id": artifact_id},
                )
            for produced, links in ((True, made), (False, reused or {})):
                for name, artifact_id in links.items():
                    conn.execute(
                        schema.task_outputs.insert(),
                        {
                            "task_id": task_id,
                            "name": name,
                            "artifact_id": artifact_id,
                            "produced": produced,
                            "materializer": "bytes",
                        },
                    )
        return task_id, {**made, **(reused or {})}

    def chain(self, run_id: str, length: int) -> list[str]:
        """A source and ``length`` steps, each reading the previous artifact, in one transaction.

        Returns:
            The artifact ids, source first.
        """
        digest = self.blob(b"link")
        artifacts, tasks, inputs, outputs = [], [], [], []
        for level in range(length + 1):
            artifacts.append(
                {
                    "id": new_id(),
                    "project_id": self.project,
                    "name": f"link-{level}",
                    "kind": "file",
                    "format": "bin",
                    "digest": digest,
                    "size": 4,
                    "schema_json": "{}",
                    "stats_json": "{}",
                    "run_id": run_id if level else None,
                    "created_at": _now(),
                    "created_by": "ada",
                }
            )
            if level:
                task_id = new_id()
                tasks.append(
                    {
                        "id": task_id,
                        "run_id": run_id,
                        "node": f"step_{level}",
                        "step": "study.steps.link",
                        "fingerprint": "blake3:" + "0" * 64,
                        "cache_key": "blake3:" + "1" * 64,
                        "status": "finished",
                        "options_json": "{}",
                    }
                )
                inputs.append({"task_id": task_id, "name": "x", "artifact_id": artifacts[-2]["id"]})
                outputs.append(
                    {
                        "task_id": task_id,
                        "name": "out",
                        "artifact_id": artifacts[-1]["id"],
                        "produced": True,
                        "materializer": "bytes",
                    }
                )
        with self.ws.write() as conn:
            conn.execute(schema.artifacts.insert(), artifacts)
            conn.execute(schema.tasks.insert(), tasks)
            conn.execute(schema.task_inputs.insert(), inputs)
            conn.execute(schema.task_outputs.insert(), outputs)
        return [row["id"] for row in artifacts]

    def verify(self, artifact_id: str, run_id: str, *, matched: bool) -> None:
        with self.ws.write() as conn:
            conn.execute(
                schema.verifications.insert(),
                {
                    "artifact_id": artifact_id,
                    "run_id": run_id,
                    "digest": "blake3:" + ("a" if matched else "b") * 64,
                    "matched": matched,
                    "checked_at": time.time(),
                },
            )


@dataclass
class Study:
    """Ids of the study graph's runs, tasks and artifacts, by name."""

    workspace: Workspace
    runs: dict[str, str] = field(default_factory=dict)
    tasks: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    def ids(self, *names: str) -> set[str]:
        """The ids of tasks (``"task:name"``) and artifacts (plain names)."""
        return {
            self.tasks[n.removeprefix("task:")] if n.startswith("task:") else self.artifacts[n]
            for n in names
        }

    def digest(self, name: str) -> str:
        from sqlalchemy import select

        with self.workspace.read() as conn:
            found: Any = conn.execute(
                select(schema.artifacts.c.digest).where(
                    schema.artifacts.c.id == self.artifacts[name]
                )
            ).scalar_one()
        return str(found)


def build_study(workspace: Workspace) -> Study:
    """The study graph described in the module docstring."""
    b = LineageBuilder(workspace)
    s = Study(workspace)
    a, t = s.artifacts, s.tasks
    a["raw"] = b.artifact("raw.csv", b"id,dose\n1,0.5\n", fmt="csv")
    a["holdout"] = b.artifact("holdout.csv", b"id,dose\n9,0.1\n", fmt="csv")
    s.runs["first"] = first = b.run("first")
    t["clean"], out = b.task(first, "clean", inputs={"raw": a["raw"]}, outputs={"out": b"clean"})
    a["clean"] = out["out"]
    t["train"], out = b.task(
        first, "train", inputs={"data": a["clean"]}, outputs={"model": b"weights", "metrics": b"{}"}
    )
    a["model"], a["metrics"] = out["model"], out["metrics"]
    t["report"], out = b.task(
        first, "report", inputs={"model": a["model"]}, outputs={"out": b"pdf"}
    )
    a["report"] = out["out"]

    s.runs["second"] = second = b.run("second")
    t["clean2"], _ = b.task(
        second,
        "clean",
        inputs={"raw": a["raw"]},
        reused={"out": a["clean"]},
        cached_from=t["clean"],
    )
    t["train2"], _ = b.task(
        second,
        "train",
        inputs={"data": a["clean"]},
        reused={"model": a["model"], "metrics": a["metrics"]},
        cached_from=t["train"],
    )
    t["eval"], out = b.task(
        second,
        "eval",
        inputs={"model": a["model"], "holdout": a["holdout"]},
        outputs={"out": b"0.91"},
    )
    a["score"] = out["out"]
    t["peek"], out = b.task(
        second, "peek", inputs={"score": a["score"]}, outputs={"out": b"ok"}, code_captured=False
    )
    a["peek"] = out["out"]

    s.runs["third"] = third = b.run("third", code=False)
    t["plot"], out = b.task(third, "plot", inputs={"data": a["clean"]}, outputs={"out": b"png"})
    a["plot"] = out["out"]
    t["noisy"], out = b.task(
        third, "noisy", inputs={"data": a["clean"]}, outputs={"out": b"rnd"}, deterministic=False
    )
    a["noisy"] = out["out"]

    s.runs["check"] = check = b.run("check", reproduces=first)
    b.verify(a["model"], check, matched=True)
    b.verify(a["report"], check, matched=False)
    return s
