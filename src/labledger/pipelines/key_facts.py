"""What each step's cache key is made of, recorded per run so a later run can say what changed.

The key itself is a digest: equal or not, it cannot say *why*. Next to it each pipeline run keeps
a small blob (``pipeline_runs.facts_digest``) with, per step, the digest of each part of its code
(the step and every project function, class and constant it uses) and the packages of its
environment with their versions. Params, input digests and seeds are on the task rows already.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from labledger.pipelines.cache import CACHE_SALT
from labledger.pipelines.step_environment import step_environment

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.pipelines.graph import Graph
    from labledger.pipelines.step_environment import StepEnvironment
    from labledger.pipelines.steps import Step

__all__ = ["key_facts", "key_facts_salt", "step_facts"]


def key_facts_salt() -> str:
    """The salt every cache key holds now (the team's ``LABLEDGER_CACHE_SALT`` and labledger's)."""
    return os.environ.get("LABLEDGER_CACHE_SALT", "") + CACHE_SALT


def step_facts(step: Step, environments: Iterable[StepEnvironment] = ()) -> dict[str, Any]:
    """The recorded facts of one step: fingerprint, its parts' digests, environment.

    Args:
        step: The step.
        environments: The environments its tasks' keys held (they differ when its inputs came
            from different libraries); by default the one its code alone reaches.
    """
    fingerprint = step.fingerprint
    found = list(environments) or [step_environment(fingerprint.libraries)]
    packages: dict[str, str] = {}
    for environment in found:
        packages.update(environment.packages)
    return {
        "fingerprint": fingerprint.digest,
        "parts": fingerprint.part_digests,
        "environment": {
            "digest": found[0].digest if len(found) == 1 else sorted(e.digest for e in found),
            "python": found[0].python,
            "platform": found[0].platform,
            "packages": dict(sorted(packages.items())),
        },
    }


def key_facts(
    graph: Graph, environments: Mapping[str, Iterable[StepEnvironment]] | None = None
) -> dict[str, Any]:
    """The facts of every step of ``graph``, by qualified name, and the cache salt in force.

    Args:
        graph: The run's graph.
        environments: Per step (qualified name), the environments its tasks' keys held.
    """
    steps: dict[str, Any] = {}
    for node in graph.nodes:
        qualname = node.step.qualname
        if qualname not in steps:
            steps[qualname] = step_facts(node.step, (environments or {}).get(qualname, ()))
    return {
        "salt": key_facts_salt(),
        "steps": steps,
    }
