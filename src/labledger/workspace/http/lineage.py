"""``HttpLineageStore``: the ``LineageStore`` of a server's workspace, over ``/api/v1/lineage``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger.stores.lineage import LineageGraph, ReproFacts, RunProvenance

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from labledger.stores.lineage import Direction
    from labledger.workspace.http.client import Client

__all__ = ["HttpLineageStore"]

_ROUTE = "/api/v1/lineage"


def _only(projects: Collection[str] | None) -> dict[str, Any]:
    """The query parameters that keep a read to ``projects`` (the server narrows what the
    signed-in user reads to them); none for every project the user reads."""
    # An empty list would send no parameter at all: a project id nobody has keeps to none.
    if projects is None:
        return {}
    return {"project": sorted(set(projects)) or [""]}


class HttpLineageStore:
    """Lineage read through a labledger server."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def walk(
        self,
        ref: str,
        direction: Direction,
        depth: int | None = None,
        *,
        projects: Collection[str] | None = None,
    ) -> LineageGraph:
        params: dict[str, Any] = {"ref": ref, "direction": direction, **_only(projects)}
        if depth is not None:
            params["depth"] = depth
        graph: LineageGraph = self._client.call(
            "GET", f"{_ROUTE}/walk", model=LineageGraph, params=params
        )
        return graph

    def artifact_id(self, ref: str, *, projects: Collection[str] | None = None) -> str:
        params = {"ref": ref, **_only(projects)}
        found = self._client.call("GET", f"{_ROUTE}/artifact-id", model=dict, params=params)
        return str(found["id"])

    def repro_facts(
        self,
        artifact_ids: Sequence[str],
        task_ids: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> ReproFacts:
        body: dict[str, Any] = {"artifact_ids": list(artifact_ids), "task_ids": list(task_ids)}
        if projects is not None:
            body["projects"] = sorted(set(projects))
        facts: ReproFacts = self._client.call(
            "POST", f"{_ROUTE}/repro-facts", body, ReproFacts, idempotent=True
        )
        return facts

    def provenance(self, run_ref: str, *, projects: Collection[str] | None = None) -> RunProvenance:
        params = {"ref": run_ref, **_only(projects)}
        found: RunProvenance = self._client.call(
            "GET", f"{_ROUTE}/provenance", model=RunProvenance, params=params
        )
        return found
