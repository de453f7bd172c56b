"""A reproduction's claims, checked against what the catalog holds before they are recorded.

``verified`` in lineage means "re-executed with the same bytes", so a server records a
reproduction only when the catalog itself says so: the re-run is a pipeline run that reproduces
the run and was started by the user who reports it, each check names an output the original run
recorded (its artifact and digest), and each ``actual`` digest is the one the re-run recorded for
the same output by a step it executed, once it has ended. Whether a step promised equal bytes is
read from its task, and whether an output matched follows from the two digests, never from the
client.

What this cannot check is that the steps really ran: an editor can record task rows of their own
making. A reproduction is therefore as trustworthy as the user who reports it, and the ledger
names them (``run.reproduced``, signed by their key when they hold one).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger.stores.tasks import OutputCheck

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.bundle import Stores

__all__ = ["checked_verifications"]


def _refuse(message: str) -> ValidationError:
    return ValidationError(
        message,
        hint="report a reproduction as `labledger reproduce` records it; nothing was written",
    )


def _deterministic(options_json: str | None) -> bool:
    try:
        options = json.loads(options_json or "{}")
    except ValueError:
        return True
    return not isinstance(options, dict) or options.get("deterministic", True) is not False


def checked_verifications(
    stores: Stores, run_id: str, rerun_id: str, user: str, claims: Sequence[OutputCheck]
) -> list[OutputCheck]:
    """The checks to record for the reproduction of ``run_id`` by ``rerun_id``, as the catalog
    has them, or a refusal when a claim disagrees with it.

    Raises:
        ValidationError: The re-run is no reproduction of the run by ``user``, or a check does
            not match the outputs the two runs recorded.
    """
    record = stores.tasks.pipeline_run(rerun_id)
    if record is None or record.reproduces != run_id:
        raise _refuse(f"run {rerun_id} is not a reproduction of run {run_id}")
    (rerun,) = stores.runs.get_runs([rerun_id])
    if rerun.user != user:
        raise _refuse(f"run {rerun_id} was started by {rerun.user}, not by {user}")
    if rerun.status == "running":
        # `labledger reproduce` reports once its re-run has ended: its record is sealed then.
        raise _refuse(f"run {rerun_id} is still running; report it once it has ended")
    ran = {task.node: task.status for task in stores.tasks.run_tasks(rerun_id)}
    original = {(ref.node, ref.name): ref for ref in stores.tasks.run_outputs(run_id)}
    again = {(ref.node, ref.name): ref.digest for ref in stores.tasks.run_outputs(rerun_id)}
    options = {task.id: task.options_json for task in stores.tasks.run_tasks(run_id)}
    checks: list[OutputCheck] = []
    for claim in claims:
        key = (claim.node, claim.output)
        ref = original.get(key)
        if ref is None or (ref.artifact_id, ref.digest) != (claim.artifact_id, claim.expected):
            raise _refuse(
                f"run {run_id} recorded no output {claim.output!r} of {claim.node!r} as artifact "
                f"{claim.artifact_id} with digest {claim.expected}"
            )
        if claim.actual is not None and ran.get(claim.node) != "finished":
            # A re-run's output counts only from a step it executed, not one it took from the
            # cache or never ran.
            raise _refuse(f"run {rerun_id} did not execute {claim.node!r}")
        if again.get(key) != claim.actual:
            raise _refuse(
                f"run {rerun_id} recorded {again.get(key) or 'no output'} for "
                f"{claim.node}.{claim.output}, not {claim.actual}"
            )
        checks.append(
            OutputCheck(
                node=claim.node,
                output=claim.output,
                artifact_id=ref.artifact_id,
                expected=ref.digest,
                actual=again.get(key),
                deterministic=_deterministic(options.get(ref.task_id)),
            )
        )
    return checks
