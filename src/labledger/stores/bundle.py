"""``Stores``: the bundle of stores a workspace hands to the services.

A folder or a database URL gives the SQL stores; a server's URL will give the HTTP stores. The
services reach storage only through these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from labledger.stores.identity import IdentityStore
    from labledger.stores.lineage import LineageStore
    from labledger.stores.metadata import CollectionStore, MetadataStore
    from labledger.stores.tasks import TaskStore

__all__ = ["Stores"]


class Stores(Protocol):
    """The stores of one workspace.

    Attributes:
        lineage: Walks, reproducibility facts and run provenance.
        metadata: Metadata fields and their values on runs and artifacts.
        collections: Named sets of runs, artifacts, pipelines and models.
        identity: Users, API tokens and project roles.
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
    def tasks(self) -> TaskStore: ...
