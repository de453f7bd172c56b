"""Public, frozen views of lineage: nodes (artifacts and tasks), edges, graphs, statuses.

They are what the stores return (``labledger.stores.lineage``), named here too.
"""

from labledger.stores.lineage import (
    Direction,
    LineageEdge,
    LineageGraph,
    LineageNode,
    NodeKind,
    ReproStatus,
)

__all__ = ["Direction", "LineageEdge", "LineageGraph", "LineageNode", "NodeKind", "ReproStatus"]
