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
    from labledger.pipelines.graph import Graph
    from labledger.pipelines.steps import Step

__all__ = ["key_facts", "key_facts_salt", "step_facts"]


def key_facts_salt() -> str:
    """The salt every cache key holds now (the team's ``LABLEDGER_CACHE_SALT`` and labledger's)."""
    return os.environ.get("LABLEDGER_CACHE_SALT", "") + CACHE_SALT


def step_facts(step: Step) -> dict[str, Any]:
    """The recorded facts of one step: fingerprint, its parts' digests, environment."""
    fingerprint = step.fingerprint
    environment = step_environment(fingerprint.libraries)
    return {
        "fingerprint": fingerprint.digest,
        "parts": fingerprint.part_digests,
        "environment": {"digest": environment.digest, **environment.as_dict()},
    }


def key_facts(graph: Graph) -> dict[str, Any]:
    """The facts of every step of ``graph``, by qualified name, and the cache salt in force."""
    steps: dict[str, Any] = {}
    for node in graph.nodes:
        if node.step.qualname not in steps:
            steps[node.step.qualname] = step_facts(node.step)
    return {
        "salt": key_facts_salt(),
        "steps": steps,
    }
