"""``reproduce``: re-execute a pipeline run from its code snapshot and compare output digests.

The re-run uses the snapshot's code, the run's parameters, seed and file inputs (as the run
recorded them, placed in a scratch working folder), and no cache. Each output of the original
run is compared by digest with the re-run's; matches are recorded as verifications,
which make those artifacts ``verified``, and the comparison is sealed in the ledger.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import (
    IntegrityError,
    LabledgerError,
    NotFoundError,
    RunStateError,
    ValidationError,
    error_class,
)
from labledger.pipelines.replay_inputs import place_inputs, recorded_inputs, working_folder
from labledger.stores.tasks import OutputCheck
from labledger.tracking.query import get_run
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["OutputCheck", "Reproduction", "reproduce"]


@dataclass(frozen=True, slots=True)
class Reproduction:
    """The outcome of ``reproduce``.

    Attributes:
        run_id: The original run.
        rerun_id: The run that re-executed it (``None`` if it could not start).
        checks: One per output of the original run.
        error: Why the re-run failed, if it did.
        hint: What to do about that failure.
    """

    run_id: str
    rerun_id: str | None
    checks: tuple[OutputCheck, ...]
    error: str | None = None
    hint: str | None = None

    @property
    def matched(self) -> bool:
        """Every output came out bit for bit the same."""
        return self.error is None and all(check.matched for check in self.checks)


def _workspace_env(ws: Workspace) -> dict[str, str]:
    env = dict(os.environ)
    settings = ws.settings
    if settings.server_url is not None:
        # The re-run reaches the same server, with the token this process found (the
        # environment's, or the one `labledger login` saved); its blobs are the server's.
        env["LABLEDGER_URI"] = settings.server_url
        env.pop("LABLEDGER_STORE", None)
        return env
    env["LABLEDGER_URI"] = str(settings.root) if settings.root else settings.catalog_url
    env["LABLEDGER_STORE"] = settings.store_url
    if settings.s3_endpoint_url:
        env["LABLEDGER_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return env


def _original_outputs(ws: Workspace, run_id: str) -> list[tuple[str, str, str, str, bool]]:
    """``(node, output, artifact id, digest, deterministic)`` of every output, by node and name."""
    options = {task.id: task.options_json for task in ws.stores.tasks.run_tasks(run_id)}
    return sorted(
        (
            ref.node,
            ref.name,
            ref.artifact_id,
            ref.digest,
            bool(json.loads(options.get(ref.task_id) or "{}").get("deterministic", True)),
        )
        for ref in ws.stores.tasks.run_outputs(run_id)
    )


def _check_sealed(ws: Workspace, run_id: str) -> None:
    """Refuse a run that is not sealed, or whose record changed after it was.

    Reproduction runs the run's recorded code on its recorded inputs: records edited after the
    seal could make it run other code or read other bytes.
    """
    seal = ws.stores.tasks.run_seal(run_id)
    if len(seal.seals) > 1:
        raise IntegrityError(
            f"run {run_id} is sealed more than once, so its record cannot be trusted",
            hint="run `labledger verify` to see who sealed it again",
        )
    sealed = [payload for kind, payload in seal.seals if kind == "run.finished"]
    if not sealed:
        raise RunStateError(
            f"run {run_id} is not sealed (still running, or it crashed)",
            hint="reproduce a run that finished or failed",
        )
    if seal.record_digest != sealed[-1].get("record_digest"):
        raise IntegrityError(
            f"run {run_id}'s record changed after it was sealed, so its code and inputs cannot "
            "be trusted",
            hint="run `labledger verify` to see what changed",
        )


def reproduce(run_ref: str, *, workspace: Workspace | None = None) -> Reproduction:
    """Re-execute pipeline run ``run_ref`` from its code snapshot and compare every output.

    The re-run works in a scratch folder holding the run's file inputs as it recorded them (see
    ``replay_inputs``), so it behaves the same wherever it is started and whatever happened to
    the original files since.

    Raises:
        NotFoundError: No such run, it has no code snapshot, or a stored input is missing.
        ValidationError: The run is not a pipeline run, cannot be re-executed (its pipeline had
            no source file), or reads a file recorded by reference that changed.
        RunStateError: The run is not sealed.
        IntegrityError: Its record changed after it was sealed.
    """
    from labledger.materializers import CatalogRef, load

    ws = workspace or get_workspace()
    run = get_run(run_ref, workspace=ws)
    row = ws.stores.tasks.pipeline_run(run.id)
    if row is None:
        raise ValidationError(
            f"run {run.id} is not a pipeline run", hint="only pipeline runs can be reproduced"
        )
    _check_sealed(ws, run.id)
    if row.replay_error:
        raise ValidationError(
            f"run {run.id} cannot be re-executed: {row.replay_error}",
            hint="run the pipeline again that way; that new run can be reproduced",
        )
    if row.code_digest is None:
        raise NotFoundError(f"run {run.id} has no code snapshot", hint="it cannot be re-executed")
    inputs = recorded_inputs(ws, run.id)
    with tempfile.TemporaryDirectory(prefix="labledger-reproduce-") as scratch:
        root = Path(scratch)
        tree = CatalogRef(
            digest=row.code_digest,
            kind="tree",
            format="tree",
            materializer="path",
            schema={"name": "code"},
        )
        code = load(tree, ws.store, workdir=root)
        workdir = working_folder(root / "data", inputs)
        path_map = place_inputs(inputs, ws.store, workdir=workdir, elsewhere=root / "inputs")
        request = {
            "snapshot": str(code),
            "pipeline": row.pipeline,
            "params": json.loads(row.params_json),
            "seed": row.seed,
            "reproduces": run.id,
            "name": f"reproduce {run.name}",
            "path_map": path_map,
            # In the original's project: who may see the run may see its reproduction.
            "project": (run.project_id and ws.project_name(run.project_id)) or "default",
        }
        done = subprocess.run(
            [sys.executable, "-m", "labledger.pipelines.replay", json.dumps(request)],
            capture_output=True,
            text=True,
            env=_workspace_env(ws),
            cwd=workdir,
            check=False,
        )
    summary = _summary(done)
    if summary.get("run_id") is None and isinstance(summary.get("code"), str):
        # Refused before the re-run began (a viewer, a project out of reach): said as an error,
        # not as a reproduction whose outputs are all missing.
        raise _refusal(summary["code"], f"cannot re-run run {run.id}: {summary.get('error')}",
                       summary.get("hint"))  # fmt: skip
    produced = summary.get("tasks", {})
    checks = tuple(
        OutputCheck(node, output, artifact_id, digest, produced.get(node, {}).get(output), det)
        for node, output, artifact_id, digest, det in _original_outputs(ws, run.id)
    )
    rerun_id = summary.get("run_id")
    if rerun_id is not None:
        ws.stores.tasks.record_verifications(run.id, rerun_id, checks)
    error = summary.get("error")
    hint = _failure_hint(summary) if error else None
    return Reproduction(run.id, rerun_id, checks, error, hint)


def _summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The re-run's JSON summary (its last line), or what its crash left on stderr."""
    lines = done.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        summary = {}
    if not isinstance(summary, dict) or not summary:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        summary = {"error": f"the re-run process exited with code {done.returncode}: {last}"}
    return summary


def _refusal(code: str, message: str, hint: Any) -> LabledgerError:
    """The error the re-run raised before it began, as its class (by its code)."""
    cls = error_class(code)
    hint = hint if isinstance(hint, str) else None
    try:
        return cls(message, hint=hint)
    except TypeError:  # a class that wants more than a message
        return LabledgerError(message, hint=hint)


def _failure_hint(summary: dict[str, Any]) -> str:
    """What to do when the re-run failed: it says which step, and where its log is."""
    rerun, node = summary.get("run_id"), summary.get("node")
    if node and rerun:
        return (
            f"step {node!r} failed when re-run from the run's code snapshot and recorded inputs; "
            f"read its traceback with `labledger runs logs {rerun} {node}`. The original "
            "outputs keep their status. A step that needs something the run did not record "
            "(a file it opens without File() or reads=, a service, an environment variable) "
            "must get it declared, then a new run of the pipeline can be reproduced"
        )
    given = summary.get("hint")
    if given:
        return f"the re-run from the code snapshot could not start: {given}"
    return (
        "the re-run from the code snapshot could not start; check that the packages the run "
        "used are installed in the Python labledger runs on"
    )
