"""W3C PROV-JSON for one run, built with the ``prov`` package (``pip install 'labledger[interop]'``).

The mapping:

- the run is a ``prov:Activity`` (``labledger:PipelineRun`` or ``labledger:Run``), associated
  with its user, a ``prov:Agent`` (``prov:Person``);
- each task is an Activity (``labledger:Task``) with its start and end time, started by the run
  (``wasStartedBy``) and associated with the user;
- each artifact the run read, made or reused is a ``prov:Entity`` (``labledger:Artifact``) with
  its digest, kind, format and size;
- a task ``used`` its inputs, its outputs ``wasGeneratedBy`` it and ``wasDerivedFrom`` each
  input; a task ``wasInformedBy`` the tasks whose outputs it read, and a cached task
  ``wasInformedBy`` the task whose outputs it reused;
- artifacts logged by the run outside any task ``wasGeneratedBy`` the run itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labledger._foundation.errors import ConfigurationError
from labledger._foundation.extras import install_hint
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.stores.lineage import (
        ProvArtifact,
        ProvEdge,
        ProvPipeline,
        ProvRun,
        ProvTask,
    )
    from labledger.workspace.workspace import Workspace

__all__ = ["NAMESPACES", "export_prov"]

# Identifiers are URNs: ids are global (UUIDv7), and no web address is implied.
NAMESPACES = {
    "labledger": "urn:labledger:term:",
    "run": "urn:labledger:run:",
    "task": "urn:labledger:task:",
    "artifact": "urn:labledger:artifact:",
    "user": "urn:labledger:user:",
}


def _prov_model() -> Any:
    try:
        import prov.model
    except ImportError as exc:
        raise ConfigurationError(
            "PROV export needs the prov package, which is not installed",
            hint=install_hint("interop"),
        ) from exc
    return prov.model


def export_prov(run_id: str, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """A run's provenance as a W3C PROV-JSON document.

    Args:
        run_id: A run id or a unique prefix of 8 or more characters.
        workspace: Defaults to the current workspace.

    Returns:
        The PROV-JSON document (``prefix``, ``entity``, ``activity``, ``agent``, relations).

    Raises:
        ConfigurationError: The ``prov`` package is not installed.
        NotFoundError: No run matches ``run_id``.
    """
    model = _prov_model()
    ws = workspace or get_workspace()
    facts = ws.stores.lineage.provenance(run_id)
    builder = _Builder(model, facts.run, facts.pipeline)
    for artifact in facts.artifacts:
        builder.artifact(artifact, facts.producers.get(artifact.id))
    for task in facts.tasks:
        builder.task(task)
    builder.edges(facts.edges, facts.producers)
    document: dict[str, Any] = json.loads(builder.document.serialize(format="json"))
    return document


def _time(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class _Builder:
    """Adds a run's records to a ``ProvDocument``."""

    def __init__(self, model: Any, run: ProvRun, pipeline: ProvPipeline | None) -> None:
        self.model = model
        self.document = model.ProvDocument()
        for prefix, uri in NAMESPACES.items():
            self.document.add_namespace(prefix, uri)
        self.run_id = f"run:{run.id}"
        self.user = f"user:{quote(run.user, safe='')}"
        self.document.agent(self.user, {"prov:type": model.PROV["Person"], "prov:label": run.user})
        kind = "labledger:PipelineRun" if pipeline is not None else "labledger:Run"
        attributes = {
            "prov:type": self._name(kind),
            "prov:label": run.name,
            "labledger:status": run.status,
            "labledger:gitCommit": run.git_commit,
        }
        if pipeline is not None:
            attributes |= {
                "labledger:pipeline": pipeline.pipeline,
                "labledger:codeDigest": pipeline.code_digest,
                "labledger:lockDigest": pipeline.lock_digest,
                "labledger:seed": pipeline.seed,
                "labledger:reproduces": (
                    self._name(f"run:{pipeline.reproduces}") if pipeline.reproduces else None
                ),
            }
        self.document.activity(
            self.run_id, _time(run.started_at), _time(run.ended_at), _attributes(attributes)
        )
        self.document.wasAssociatedWith(self.run_id, self.user)
        self.task_times: dict[str, tuple[datetime | None, datetime | None]] = {}
        self.logged: list[tuple[str, float]] = []

    def _name(self, qualified: str) -> Any:
        return self.document.valid_qualified_name(qualified)

    def artifact(self, row: ProvArtifact, producer: str | None) -> None:
        """An Entity for an artifact the run read, made or reused."""
        self.document.entity(
            f"artifact:{row.id}",
            _attributes(
                {
                    "prov:type": self._name("labledger:Artifact"),
                    "prov:label": row.name,
                    "labledger:digest": row.digest,
                    "labledger:kind": row.kind,
                    "labledger:format": row.format,
                    "labledger:size": row.size,
                    "labledger:run": self._name(f"run:{row.run_id}") if row.run_id else None,
                }
            ),
        )
        if producer is None and row.run_id == self.run_id.removeprefix("run:"):
            self.logged.append((row.id, row.created_at))

    def task(self, row: ProvTask) -> None:
        """An Activity for a task of the run, started by the run."""
        start, end = _time(row.started_at), _time(row.ended_at)
        self.task_times[row.id] = (start, end)
        try:
            options = json.loads(row.options_json or "{}")
        except ValueError:
            options = None
        deterministic = options.get("deterministic") if isinstance(options, dict) else None
        task_id = f"task:{row.id}"
        self.document.activity(
            task_id,
            start,
            end,
            _attributes(
                {
                    "prov:type": self._name("labledger:Task"),
                    "prov:label": row.node,
                    "labledger:step": row.step,
                    "labledger:status": row.status,
                    "labledger:fingerprint": row.fingerprint,
                    "labledger:cacheKey": row.cache_key,
                    "labledger:codeCaptured": bool(row.code_captured),
                    "labledger:deterministic": deterministic,
                    "labledger:cachedFrom": (
                        self._name(f"task:{row.cached_from}") if row.cached_from else None
                    ),
                }
            ),
        )
        self.document.wasStartedBy(task_id, starter=self.run_id, time=start)
        self.document.wasAssociatedWith(task_id, self.user)
        if row.cached_from:
            self.document.wasInformedBy(task_id, f"task:{row.cached_from}")

    def edges(self, edges: Sequence[ProvEdge], producers: dict[str, str]) -> None:
        """Usage, generation, derivation and communication between the run's tasks and artifacts."""
        ordered = sorted(edges, key=lambda e: (e.task, e.output, e.name))
        inputs: dict[str, list[str]] = {}
        informed: set[tuple[str, str]] = set()
        for edge in ordered:
            if not edge.output:
                self.document.used(
                    f"task:{edge.task}",
                    f"artifact:{edge.artifact}",
                    self.task_times[edge.task][0],
                    other_attributes={"prov:role": edge.name},
                )
                inputs.setdefault(edge.task, []).append(edge.artifact)
                producer = producers.get(edge.artifact)
                if producer in self.task_times:
                    informed.add((edge.task, producer))
        for edge in ordered:
            if edge.output and not edge.cached:
                self.document.wasGeneratedBy(
                    f"artifact:{edge.artifact}",
                    f"task:{edge.task}",
                    self.task_times[edge.task][1],
                    other_attributes={"prov:role": edge.name},
                )
                for used in inputs.get(edge.task, []):
                    self.document.wasDerivedFrom(
                        f"artifact:{edge.artifact}", f"artifact:{used}", f"task:{edge.task}"
                    )
        for consumer, producer in sorted(informed):
            self.document.wasInformedBy(f"task:{consumer}", f"task:{producer}")
        for artifact_id, created_at in self.logged:
            self.document.wasGeneratedBy(f"artifact:{artifact_id}", self.run_id, _time(created_at))
