"""``SqlStores``: every SQL store of one workspace, made on first use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from labledger.workspace.sql.artifacts import SqlArtifactStore
from labledger.workspace.sql.collections import SqlCollectionStore
from labledger.workspace.sql.identity import SqlIdentityStore
from labledger.workspace.sql.ledger import SqlLedgerStore
from labledger.workspace.sql.lineage import SqlLineageStore
from labledger.workspace.sql.metadata import SqlMetadataStore
from labledger.workspace.sql.runs import SqlRunStore
from labledger.workspace.sql.tasks import SqlTaskStore

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlStores"]


class SqlStores:
    """The ``Stores`` of a workspace whose catalog is a SQL database."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @functools.cached_property
    def lineage(self) -> SqlLineageStore:
        return SqlLineageStore(self._workspace)

    @functools.cached_property
    def metadata(self) -> SqlMetadataStore:
        return SqlMetadataStore(self._workspace)

    @functools.cached_property
    def collections(self) -> SqlCollectionStore:
        return SqlCollectionStore(self._workspace)

    @functools.cached_property
    def identity(self) -> SqlIdentityStore:
        return SqlIdentityStore(self._workspace)

    @functools.cached_property
    def ledger(self) -> SqlLedgerStore:
        return SqlLedgerStore(self._workspace)

    @functools.cached_property
    def runs(self) -> SqlRunStore:
        return SqlRunStore(self._workspace)

    @functools.cached_property
    def artifacts(self) -> SqlArtifactStore:
        return SqlArtifactStore(self._workspace)

    @functools.cached_property
    def tasks(self) -> SqlTaskStore:
        return SqlTaskStore(self._workspace)
