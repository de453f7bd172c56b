"""Lineage: where an artifact came from, what was made from it, and how far it can be trusted.

``ancestors`` and ``descendants`` walk the graph of artifacts and tasks up or down from an artifact,
``run_lineage`` reads one run's graph; each returns a frozen ``LineageGraph``.
``reproducibility`` says whether an artifact is verified, reproducible, unverifiable or broken, and
``graph_reproducibility`` says it for every node of a graph at once. ``export_prov`` writes a run's
provenance as W3C PROV-JSON (needs ``pip install 'labledger[interop]'``).
"""

from labledger.lineage.prov import export_prov
from labledger.lineage.queries import ancestors, descendants, run_lineage
from labledger.lineage.status import graph_reproducibility, reproducibility
from labledger.lineage.types import LineageEdge, LineageGraph, LineageNode, ReproStatus

__all__ = [
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "ReproStatus",
    "ancestors",
    "descendants",
    "export_prov",
    "graph_reproducibility",
    "reproducibility",
    "run_lineage",
]
