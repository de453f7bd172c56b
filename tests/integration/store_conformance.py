"""Running a store's unit tests again against another backend.

A store's contract is what its service's unit tests check. A conformance module imports those
test modules, ``adopt``s their tests and fixtures into its own namespace, and overrides the
``workspace`` fixture with a workspace on the other backend (PostgreSQL here), so the same tests
answer for every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["adopt"]


def adopt(namespace: dict[str, Any], *modules: ModuleType, fixtures: dict[str, Any]) -> None:
    """Copy every ``test_*`` function of ``modules``, and ``fixtures``, into ``namespace``."""
    for module in modules:
        for name in dir(module):
            if name.startswith("test_"):
                namespace[name] = getattr(module, name)
    namespace.update(fixtures)
