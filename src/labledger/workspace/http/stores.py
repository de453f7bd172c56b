"""``HttpStores``: every store of a server's workspace, over its ``/api/v1``."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from labledger.workspace.http.artifacts import HttpArtifactStore
from labledger.workspace.http.identity import HttpIdentityStore
from labledger.workspace.http.ledger import HttpLedgerStore
from labledger.workspace.http.lineage import HttpLineageStore
from labledger.workspace.http.metadata import HttpCollectionStore, HttpMetadataStore
from labledger.workspace.http.runs import HttpRunStore
from labledger.workspace.http.tasks import HttpTaskStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.stores.signed_wire import EntrySigner
    from labledger.workspace.http.client import Client

__all__ = ["HttpStores"]


class HttpStores:
    """The ``Stores`` of a workspace reached through a labledger server."""

    def __init__(
        self, client: Client, signing: Callable[[], EntrySigner | None] | None = None
    ) -> None:
        self.client = client
        # Asked when the run or artifact store is first used: whether (and how) the user signs
        # the entries the server writes for them.
        self._signing = signing

    def _sign(self) -> EntrySigner | None:
        return self._signing() if self._signing is not None else None

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
        return HttpRunStore(self.client, self._sign())

    @functools.cached_property
    def artifacts(self) -> HttpArtifactStore:
        return HttpArtifactStore(self.client, self._sign())

    @functools.cached_property
    def tasks(self) -> HttpTaskStore:
        return HttpTaskStore(self.client)
