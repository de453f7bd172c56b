"""Identity: users, passwords, API tokens and project roles (viewer < editor < admin).

``IdentityService`` holds the rules (who may sign in, what a role allows, what a non-member may
learn); it keeps its rows in the workspace's ``IdentityStore``. Password hashing needs the
``server`` extra (``argon2-cffi``).

Example:
    >>> service = IdentityService(workspace.stores.identity)  # doctest: +SKIP
    >>> issued = service.issue_token("alice", "laptop", by="admin")  # doctest: +SKIP
"""

from labledger.identity.hashing import TOKEN_PREFIX, token_hash
from labledger.identity.public_keys import parse_public_key
from labledger.identity.service import IdentityService, IssuedToken, local_user
from labledger.stores.identity import (
    ApiToken,
    Membership,
    ProjectAccess,
    Role,
    User,
    UserKey,
)

__all__ = [
    "TOKEN_PREFIX",
    "ApiToken",
    "IdentityService",
    "IssuedToken",
    "Membership",
    "ProjectAccess",
    "Role",
    "User",
    "UserKey",
    "local_user",
    "parse_public_key",
    "token_hash",
]
