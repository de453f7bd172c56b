"""Starting the server: which workspace it serves, which binds need authentication, and running
it under uvicorn until a signal stops it gracefully.

The server keeps no state of its own beyond the catalog and the blob store, so several replicas
may serve one team workspace behind a load balancer; each applies pending migrations on start
(``labledger.migrate`` takes a lock, so they may all start at once).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from labledger._foundation.errors import ConfigurationError
from labledger._foundation.settings import resolve_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

__all__ = [
    "DEFAULT_BODY_LIMIT_MB",
    "DEFAULT_UPLOAD_LIMIT_MB",
    "GRACEFUL_SHUTDOWN_S",
    "auth_required_for",
    "is_loopback",
    "open_served_workspace",
    "require_server_extras",
    "serve",
    "settle_heap",
]

DEFAULT_BODY_LIMIT_MB = 16
DEFAULT_UPLOAD_LIMIT_MB = 5 * 1024
# How long a stopping server lets requests in flight finish (after SIGTERM or Ctrl-C) before it
# cancels them; under the 30 s most process managers wait before they kill.
GRACEFUL_SHUTDOWN_S = 25

_log = logging.getLogger("labledger.server")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``127.0.0.1``, ``::1``, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_required_for(host: str, *, has_users: bool) -> bool:
    """Whether a server bound to ``host`` requires API tokens.

    With users, always. Without any, a loopback bind runs in single-user mode (the local user acts,
    no sign-in); any other bind is refused, so a server is never open to the network without auth.

    Raises:
        ConfigurationError: ``host`` is not loopback and the workspace has no users.
    """
    if has_users:
        return True
    if is_loopback(host):
        return False
    raise ConfigurationError(
        f"refusing to listen on {host} without authentication: the workspace has no users",
        hint=(
            "create an administrator first (`labledger users create NAME --admin "
            "--password-stdin`), or bind to 127.0.0.1"
        ),
    )


def open_served_workspace(
    uri: str | None = None,
    *,
    catalog: str | None = None,
    store: str | None = None,
    s3_endpoint_url: str | None = None,
    migrate: bool = True,
) -> Workspace:
    """Open the workspace a server serves, migrating its catalog first unless told not to.

    ``catalog``, ``store`` and ``s3_endpoint_url`` name a team workspace exactly as
    ``LABLEDGER_URI``, ``LABLEDGER_STORE`` and ``LABLEDGER_S3_ENDPOINT_URL`` do (each falls back to
    its variable); without them, ``uri`` (``--workspace``) or discovery finds the workspace.

    Args:
        uri: A workspace folder or URL (``--workspace``).
        catalog: The catalog's database URL; takes the place of ``uri``.
        store: The blob store (``s3://bucket/prefix`` or a shared folder) of a database catalog.
        s3_endpoint_url: The endpoint of an S3-compatible server.
        migrate: Apply pending migrations (as ``labledger.migrate``); with ``False`` an outdated
            catalog is refused (``SchemaOutdatedError``).

    Raises:
        ConfigurationError: A store for a folder workspace, or a database without a store.
        SchemaOutdatedError: ``migrate`` is ``False`` and the catalog needs a migration.
    """
    from labledger.workspace.checkpoints import catch_up_tip
    from labledger.workspace.workspace import Workspace

    settings = resolve_settings(
        catalog if catalog is not None else uri, store=store, s3_endpoint_url=s3_endpoint_url
    )
    if settings.root is not None and (store is not None or s3_endpoint_url is not None):
        raise ConfigurationError(
            f"{settings.root} is a workspace folder: it keeps its blobs in its own objects folder",
            hint="--store and --s3-endpoint-url go with --catalog postgresql://...",
        )
    if migrate:
        migration = Workspace.migrate(settings)  # what labledger.migrate() runs
        if migration.changed:
            _log.info(
                "catalog migrated from schema revision %s to %s",
                migration.from_revision,
                migration.to_revision,
            )
    workspace = Workspace.open(settings)
    workspace.carries_run_digests = True  # clients send no digest of the rows they log
    _log.info("serving catalog %s, store %s", workspace.catalog.safe_url, workspace.store.url)
    started = time.perf_counter()
    entries = catch_up_tip(workspace)
    if entries is None:
        _log.warning(
            "the ledger no longer extends what this server last saw (entries cut, rewritten or "
            "edited): it signs no checkpoint until that is resolved; run `labledger verify`"
        )
    else:
        seconds = time.perf_counter() - started
        _log.info("the ledger's %d entries checked for checkpoints in %.1f s", entries, seconds)
    return workspace


# What the ``server`` extra installs that the server cannot start without.
_SERVER_MODULES = ("fastapi", "uvicorn", "httpx")


def require_server_extras(catalog: str | None = None, store: str | None = None) -> None:
    """Check that the ``server`` extra is installed, and the ``postgres`` and ``s3`` extras when
    the catalog or the store needs them, before anything is opened or logged: every missing one
    is named at once.

    ``catalog`` and ``store`` fall back to ``LABLEDGER_URI`` and ``LABLEDGER_STORE``.

    Raises:
        ConfigurationError: An extra is missing; the hint says what to install.
    """
    from importlib.util import find_spec

    from labledger._foundation.extras import install_hint, missing_extras

    catalog = catalog or os.environ.get("LABLEDGER_URI") or ""
    store = store or os.environ.get("LABLEDGER_STORE") or ""
    wanted = ["server"]
    if catalog.startswith(("postgresql", "postgres:")):
        wanted.append("postgres")
    if store.startswith("s3://"):
        wanted.append("s3")
    missing = missing_extras(*wanted)
    modules = [name for name in _SERVER_MODULES if find_spec(name) is None]
    if modules and "server" not in missing:
        missing.insert(0, "server")
    if missing:
        said = ", ".join(missing)
        raise ConfigurationError(
            f"the server needs its extra dependencies: {said}"
            + (f" ({', '.join(modules)} missing)" if modules else ""),
            hint=install_hint(*wanted),
        )


@contextmanager
def _returning_on_sigterm() -> Iterator[None]:
    """While uvicorn runs, a SIGTERM stops it gracefully and then returns (exit status 0).

    uvicorn handles SIGTERM itself and, once it has shut down, raises the signal again for the
    handler that was there before it; without one of ours, that kills the process.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warn_if_store_refuses(workspace: Workspace) -> None:
    """Log a warning at start when the blob store does not answer (wrong S3 credentials, a
    folder the server may not read): it may come up later, so the server starts anyway."""
    from labledger.server.app import PROBE_DIGEST

    try:
        workspace.store.exists(PROBE_DIGEST)
    except Exception as exc:
        _log.warning(
            "the blob store does not answer: %s: %s; check its location and credentials "
            "(GET /readyz says not ready until it answers)",
            type(exc).__name__,
            exc,
        )


def settle_heap() -> None:
    """Keep what the process has made so far (its modules, the application and its routes, about
    120,000 objects) out of the garbage collector's full passes for good.

    They live as long as the process. Under a stream of metric batches the collector's full pass
    came every second or two and walked all of them each time: 70-90 ms with every request in
    flight stopped, a twentieth of the server's time. Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


def serve(
    workspace: Workspace,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    max_body_mb: int = DEFAULT_BODY_LIMIT_MB,
    max_upload_mb: int = DEFAULT_UPLOAD_LIMIT_MB,
    graceful_shutdown_s: int = GRACEFUL_SHUTDOWN_S,
) -> None:
    """Run the server over ``workspace`` until interrupted (uvicorn, one process).

    On SIGTERM (or Ctrl-C) it stops accepting connections, lets the requests in flight finish for
    up to ``graceful_shutdown_s`` seconds, and returns.

    Args:
        workspace: The open workspace to serve.
        host: The address to listen on.
        port: The port to listen on.
        max_body_mb: The largest request body accepted, in MiB (larger ones get 413); blob
            uploads have their own limit.
        max_upload_mb: The largest blob accepted in one upload, in MiB (larger ones get 413).
        graceful_shutdown_s: How long requests in flight may take to finish when stopping.

    Raises:
        ConfigurationError: The catalog's checkpoints are signed with a workspace key this
            process lacks (``LABLEDGER_WORKSPACE_KEY`` unset, gone, or another key).
    """
    from labledger.identity import IdentityService
    from labledger.workspace.checkpoints import check_workspace_key

    check_workspace_key(workspace)
    _warn_if_store_refuses(workspace)
    auth = auth_required_for(host, has_users=IdentityService(workspace.stores.identity).has_users())
    from labledger._foundation.extras import install_hint

    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "the server needs its extra dependencies", hint=install_hint("server")
        ) from exc
    from labledger.server.app import create_app
    from labledger.server.logs import log_config

    app = create_app(
        workspace,
        auth_required=auth,
        body_limit=max_body_mb * 1024 * 1024,
        upload_limit=max_upload_mb * 1024 * 1024,
    )
    settle_heap()
    with _returning_on_sigterm():
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=log_config(),
            access_log=False,  # RequestIds logs each request, with its id
            timeout_graceful_shutdown=graceful_shutdown_s,
        )
