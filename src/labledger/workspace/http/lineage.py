"""``HttpLineageStore``: the ``LineageStore`` of a server's workspace, over ``/api/v1/lineage``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger.stores.lineage import LineageGraph, ReproFacts, RunProvenance

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.lineage import Direction
    from labledger.workspace.http.client import Client

__all__ = ["HttpLineageStore"]

_ROUTE = "/api/v1/lineage"


class HttpLineageStore:
    """Lineage read through a labledger server."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def walk(self, ref: str, direction: Direction, depth: int | None = None) -> LineageGraph:
        params: dict[str, str | int] = {"ref": ref, "direction": direction}
        if depth is not None:
            params["depth"] = depth
        graph: LineageGraph = self._client.call(
            "GET", f"{_ROUTE}/walk", model=LineageGraph, params=params
        )
        return graph

    def artifact_id(self, ref: str) -> str:
        found = self._client.call("GET", f"{_ROUTE}/artifact-id", model=dict, params={"ref": ref})
        return str(found["id"])

    def repro_facts(self, artifact_ids: Sequence[str], task_ids: Sequence[str]) -> ReproFacts:
        body = {"artifact_ids": list(artifact_ids), "task_ids": list(task_ids)}
        facts: ReproFacts = self._client.call(
            "POST", f"{_ROUTE}/repro-facts", body, ReproFacts, idempotent=True
        )
        return facts

    def provenance(self, run_ref: str) -> RunProvenance:
        found: RunProvenance = self._client.call(
            "GET", f"{_ROUTE}/provenance", model=RunProvenance, params={"ref": run_ref}
        )
        return found
