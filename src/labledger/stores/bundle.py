"""``Stores``: the bundle of stores a workspace hands to the services.

A folder or a database URL gives the SQL stores (``workspace.sql.stores.SqlStores``); a server's
URL gives the HTTP stores (``workspace.http.stores.HttpStores``). The services reach storage only
through these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from labledger.stores.artifacts import ArtifactStore
    from labledger.stores.identity import IdentityStore
    from labledger.stores.ledger import LedgerStore
    from labledger.stores.lineage import LineageStore
    from labledger.stores.metadata import CollectionStore, MetadataStore
    from labledger.stores.runs import RunStore
    from labledger.stores.tasks import TaskStore

__all__ = ["Stores"]


class Stores(Protocol):
    """The stores of one workspace.

    Attributes:
        lineage: Walks, reproducibility facts and run provenance.
        metadata: Metadata fields and their values on runs and artifacts.
        collections: Named sets of runs, artifacts, pipelines and models.
        identity: Users, API tokens and project roles.
        ledger: The ledger's entries, signed checkpoints and proofs.
        runs: Tracked runs: created, logged to in batches, sealed, searched.
        artifacts: Artifacts: recorded, looked up and listed.
        tasks: Pipeline runs, their tasks and the cache.
    """

    @property
    def lineage(self) -> LineageStore: ...

    @property
    def metadata(self) -> MetadataStore: ...

    @property
    def collections(self) -> CollectionStore: ...

    @property
    def identity(self) -> IdentityStore: ...

    @property
    def ledger(self) -> LedgerStore: ...

    @property
    def runs(self) -> RunStore: ...

    @property
    def artifacts(self) -> ArtifactStore: ...

    @property
    def tasks(self) -> TaskStore: ...
