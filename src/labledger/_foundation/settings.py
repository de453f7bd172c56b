"""Where the workspace is and how to reach it, from arguments, environment or discovery.

Order of precedence: an explicit argument (``--workspace``), then ``LABLEDGER_URI``, then the first
``.labledger/`` folder found walking up from the current directory, as git finds ``.git``.

A workspace URI is either a folder (``/data/study`` or ``file:///data/study``; the ``.labledger``
folder inside it holds everything) or a database URL (``postgresql://...``, ``sqlite:///...``), in which
case ``LABLEDGER_STORE`` names the blob store (``s3://bucket/prefix`` or a folder), or a labledger
server's URL (``http://host:port``, ``https://...``), whose workspace is then reached through it.
``LABLEDGER_STORE_LINK`` says how a folder store takes in local files (see ``STORE_LINKS``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from labledger._foundation.errors import ConfigurationError, WorkspaceNotFoundError

__all__ = [
    "DEFAULT_STORE_LINK",
    "NO_STORE",
    "STORE_LINKS",
    "WORKSPACE_DIRNAME",
    "Settings",
    "StoreLink",
    "find_workspace_root",
    "masked_uri",
    "parse_store_link",
    "resolve_settings",
    "server_settings",
]

WORKSPACE_DIRNAME = ".labledger"
_DB_SCHEMES = ("sqlite", "postgresql", "postgres")
# ``host:port`` (or ``host:port/path``) without a scheme: meant as a server, most likely.
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}(?:/.*)?$")
# The store URL of a database catalog opened for its catalog alone (``catalog_only``): a blob
# store that refuses every use (users, tokens and projects live in the catalog only).
NO_STORE = ""


def masked_uri(uri: str) -> str:
    """``uri`` for a message: scheme, user, host and path kept, any password shown as ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(uri)
        if parts.password is None:
            return uri
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:  # an unparsable URI still needs a message, without what may be secret
        return uri.rsplit("@", 1)[-1]


# How a local folder store takes in a file: ``copy`` always copies its bytes; ``reflink`` clones it
# where the filesystem can (copy-on-write, still an independent file) and copies elsewhere;
# ``hardlink`` also clones where it can, else hard-links the file itself (made read-only) and
# copies only when neither works.
StoreLink = Literal["copy", "reflink", "hardlink"]
STORE_LINKS: tuple[StoreLink, ...] = get_args(StoreLink)
DEFAULT_STORE_LINK: StoreLink = "reflink"


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved connection settings of a workspace.

    Attributes:
        catalog_url: SQLAlchemy URL of the catalog database.
        store_url: Folder path or fsspec URL of the blob store.
        root: The local ``.labledger`` folder, when the workspace is embedded.
        s3_endpoint_url: Endpoint of an S3-compatible server, when not AWS.
        verify_on_read: Re-hash blobs as they are read.
        store_link: How a folder store takes in local files (``STORE_LINKS``).
        server_url: The labledger server the workspace is reached through (an ``http(s)://``
            URI, no trailing slash); ``None`` for a folder or a database. A server's settings
            have no catalog URL of their own: ``catalog_url`` is empty and ``store_url`` is the
            server's URL.
    """

    catalog_url: str
    store_url: str
    root: Path | None = None
    s3_endpoint_url: str | None = None
    verify_on_read: bool = False
    store_link: StoreLink = DEFAULT_STORE_LINK
    server_url: str | None = None


def server_settings(url: str) -> Settings:
    """Settings of a workspace reached through the labledger server at ``url`` (its root: an
    ``/api/v1`` at the end, as someone copying a route might write it, is left off)."""
    base = url.strip().rstrip("/").removesuffix("/api/v1")
    return Settings(catalog_url="", store_url=base, server_url=base)


def find_workspace_root(start: Path | None = None) -> Path | None:
    """The nearest ``.labledger`` folder at or above ``start``, or ``None``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / WORKSPACE_DIRNAME
        if candidate.is_dir():
            return candidate
    return None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def parse_store_link(value: str | None) -> StoreLink:
    """A ``StoreLink`` from its name; empty means the default.

    Raises:
        ConfigurationError: ``value`` names no link mode.
    """
    name = (value or "").strip().lower() or DEFAULT_STORE_LINK
    for link in STORE_LINKS:
        if link == name:
            return link
    raise ConfigurationError(
        f"unknown store link mode {value!r}",
        hint=f"set LABLEDGER_STORE_LINK to one of: {', '.join(STORE_LINKS)}",
    )


def local_settings(
    root: Path, *, verify_on_read: bool = False, store_link: StoreLink = DEFAULT_STORE_LINK
) -> Settings:
    """Settings of an embedded workspace whose ``.labledger`` folder is ``root``."""
    return Settings(
        catalog_url=f"sqlite:///{root / 'catalog.db'}",
        store_url=str(root / "objects"),
        root=root,
        verify_on_read=verify_on_read,
        store_link=store_link,
    )


def _root_from_path(path: Path) -> Path:
    return path if path.name == WORKSPACE_DIRNAME else path / WORKSPACE_DIRNAME


def resolve_settings(
    uri: str | os.PathLike[str] | None = None,
    *,
    must_exist: bool = True,
    store: str | None = None,
    s3_endpoint_url: str | None = None,
    catalog_only: bool = False,
) -> Settings:
    """Resolve workspace settings.

    Args:
        uri: A folder, ``file://`` URL, database URL or server URL (``http(s)://``); ``None``
            reads ``LABLEDGER_URI`` or discovers.
        must_exist: Raise when a local workspace folder does not exist yet.
        store: The blob store of a database catalog, in place of ``LABLEDGER_STORE``.
        s3_endpoint_url: The S3-compatible endpoint, in place of ``LABLEDGER_S3_ENDPOINT_URL``.
        catalog_only: The caller needs the catalog alone (users, tokens, projects): a database
            URL without a blob store opens with ``NO_STORE``, a store that refuses every use.

    Raises:
        WorkspaceNotFoundError: Nothing given and no ``.labledger`` folder here or above.
        ConfigurationError: A database URL without ``LABLEDGER_STORE`` (unless
            ``catalog_only``), or an unknown
            ``LABLEDGER_STORE_LINK``.
    """
    env = os.environ
    verify = _truthy(env.get("LABLEDGER_VERIFY_ON_READ"))
    link = parse_store_link(env.get("LABLEDGER_STORE_LINK"))
    raw = os.fspath(uri) if uri is not None else env.get("LABLEDGER_URI") or None
    if raw is None:
        found = find_workspace_root()
        if found is None:
            raise WorkspaceNotFoundError(
                f"no {WORKSPACE_DIRNAME} workspace in {Path.cwd()} or any parent folder",
                hint="run `labledger init` here, or set LABLEDGER_URI / pass --workspace",
            )
        return local_settings(found, verify_on_read=verify, store_link=link)
    scheme = raw.split("://", 1)[0].split("+", 1)[0] if "://" in raw else ""
    if scheme in ("http", "https"):
        return server_settings(raw)
    if scheme in _DB_SCHEMES:
        store = store or env.get("LABLEDGER_STORE")
        if not store and not catalog_only:
            raise ConfigurationError(
                f"workspace URI {masked_uri(raw)!r} is a database but no blob store is set",
                hint="set LABLEDGER_STORE to s3://bucket/prefix or a shared folder",
            )
        return Settings(
            catalog_url=raw,
            store_url=store or NO_STORE,
            s3_endpoint_url=s3_endpoint_url or env.get("LABLEDGER_S3_ENDPOINT_URL") or None,
            verify_on_read=verify,
            store_link=link,
        )
    server_like = _HOST_PORT.match(raw) is not None and not Path(raw).exists()
    if scheme not in ("", "file"):
        raise ConfigurationError(
            f"unknown workspace URI scheme {scheme!r}",
            hint=f"a server's URI starts with http:// or https://: http://{raw}"
            if server_like
            else "use a folder, file://, sqlite://, postgresql:// or a server's http(s):// URI",
        )
    path = Path(raw.removeprefix("file://")).expanduser()
    root = _root_from_path(path).resolve()
    if must_exist and not root.is_dir():
        raise WorkspaceNotFoundError(
            f"no workspace at {root}",
            hint=f"for a server, write its URI with http:// or https://: http://{raw}"
            if server_like
            else f"run `labledger init {path}` to create one",
        )
    return local_settings(root, verify_on_read=verify, store_link=link)
