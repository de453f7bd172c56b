"""``RemoteWorkspace``: a workspace reached through a labledger server (``LABLEDGER_URI=http://...``).

Its ``stores`` are the HTTP stores and its blob store reads through the server, so the services
that speak only to stores (tracked runs, artifacts, pipelines, lineage, metadata, collections,
search) work unchanged. Projects are found by name among those the signed-in user may see, and dead
runs are sealed by the server. What still needs the catalog itself (``catalog``, ``read``,
``write``, ``record``) refuses with a ``ConfigurationError`` rather than failing somewhere deeper.

A user who registered a signing key (``labledger keys add``) and holds its private half
(``LABLEDGER_SIGNING_KEY``, or the file ``labledger keys create`` made) signs their own entries:
the run and artifact stores sign the entries the server writes for their runs and artifacts
(``sign_entry`` makes each signed body), ``append_signed`` has the server chain one on its own.
"""

from __future__ import annotations

import difflib
import functools
import os
import socket
import time
from typing import TYPE_CHECKING, Any, NoReturn

from labledger._foundation.errors import ConfigurationError, NotFoundError
from labledger.stores.ledger import EntryBody
from labledger.stores.signed_wire import SignedBodyIn
from labledger.workspace.http.blobs import HttpBlobStore
from labledger.workspace.http.client import Client
from labledger.workspace.http.credentials import token_for
from labledger.workspace.http.stores import HttpStores
from labledger.workspace.workspace import DEFAULT_PROJECT, REAP_EVERY_S, Workspace, current_actor

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from sqlalchemy import Connection

    from labledger._foundation.settings import Settings
    from labledger.stores.signed_wire import EntrySigner
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.signing import Signer

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
        signer: The user's signing key; by default the PEM file ``LABLEDGER_SIGNING_KEY`` names,
            else the user's key at ``signing.default_key_path`` when the server has it
            registered, loaded when first needed. Its public half must be registered
            (``labledger keys add``).
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
        signer: Signer | None = None,
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
        self._signer = signer
        self._signer_loaded = signer is not None
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

    @property
    def signer(self) -> Signer | None:
        """The signed-in user's signing key, or ``None`` when they hold none here."""
        if not self._signer_loaded:
            self._signer_loaded = True
            self._signer = self._find_signer()
        return self._signer

    @signer.setter
    def signer(self, value: Signer | None) -> None:
        self._signer, self._signer_loaded = value, True

    def _find_signer(self) -> Signer | None:
        """``LABLEDGER_SIGNING_KEY``'s key, else the key ``labledger keys create`` keeps for
        the user when the server has it registered and not revoked (as a local workspace finds
        its actor's key); ``None`` when neither."""
        from labledger.workspace.signing import default_key_path, load_signer

        path = os.environ.get("LABLEDGER_SIGNING_KEY")
        if path:
            return load_signer(path, self.actor)
        default = default_key_path(self.actor)
        if not default.is_file():
            return None
        signer = load_signer(default, self.actor)
        return signer if signer.public_key_hex in self._registered_keys() else None

    def _registered_keys(self) -> set[str]:
        """The signed-in user's unrevoked public keys, as the server has them."""
        keys: set[str] = set()
        token: str | None = None
        while True:
            params = {"page_token": token} if token is not None else None
            page = self.client.call("GET", "/api/v1/me/keys", model=dict, params=params)
            keys.update(
                str(key["id"]) for key in page.get("items", []) if key.get("revoked_at") is None
            )
            token = page.get("next_page_token")
            if token is None:
                return keys

    def _entry_signer(self) -> EntrySigner | None:
        """How the run and artifact stores sign the entries the server writes for the user, or
        ``None`` when they hold no key (the server signs them)."""
        if self.signer is None:
            return None

        def sign(kind: str, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
            return SignedBodyIn.wire(*self.sign_entry(kind, subject, payload))

        return sign

    def sign_entry(self, kind: str, subject: str, payload: dict[str, Any]) -> tuple[EntryBody, str]:
        """A new entry body in the signed-in user's name, and its signature (``v2:...``).

        What a write that lands in the ledger carries to the server, which checks the signature
        against the user's registered keys before it chains the entry.

        Raises:
            ConfigurationError: No signing key is loaded.
        """
        signer = self.signer
        if signer is None:
            raise ConfigurationError(
                "signing an entry needs your private key",
                hint="set LABLEDGER_SIGNING_KEY to its PEM file; `labledger keys create` makes "
                "one and `labledger keys add` registers it with the server",
            )
        body = EntryBody.new(
            kind, subject=subject, payload=payload, actor=self.actor, key_id=signer.public_key_hex
        )
        return body, signer.sign_body(body)

    def append_signed(self, kind: str, subject: str, payload: dict[str, Any]) -> LedgerEntry:
        """Sign an entry with the user's key and have the server chain it.

        Raises:
            ConfigurationError: No signing key is loaded.
            PermissionDeniedError: The key is not one of the user's registered, unrevoked keys.
            ValidationError: ``kind`` is one the workspace writes itself (``run.``, ``key.`` ...).
        """
        body, signature = self.sign_entry(kind, subject, payload)
        return self.stores.ledger.append_signed(body, signature)

    def __getattr__(self, name: str) -> Any:
        if name in _SQL_ONLY:
            raise _not_remote(f"the catalog ({name})", self.client.base_url)
        raise AttributeError(name)

    @functools.cached_property
    def stores(self) -> HttpStores:
        """The HTTP stores of the server's workspace."""
        return HttpStores(self.client, self._entry_signer)

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
        self._list_projects(until=lambda: name in self._project_ids)
        return self._project_ids.get(name)

    def project_name(self, project_id: str) -> str | None:
        """The name of the project with id ``project_id`` among those the user may see."""

        def known() -> str | None:
            return next((n for n, i in self._project_ids.items() if i == project_id), None)

        if known() is None:
            self._list_projects(until=lambda: known() is not None)
        return known()

    def _list_projects(self, *, until: Callable[[], bool]) -> None:
        """Read the user's projects, a page at a time, until ``until()`` or the last page."""
        token: str | None = None
        while True:
            params = {"page_token": token} if token is not None else None
            page = self.client.call("GET", "/api/v1/projects", model=dict, params=params)
            for project in page.get("items", []):
                self._project_ids[str(project["name"])] = str(project["id"])
            token = page.get("next_page_token")
            if until() or token is None:
                return

    def project_id(self, name: str = DEFAULT_PROJECT) -> str:
        """The id of project ``name``; a server's projects are made by its administrators, so
        one that the user cannot see is an error, not made on first use."""
        found = self.find_project_id(name)
        if found is None:
            yours = sorted(self._project_ids)
            grant = f"labledger projects grant {self.actor} editor --project {name}"
            close = difflib.get_close_matches(name, yours, n=1, cutoff=0.75)
            if close:
                hint = (
                    f"did you mean {close[0]!r}? (your projects there: {', '.join(yours)}; "
                    "project= in Python, --project on the command line)"
                )
            elif yours:
                hint = (
                    f"your projects there: {', '.join(yours)}; pass one (project= in Python, "
                    f"--project on the command line), or ask an administrator: {grant}"
                )
            else:
                hint = f"you have a role in no project there: ask an administrator: {grant}"
            if name == DEFAULT_PROJECT:  # on every workspace: say plainly what is missing
                message = f"{self.actor} has no role in project {name!r}"
            else:
                message = f"no project called {name!r} that you are a member of"
            raise NotFoundError(f"{message} on {self.client.base_url}", hint=hint)
        return found

    def upsert(
        self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        raise _not_remote("writing to the catalog directly", self.client.base_url)

    def insert_ignore(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        raise _not_remote("writing to the catalog directly", self.client.base_url)
