"""Lineage: where an artifact came from, what was made from it, and how far it can be trusted.

``ancestors`` and ``descendants`` walk the graph of artifacts and tasks up or down from an artifact,
``run_lineage`` reads one run's graph; each returns a frozen ``LineageGraph``.
``reproducibility`` says whether an artifact is verified, reproducible, unverifiable or broken,
``explain_status`` says why, and ``graph_reproducibility`` says it for every node of a graph at once. ``lineage_view`` reads a graph
for people (tasks of one step and cache key folded into one node, optionally cut to one run or to
the newest run of each step); ``to_dot``, ``to_mermaid``, ``lineage_document`` and ``render_image``
export such a view. ``export_prov`` writes a run's provenance as W3C PROV-JSON (needs
``pip install 'labledger[interop]'``).
"""

from labledger.lineage.export import lineage_document, render_image, to_dot, to_mermaid
from labledger.lineage.prov import export_prov
from labledger.lineage.queries import ancestors, descendants, run_lineage
from labledger.lineage.status import (
    StatusExplanation,
    explain_status,
    graph_reproducibility,
    reproducibility,
)
from labledger.lineage.types import LineageEdge, LineageGraph, LineageNode, ReproStatus
from labledger.lineage.views import LineageView, collapse_tasks, lineage_view

__all__ = [
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageView",
    "ReproStatus",
    "StatusExplanation",
    "ancestors",
    "collapse_tasks",
    "descendants",
    "explain_status",
    "export_prov",
    "graph_reproducibility",
    "lineage_document",
    "lineage_view",
    "render_image",
    "reproducibility",
    "run_lineage",
    "to_dot",
    "to_mermaid",
]
