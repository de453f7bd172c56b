"""The API tokens ``labledger login`` saved, one per server, readable by their owner only.

``$XDG_CONFIG_HOME/labledger/credentials.json`` (``~/.config`` when unset) maps a server's URL to
``{"token": ..., "token_id": ..., "user": ...}``. It is rewritten atomically (a new file renamed over
the old) with mode 0600. ``LABLEDGER_TOKEN``, when set, wins over it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from labledger._foundation.errors import ConfigurationError

__all__ = [
    "SavedLogin",
    "credentials_path",
    "forget_login",
    "normalise_url",
    "save_login",
    "saved_login",
    "token_for",
]


@dataclass(frozen=True, slots=True)
class SavedLogin:
    """A token saved for one server.

    Attributes:
        token: The secret.
        token_id: Its id on the server, when ``login`` made it (``logout`` revokes it then).
        user: Who signed in, when known.
    """

    token: str
    token_id: str | None = None
    user: str | None = None


def credentials_path() -> Path:
    """Where saved tokens live."""
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "labledger" / "credentials.json"


def normalise_url(url: str) -> str:
    """A server URL as tokens are saved under it: no trailing slash, no ``/api/v1`` (the root,
    as ``server_settings`` takes it)."""
    return url.strip().rstrip("/").removesuffix("/api/v1")


def _load() -> dict[str, dict[str, str | None]]:
    path = credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read saved logins from {path}: {exc}",
            hint="fix or delete the file, then `labledger login` again",
        ) from exc
    return data if isinstance(data, dict) else {}


def _store(logins: dict[str, dict[str, str | None]]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(prefix=".credentials-", dir=path.parent)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(logins, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def saved_login(url: str) -> SavedLogin | None:
    """The login saved for the server at ``url``, if any."""
    entry = _load().get(normalise_url(url))
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        return None
    return SavedLogin(str(entry["token"]), entry.get("token_id"), entry.get("user"))


def save_login(url: str, login: SavedLogin) -> Path:
    """Save (or replace) the login for ``url``; returns the file."""
    logins = _load()
    logins[normalise_url(url)] = asdict(login)
    _store(logins)
    return credentials_path()


def forget_login(url: str) -> SavedLogin | None:
    """Remove the login saved for ``url``; the one removed, or ``None``."""
    found = saved_login(url)
    if found is not None:
        logins = _load()
        logins.pop(normalise_url(url), None)
        _store(logins)
    return found


def token_for(url: str) -> str | None:
    """The token to send to ``url``: ``LABLEDGER_TOKEN``, else the one ``login`` saved."""
    return os.environ.get("LABLEDGER_TOKEN") or (
        login.token if (login := saved_login(url)) is not None else None
    )
