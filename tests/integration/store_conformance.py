"""Running a store's unit tests again against another backend.

A store's contract is what its service's unit tests check. A conformance module imports those
test modules, ``adopt``s their tests and fixtures into its own namespace, and overrides the
``workspace`` fixture with a workspace on the other backend (PostgreSQL, or a real server), so the
same tests answer for every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection
    from types import ModuleType

__all__ = ["adopt"]


def _is_fixture(value: object) -> bool:
    return hasattr(value, "_pytestfixturefunction") or type(value).__name__ == (
        "FixtureFunctionDefinition"
    )


def adopt(
    namespace: dict[str, Any],
    *modules: ModuleType,
    fixtures: dict[str, Any] | None = None,
    skip: Collection[str] = (),
) -> None:
    """Copy the ``test_*`` functions of ``modules`` (but ``skip``) and their fixtures (but
    ``workspace``, which the adopting module gives) into ``namespace``.

    ``fixtures`` adds fixtures from elsewhere (a conftest) and settles names that two modules
    define differently; an unsettled clash is an error, not a silent pick.
    """
    chosen = dict(fixtures or {})
    found: dict[str, Any] = {}
    for module in modules:
        for name in dir(module):
            value = getattr(module, name)
            if name.startswith("test_") and name not in skip:
                namespace[name] = value
            elif _is_fixture(value) and name != "workspace" and name not in chosen:
                if found.setdefault(name, value) is not value:
                    raise ValueError(f"fixture {name!r} is defined twice: pass the one to use")
    namespace.update(found)
    namespace.update(chosen)
