"""How the callables a step is made of are named and unwrapped.

A part is named ``module:qualname`` after where its code was defined: ``functools.wraps`` copies a
wrapped function's names onto its wrapper, so a function is named from its code object and globals.
A script run as ``__main__`` is named as it would be imported, so that running a file and importing
it give one fingerprint.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import FunctionType, MethodType

from labledger.pipelines.project_scope import MISSING, safe_attr

__all__ = ["module_name", "owner_class", "qualified_name", "unwrap"]

_MAX_WRAPPERS = 64


def unwrap(func: object) -> tuple[object, list[object], list[object]]:
    """The innermost callable, what was bound around it (partials, methods), and the wrappers."""
    bound: list[object] = []
    wrappers: list[object] = []
    target = func
    for _ in range(_MAX_WRAPPERS):
        if isinstance(target, functools.partial | MethodType):
            bound.append(target)
            target = target.func if isinstance(target, functools.partial) else target.__func__
        elif isinstance(target, staticmethod | classmethod):
            target = target.__func__
        elif not isinstance(target, type) and safe_attr(target, "__wrapped__") is not MISSING:
            wrappers.append(target)
            target = safe_attr(target, "__wrapped__")
        else:
            break
    return target, bound, wrappers


def module_name(name: object) -> str:
    """The name a part's module goes by (``__main__`` becomes the module it would be)."""
    if not isinstance(name, str):
        return "<unknown>"
    if name != "__main__":
        return name
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and getattr(spec, "name", None):
        return str(spec.name)
    file = getattr(main, "__file__", None)
    return Path(file).stem if isinstance(file, str) else "__main__"


def qualified_name(obj: object) -> str:
    """``module:qualname`` of a function, class or other named object."""
    if isinstance(obj, FunctionType):
        return f"{module_name(obj.__globals__.get('__name__'))}:{obj.__code__.co_qualname}"
    name = safe_attr(obj, "__qualname__")
    if not isinstance(name, str):
        name = safe_attr(obj, "__name__")
    module = safe_attr(obj, "__module__")
    if not isinstance(module, str):  # a method descriptor names its module through its class
        owner = safe_attr(obj, "__objclass__")
        owner = owner if owner is not MISSING else safe_attr(obj, "__self__")
        module = safe_attr(owner, "__module__")
    return f"{module_name(module)}:{name if isinstance(name, str) else type(obj).__qualname__}"


def owner_class(func: FunctionType) -> type | None:
    """The class a function was defined in, found through its qualified name."""
    path = func.__code__.co_qualname.split(".")
    if len(path) < 2 or "<locals>" in path:
        return None
    owner: object = sys.modules.get(str(func.__globals__.get("__name__")))
    for name in path[:-1]:
        owner = getattr(owner, name, None)
    return owner if isinstance(owner, type) else None
