"""``RemoteWorkspace``: a workspace reached through a labledger server (``LABLEDGER_URI=http://...``).

Its ``stores`` are the HTTP stores and its blob store reads through the server, so the services
that speak only to stores (tracked runs, lineage, metadata, collections, search) work unchanged.
Projects are found by name among those the signed-in user may see, and dead runs are sealed by
the server. What still needs the catalog itself (``catalog``, ``read``, ``write``, ``record``:
pipelines, the ledger) refuses with a ``ConfigurationError`` rather than failing somewhere deeper.
"""

from __future__ import annotations

import functools
import socket
import time
from typing import TYPE_CHECKING, Any, NoReturn

from labledger._foundation.errors import ConfigurationError, NotFoundError
from labledger.workspace.http.blobs import HttpBlobStore
from labledger.workspace.http.client import Client
from labledger.workspace.http.credentials import token_for
from labledger.workspace.http.stores import HttpStores
from labledger.workspace.workspace import DEFAULT_PROJECT, REAP_EVERY_S, Workspace, current_actor

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Connection

    from labledger._foundation.settings import Settings
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.ledger import LedgerEntry

__all__ = ["RemoteWorkspace"]

# Instance attributes of a SQL workspace that a remote one does not have.
_SQL_ONLY = frozenset({"catalog", "_idle_writers", "_release_writers", "_statements"})


def _not_remote(what: str, server: str) -> ConfigurationError:
    return ConfigurationError(
        f"{what} is not available against a server yet ({server})",
        hint="open the server's workspace itself (its folder or database URL) for this",
    )


class RemoteWorkspace(Workspace):
    """A workspace served by a labledger server, reached over HTTP.

    Args:
        settings: Settings whose ``server_url`` names the server.
        store: A blob store in place of the server's (tests).
        actor: Who acts; by default the signed-in user, as the server knows them.
        transport: An httpx transport in place of the network (tests).
        token: An API token; by default ``LABLEDGER_TOKEN`` or the one ``labledger login`` saved.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: BlobStore | None = None,
        actor: str | None = None,
        transport: httpx.BaseTransport | None = None,
        token: str | None = None,
        client: Client | None = None,
    ) -> None:
        # No super().__init__(): there is no catalog to connect to.
        server = settings.server_url
        if server is None:
            raise ConfigurationError("a remote workspace needs a server URL")
        self.settings = settings
        self.client = client or Client(
            server, token=token or token_for(server), transport=transport
        )
        self.store = store if store is not None else HttpBlobStore(self.client)
        self._actor = actor
        self.host = socket.gethostname()
        self.signer = None
        self.workspace_signer = None
        self.ledger_tip = None
        self._signer_resolved = True
        self._project_ids = {}
        self._reaped_at = None

    @property
    def actor(self) -> str:
        """The signed-in user's name on the server (asked once), who every write is done for."""
        if self._actor is None:
            me = self.client.call("GET", "/api/v1/me", model=dict)
            self._actor = str(me.get("name") or current_actor())
        return self._actor

    @actor.setter
    def actor(self, value: str) -> None:
        self._actor = value

    def __getattr__(self, name: str) -> Any:
        if name in _SQL_ONLY:
            raise _not_remote(f"the catalog ({name})", self.client.base_url)
        raise AttributeError(name)

    @functools.cached_property
    def stores(self) -> HttpStores:
        """The HTTP stores of the server's workspace."""
        return HttpStores(self.client)

    def close(self) -> None:
        """Close the connections to the server."""
        self.client.close()

    def __repr__(self) -> str:
        return f"<Workspace {self.client.base_url}>"

    def write(self) -> NoReturn:
        raise _not_remote("writing to the catalog directly", self.client.base_url)

    def read(self) -> NoReturn:
        raise _not_remote("reading the catalog directly", self.client.base_url)

    def record(
        self, conn: Connection, kind: str, subject: str, payload: dict[str, Any]
    ) -> LedgerEntry:
        raise _not_remote("writing ledger entries", self.client.base_url)

    def reap_dead_runs(self, *, force: bool = True) -> list[str]:
        """Have the server seal as ``crashed`` the runs that lost their lease (judged there, as a
        local writer judges them), at most every ``REAP_EVERY_S`` unless ``force``."""
        now = time.monotonic()
        if not force and self._reaped_at is not None and now - self._reaped_at < REAP_EVERY_S:
            return []
        self._reaped_at = now
        return self.stores.runs.reap()

    def register_blob(self, conn: Connection, digest: str, size: int) -> None:
        raise _not_remote("registering blobs", self.client.base_url)

    def find_project_id(self, name: str = DEFAULT_PROJECT) -> str | None:
        """The id of project ``name`` among those the signed-in user may see, or ``None``."""
        cached = self._project_ids.get(name)
        if cached is not None:
            return cached
        token: str | None = None
        while True:
            params = {"page_token": token} if token is not None else None
            page = self.client.call("GET", "/api/v1/projects", model=dict, params=params)
            for project in page.get("items", []):
                self._project_ids[str(project["name"])] = str(project["id"])
            token = page.get("next_page_token")
            if name in self._project_ids or token is None:
                return self._project_ids.get(name)

    def project_id(self, name: str = DEFAULT_PROJECT) -> str:
        """The id of project ``name``; a server's projects are made by its administrators, so
        one that the user cannot see is an error, not made on first use."""
        found = self.find_project_id(name)
        if found is None:
            raise NotFoundError(
                f"no project called {name!r} on {self.client.base_url}",
                hint="see `labledger projects list`; a workspace administrator creates "
                "projects and grants roles in them",
            )
        return found

    def upsert(
        self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        raise _not_remote("writing to the catalog directly", self.client.base_url)

    def insert_ignore(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        raise _not_remote("writing to the catalog directly", self.client.base_url)
