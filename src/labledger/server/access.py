"""What a server process remembers about who is asking, for a few seconds, so that a busy client
(a training loop sending a metric batch many times a second) is not looked up in the catalog on
every request.

- A token's user is remembered for ``ttl_s`` seconds, keyed by the SHA-256 of the token (what the
  catalog keeps), never by the secret. A token revoked or expired, or a user disabled, through
  another process (the CLI, another replica) is refused at the latest ``ttl_s`` seconds later;
  through this process's own routes, at once (they call ``forget``).
- The projects a user sees, and their role in each, are remembered as long: a role taken away
  elsewhere is seen within ``ttl_s`` seconds. A refusal is never made from memory (see
  ``ProjectScope``), so a project made or a role granted is seen at once.
- That the workspace has users is remembered for good once true (users are never deleted, only
  disabled); that it has none, for ``ttl_s`` seconds: a loopback server in single-user mode asks
  for tokens at the latest ``ttl_s`` seconds after the first user is made elsewhere (at once when
  made through this server).

Failed sign-ins are never remembered: a wrong token costs a catalog lookup each time.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TypeVar

from labledger.identity.hashing import token_hash

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.identity import IdentityService
    from labledger.stores.identity import ProjectAccess, User

__all__ = ["ACCESS_TTL_S", "AccessCache"]

ACCESS_TTL_S = 5.0
"""How long a server process trusts what it read about a token, a user's projects and roles."""

_MAX_ENTRIES = 10_000
_NO_USERS_MEMORY_S = 1.0  # how long "no users" found by a request stands for the token gate
_T = TypeVar("_T")


class AccessCache:
    """Tokens' users and users' projects, each remembered for ``ttl_s`` seconds (see the module).

    Args:
        identity: The identity service the answers come from.
        ttl_s: How long an answer is trusted; ``0`` asks the catalog every time.
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        identity: IdentityService,
        *,
        ttl_s: float = ACCESS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = identity
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, User]] = {}
        self._projects: dict[str, tuple[float, list[ProjectAccess]]] = {}
        self._has_users = False
        # Until when ``users_known`` answers "no users" without asking (see there).
        self._no_users_seen_until = 0.0

    def known_user(self, secret: str) -> User | None:
        """The user of token ``secret`` if it was checked less than ``ttl_s`` ago; no I/O."""
        found = self._users.get(token_hash(secret))
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def user(self, secret: str) -> User:
        """The user token ``secret`` belongs to (``AuthenticationError`` if it is wrong, spent or
        its user disabled), from memory when checked less than ``ttl_s`` ago."""
        known = self.known_user(secret)
        if known is not None:
            return known
        match = self.identity.check_token(secret)
        ttl = self.ttl_s
        if match.token.expires_at is not None:  # trusted no longer than it lives
            ttl = min(ttl, match.token.expires_at - time.time())
        self._keep(self._users, token_hash(secret), match.user, ttl_s=ttl)
        return match.user

    def known_projects(self, user: User) -> list[ProjectAccess] | None:
        """The projects ``user`` sees, if read less than ``ttl_s`` ago; no I/O."""
        found = self._projects.get(user.id)
        if found is None or found[0] <= self._clock():
            return None
        return found[1]

    def projects(self, user: User, *, fresh: bool = False) -> list[ProjectAccess]:
        """The projects ``user`` sees (every one for an admin), with their role in each; read
        from the catalog when ``fresh`` (and remembered again)."""
        known = None if fresh else self.known_projects(user)
        if known is not None:
            return known
        visible = self.identity.visible_projects(user)
        self._keep(self._projects, user.id, visible)
        return visible

    def users_known(self) -> bool | None:
        """Whether the workspace has users, from memory (no I/O): ``True`` once found (for
        good), ``False`` when none were found less than a second ago and this process has made
        none since, ``None`` when the catalog must be asked (``has_users``)."""
        if self._has_users:
            return True
        if self._clock() < self._no_users_seen_until:
            return False
        return None

    def has_users(self) -> bool:
        """Whether the workspace has (ever had) a user; remembered for good once true."""
        if self._has_users:
            return True
        # "No users yet" is asked every time: single-user mode must end the moment a first user
        # exists, however it was made.
        self._has_users = self.identity.has_users()
        if not self._has_users:
            self._no_users_seen_until = self._clock() + _NO_USERS_MEMORY_S
        return self._has_users

    def forget(self) -> None:
        """Drop every remembered token, project list and "no users" (after this process
        changed one)."""
        with self._lock:
            self._no_users_seen_until = 0.0
            self._users.clear()
            self._projects.clear()

    def _keep(
        self, into: dict[str, tuple[float, _T]], key: str, value: _T, *, ttl_s: float | None = None
    ) -> None:
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            return
        with self._lock:
            if len(into) >= _MAX_ENTRIES:
                into.clear()
            into[key] = (self._clock() + ttl, value)
