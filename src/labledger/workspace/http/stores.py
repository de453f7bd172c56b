"""``HttpStores``: every store of a server's workspace, over its ``/api/v1``."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from labledger._foundation.errors import ConfigurationError
from labledger.workspace.http.identity import HttpIdentityStore
from labledger.workspace.http.ledger import HttpLedgerStore
from labledger.workspace.http.lineage import HttpLineageStore
from labledger.workspace.http.metadata import HttpCollectionStore, HttpMetadataStore
from labledger.workspace.http.runs import HttpRunStore

if TYPE_CHECKING:
    from labledger.stores.artifacts import ArtifactStore
    from labledger.stores.tasks import TaskStore
    from labledger.workspace.http.client import Client

__all__ = ["HttpStores"]


class HttpStores:
    """The ``Stores`` of a workspace reached through a labledger server."""

    def __init__(self, client: Client) -> None:
        self.client = client

    @functools.cached_property
    def lineage(self) -> HttpLineageStore:
        return HttpLineageStore(self.client)

    @functools.cached_property
    def metadata(self) -> HttpMetadataStore:
        return HttpMetadataStore(self.client)

    @functools.cached_property
    def collections(self) -> HttpCollectionStore:
        return HttpCollectionStore(self.client)

    @functools.cached_property
    def identity(self) -> HttpIdentityStore:
        return HttpIdentityStore(self.client)

    @functools.cached_property
    def ledger(self) -> HttpLedgerStore:
        return HttpLedgerStore(self.client)

    @functools.cached_property
    def runs(self) -> HttpRunStore:
        return HttpRunStore(self.client)

    @property
    def artifacts(self) -> ArtifactStore:
        """Not over HTTP yet: artifacts against a server come with the run routes."""
        raise self._not_yet("artifacts")

    @property
    def tasks(self) -> TaskStore:
        """Not over HTTP yet: pipeline runs against a server come with their routes."""
        raise self._not_yet("pipeline runs and the cache")

    def _not_yet(self, what: str) -> ConfigurationError:
        return ConfigurationError(
            f"{what} is not available against a server yet ({self.client.base_url})",
            hint="open the server's workspace itself (its folder or database URL) for this",
        )
