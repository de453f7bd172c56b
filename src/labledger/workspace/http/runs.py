"""``HttpRunStore``: the ``RunStore`` of a server's workspace, over ``/api/v1/runs``.

Each method is one request (a search or a history, one per page). Metrics reach it in batches
from the run's metric buffer, so a run sends one request per flush, not one per value. What may
be sent again after a lost answer is: a batch (its rows are keyed by seq), a heartbeat, a create
(the same run again is a no-op on the server), a finish (the server seals what it holds; sent
again, it answers the seal the first try committed), and every read.

With a signing key (``sign``) the user signs the entries the server writes for their runs:
``run.started`` goes with the create; for the seal, whose payload the server computes from the
rows it holds, the store asks ``seal-entries`` what the finish will write, signs it and sends
the finish with the signatures (one more request per run).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from labledger._foundation import query_syntax as qs
from labledger._foundation.errors import ConflictError, IntegrityError
from labledger.stores.pages import Page
from labledger.stores.run_filters import And, Comparison, Not, Or
from labledger.stores.run_wire import (
    IdsOut,
    LivenessOut,
    MetricPageOut,
    RunPageOut,
    RunsOut,
    SealOut,
)
from labledger.stores.runs import started_payload
from labledger.stores.signed_wire import PreparedOut
from labledger.stores.wire import node_to_wire

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.run_filters import Node
    from labledger.stores.runs import (
        BlobRef,
        FinishRun,
        MetricPoint,
        MetricRow,
        NewRun,
        ParamRow,
        Run,
        RunLiveness,
        RunQuery,
        TagRow,
    )
    from labledger.stores.signed_wire import EntrySigner
    from labledger.workspace.http.client import Client

__all__ = ["HttpRunStore", "filter_tree"]

_ROUTE = "/api/v1/runs"


def filter_tree(node: Node) -> qs.QueryNode:
    """The condition tree a run filter travels as: ``metrics.auc > 0.8`` names its target and
    key unquoted (``metrics.val loss``), so nothing is lost in quoting."""
    if isinstance(node, Comparison):
        return qs.Condition(f"{node.target}.{node.key}", node.op, node.value)
    if isinstance(node, And):
        return qs.And(tuple(filter_tree(o) for o in node.operands))
    if isinstance(node, Or):
        return qs.Or(tuple(filter_tree(o) for o in node.operands))
    if isinstance(node, Not):
        return qs.Not(filter_tree(node.operand))
    return node


def _wire_value(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return None
    return "Infinity" if value > 0 else "-Infinity"


def _metric_rows(rows: Sequence[MetricRow]) -> list[Any]:
    # JSON has no NaN or infinity: NaN travels as null, an infinity as a string. Rows without
    # either go as they are (no copy per row).
    if all(row[1] is None or math.isfinite(row[1]) for row in rows):
        return list(rows)
    return [(k, _wire_value(v), s, t, q) for k, v, s, t, q in rows]


class HttpRunStore:
    """``RunStore`` over a labledger server."""

    def __init__(self, client: Client, sign: EntrySigner | None = None) -> None:
        self.client = client
        self._sign = sign

    # -- writes ------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        *,
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        blobs: Sequence[BlobRef] = (),
    ) -> None:
        spec = {
            "id": run.id,
            "project_id": run.project_id,
            "name": run.name,
            "kind": run.kind,
            "host": run.host,
            "pid": run.pid,
            "started_at": run.started_at,
            "environment_digest": run.environment_digest,
            "git_commit": run.git_commit,
            "git_dirty": run.git_dirty,
        }
        # ``run.user`` stays here: the server creates the run for whoever signed in.
        body = {"run": spec, "params": list(params), "tags": list(tags), "blobs": list(blobs)}
        if self._sign is not None:
            # The payload the server's store writes for run.started.
            started = started_payload(run)
            body["signed"] = self._sign("run.started", f"run:{run.id}", started)
        self.client.call("POST", _ROUTE, body, IdsOut, idempotent=True)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricRow] = (),
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        batch_id: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"batch_id": batch_id}
        if metrics:
            body["metrics"] = _metric_rows(metrics)
        if params:
            body["params"] = list(params)
        if tags:
            body["tags"] = list(tags)
        # Metric rows are keyed by seq, params immutable, tags upserts: sending it again is safe.
        self.client.call("POST", f"{_ROUTE}/{run_id}/batch", body, idempotent=True)

    def finish_run(self, run_id: str, seal: FinishRun) -> str:
        # The seal, run, params and tags the writer kept stay here: the server digests its own.
        body = {
            "status": seal.status,
            "ended_at": seal.ended_at,
            "error": seal.error,
            "metrics": _metric_rows(seal.metrics),
        }
        signed = self._signed_seal(run_id, body) if self._sign is not None else None
        if signed is None:
            return self._finish(run_id, body)
        try:
            return self._finish(run_id, {**body, "signed": signed})
        except ConflictError:
            # Something the seal covers changed between the two requests (an artifact landed):
            # sign what the server would write now, once more.
            signed = self._signed_seal(run_id, body)
            return self._finish(run_id, {**body, "signed": signed})

    def _finish(self, run_id: str, body: dict[str, Any]) -> str:
        # Sent again after a lost answer, the server answers the seal the first try committed.
        sealed = self.client.call(
            "POST", f"{_ROUTE}/{run_id}/finish", body, SealOut, idempotent=True
        )
        return str(sealed.record_digest)

    def _signed_seal(self, run_id: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The entries the finish ``body`` makes, as the server computes them from its rows,
        signed with the user's key."""
        assert self._sign is not None
        prepared = self.client.call(
            "POST", f"{_ROUTE}/{run_id}/seal-entries", body, PreparedOut, idempotent=True
        )
        seal = prepared.entries[-1] if prepared.entries else None
        # Sign only a seal of this run as asked; the record digest is the server's to compute
        # from the rows it holds, and verify checks it against them.
        if (
            seal is None
            or (seal.kind, seal.subject) != ("run.finished", f"run:{run_id}")
            or seal.payload.get("status") != body["status"]
        ):
            raise IntegrityError(
                f"the server offered a seal for run {run_id} that is not the one asked for",
                hint="check the server (labledger verify -w URL); the run is still running",
            )
        return [self._sign(e.kind, e.subject, e.payload) for e in prepared.entries]

    def heartbeat(self, run_ids: Sequence[str], at: float) -> None:
        if run_ids:
            body = {"run_ids": list(run_ids), "at": at}
            self.client.call("POST", f"{_ROUTE}/heartbeat", body, idempotent=True)

    def mark_crashed(self, run_ids: Sequence[str], *, reason: str, at: float) -> list[str]:
        if not run_ids:
            return []
        body = {"run_ids": list(run_ids), "reason": reason, "at": at}
        return list(self.client.call("POST", f"{_ROUTE}/crashed", body, IdsOut).ids)

    def reap(self) -> list[str]:
        """Have the server seal the runs that lost their lease; the ids it sealed."""
        return list(self.client.call("POST", f"{_ROUTE}/reap", None, IdsOut).ids)

    # -- reads -------------------------------------------------------------------------------

    def get_runs(
        self, refs: Sequence[str], *, project_ids: Sequence[str] | None = None
    ) -> list[Run]:
        if not refs:
            return []
        body: dict[str, Any] = {"refs": list(refs)}
        if project_ids is not None:
            body["project_ids"] = list(project_ids)
        # The server looks only among runs the signed-in user reads (and of these projects).
        found = self.client.call("POST", f"{_ROUTE}/get", body, RunsOut, idempotent=True)
        return [item.run() for item in found.items]

    def search_runs(
        self, query: RunQuery, *, page_token: str | None = None, max_results: int = 100
    ) -> Page[Run]:
        body: dict[str, Any] = {
            "where": None if query.filter is None else node_to_wire(filter_tree(query.filter)),
            "order_by": [
                {"name": f"{key.target}.{key.key}", "descending": key.descending}
                for key in query.order_by
            ],
            "project_id": query.project_id,
            "page_token": page_token,
            "max_results": max_results,
        }
        page = self.client.call("POST", f"{_ROUTE}/search", body, RunPageOut, idempotent=True)
        return Page([item.run() for item in page.items], page.next_page_token)

    def metric_history(
        self,
        run_id: str,
        keys: Sequence[str] | None = None,
        *,
        page_token: str | None = None,
        max_results: int = 1000,
    ) -> Page[MetricPoint]:
        if keys is not None and not keys:
            self.get_runs([run_id])  # no metric asked for: the run must still exist
            return Page([], None)
        params: dict[str, Any] = {"max_results": max_results}
        if keys is not None:
            params["key"] = list(keys)
        if page_token is not None:
            params["page_token"] = page_token
        page = self.client.call(
            "GET", f"{_ROUTE}/{run_id}/metrics", model=MetricPageOut, params=params
        )
        return Page(page.points(), page.next_page_token)

    def running(self, run_ids: Sequence[str] | None = None) -> list[RunLiveness]:
        body = {"run_ids": None if run_ids is None else list(run_ids)}
        found = self.client.call("POST", f"{_ROUTE}/running", body, LivenessOut, idempotent=True)
        return list(found.items)
