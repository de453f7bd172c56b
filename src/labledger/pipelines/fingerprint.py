"""Step fingerprints: one digest for a step's code and the project code and constants it uses.

A fingerprint covers the step function's normalised source (comments, formatting, docstrings and
the step's own decorators left out) and, transitively, every project-local function, class and
constant it reads: module globals, attribute paths through project modules (``helpers.clean``),
closure cells, default arguments, imports inside the function, the class of a method, and what
``functools.partial`` and ``functools.wraps`` wrap. Library code is named, not followed: the
environment fingerprint covers it.

Values count by content. Literals (None, bool, int, float, str, bytes) and lists, tuples, dicts, sets
and frozensets count by canonical value, and functions inside them are followed; a compiled regular
expression by pattern and flags; any other object by its ``repr`` when that looks deterministic (no
`` at 0x``), else by its type's name alone. An object of the last kind can change without changing
the fingerprint: give it a deterministic ``repr`` (a dataclass has one) to make it count. An
unstable ``repr`` is not used because it would make every run a cache miss.

The per-code analysis is cached (see :mod:`labledger.pipelines.code_refs`); what names resolve to is
looked up on every call, so rebinding a helper in a notebook changes the fingerprint at once.
"""

from __future__ import annotations

import builtins
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from types import (
    BuiltinFunctionType,
    ClassMethodDescriptorType,
    FunctionType,
    MethodDescriptorType,
    MethodType,
    MethodWrapperType,
    ModuleType,
    WrapperDescriptorType,
)
from typing import TYPE_CHECKING, Any, NamedTuple

from labledger._foundation.canonical import canonical_text
from labledger._foundation.digests import digest_record
from labledger._foundation.errors import ValidationError
from labledger.pipelines.callables import module_name, owner_class, qualified_name, unwrap
from labledger.pipelines.code_refs import Ref, class_info, code_info, member_functions
from labledger.pipelines.file_inputs import File
from labledger.pipelines.project_scope import MISSING, ProjectScope, is_file_name, safe_attr
from labledger.pipelines.source_index import normalised_dump, scalar_form

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["Fingerprint", "fingerprint_step", "normalised_source"]

# Bumped whenever what goes into a digest changes, so old cache entries stop matching.
_FORMAT = 1
_MAX_DEPTH = 64
_BUILTIN_CALLABLES = (
    BuiltinFunctionType,
    MethodDescriptorType,
    WrapperDescriptorType,
    MethodWrapperType,
    ClassMethodDescriptorType,
)
_CODE_LIKE = (FunctionType, type, ModuleType, MethodType, functools.partial, *_BUILTIN_CALLABLES)
_CLASS_BOOKKEEPING = frozenset({"__dict__", "__weakref__", "__doc__", "__module__", "__qualname__"})


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The identity of a step's code.

    Attributes:
        digest: ``blake3:<64 hex>`` over every part and how the step reaches it.
        code_captured: False when some included code has no readable source (typed at a REPL or
            built by ``exec``); its code object stands in, stable within one Python version.
        sources: Absolute paths of the project files whose code or constants were included.
        parts: Sorted ``module:qualname`` of every function, class and constant included.
        part_digests: The digest of each part's own content, by name: what tells which function
            changed between two fingerprints.
        libraries: Top-level names of the library modules the code uses (``pandas``, ``sklearn``):
            the packages whose versions the step's environment fingerprint covers.
        files: ``File`` and ``Folder`` constants the code uses (``DATA = File("x.csv")`` at module
            level): inputs by content, as if declared with ``reads=``.
    """

    digest: str
    code_captured: bool
    sources: frozenset[str]
    parts: tuple[str, ...]
    part_digests: dict[str, str] = field(default_factory=dict, compare=False)
    libraries: frozenset[str] = frozenset()
    files: tuple[File, ...] = ()


def fingerprint_step(func: Callable[..., Any], *, project_root: Path | None = None) -> Fingerprint:
    """Fingerprint a step and the project code it uses.

    Args:
        func: The step: a function, method, ``functools.partial``, decorated wrapper (its
            ``__wrapped__`` chain is followed) or callable object.
        project_root: Only modules under this folder are project code; by default every module
            outside the standard library and site-packages is (labledger itself never is).

    Returns:
        The fingerprint; equal digests mean the same code.

    Raises:
        ValidationError: ``func`` is not callable.
    """
    walk = _Walk(ProjectScope.under(project_root))
    root = walk.root(func)
    digest = digest_record({"format": _FORMAT, "root": root, "parts": walk.parts})
    part_digests = {"(step)": digest_record(root)}
    part_digests.update((name, digest_record(content)) for name, content in walk.parts.items())
    return Fingerprint(
        digest,
        walk.captured,
        frozenset(walk.sources),
        tuple(sorted(walk.parts)),
        part_digests,
        frozenset(walk.libraries),
        tuple(dict.fromkeys(walk.files)),
    )


def normalised_source(func: Callable[..., Any]) -> str:
    """The normalised text a function's own code is fingerprinted by (an indented AST dump).

    Raises:
        ValidationError: ``func`` is not a Python function, or its source cannot be read.
    """
    target, _, _ = unwrap(func)
    if not isinstance(target, FunctionType):
        raise ValidationError(f"{func!r} is not a Python function", hint="pass a def or lambda")
    node = code_info(target.__code__).node
    if node is None:
        raise ValidationError(
            f"the source of {qualified_name(target)} cannot be read",
            hint="define it in a .py file, not at a REPL or with exec",
        )
    return normalised_dump(node)


class _Walk:
    """One traversal: the parts found so far by name, the files they came from."""

    def __init__(self, scope: ProjectScope) -> None:
        self.scope = scope
        self.parts: dict[str, Any] = {}
        self.sources: set[str] = set()
        self.libraries: set[str] = set()
        self.files: list[File] = []
        self.captured = True
        self._named: dict[int, str] = {}
        self._held: list[object] = []  # keeps every named object alive, so its id stays its own
        self._constants: set[str] = set()
        self._open: set[int] = set()  # containers being encoded, to stop at cycles
        self._encoders: list[tuple[type | tuple[type, ...], Callable[[Any], Any]]] = [
            (FunctionType, self._function_form),
            (type, self._class_form),
            (
                MethodType,
                lambda m: {"method": self.value(m.__func__), "self": self.value(m.__self__)},
            ),
            ((staticmethod, classmethod), lambda m: {type(m).__name__: self.value(m.__func__)}),
            (functools.partial, lambda p: {"partial": self.value([p.func, p.args, p.keywords])}),
            (ModuleType, self._module_form),
            (re.Pattern, lambda r: {"regex": self.value(r.pattern), "flags": int(r.flags)}),
            (_BUILTIN_CALLABLES, self._builtin_form),
        ]

    def _library(self, module: str | None) -> None:
        if module and not self.scope.has_module_named(module):
            self.libraries.add(module.partition(".")[0])

    def _module_form(self, module: ModuleType) -> dict[str, Any]:
        self._library(module.__name__)
        return {"module": module.__name__}

    def _builtin_form(self, func: Any) -> dict[str, Any]:
        self._library(getattr(func, "__module__", None))
        return {"ref": qualified_name(func)}

    def root(self, func: object) -> Any:
        if not callable(func):
            raise ValidationError(f"{func!r} is not callable", hint="pass the step function itself")
        target, bound, wrappers = unwrap(func)
        form: dict[str, Any] = {}
        if isinstance(target, FunctionType) and self.scope.has_function(target):
            name, _ = self._claim(target)
            owner = owner_class(target)
            if owner is not None and self.scope.has_module_named(owner.__module__):
                # Claimed first, so the step's decorators are left out of its class's source too.
                form["owner"] = self.klass(owner, strip=target.__name__)
            self.parts[name] = self._function_content(target, root=True)
            form["target"] = {"function": name}
        else:
            form["target"] = self.value(target)
        form["bound"] = []
        for item in bound:
            if isinstance(item, MethodType):
                form["bound"].append(self.value(item.__self__))
            elif isinstance(item, functools.partial):
                form["bound"].append(self.value([list(item.args), dict(item.keywords)]))
        # Library wrappers (the step decorator itself, lru_cache) are left out like decorators.
        form["wrappers"] = [
            self.value(item)
            for item in wrappers
            if isinstance(item, FunctionType) and self.scope.has_function(item)
        ]
        return form

    def _claim(self, obj: object) -> tuple[str, bool]:
        known = self._named.get(id(obj))
        if known is not None:
            return known, False
        base = name = qualified_name(obj)
        count = 1
        while name in self.parts:  # two closures from one factory share a qualname
            count += 1
            name = f"{base}#{count}"
        self._named[id(obj)] = name
        self._held.append(obj)
        self.parts[name] = None
        return name, True

    def _note(self, captured: bool, path: str | None) -> None:
        if not captured:
            self.captured = False
        if path is not None:
            self.sources.add(path)

    def function(self, func: FunctionType, *, strip: bool = False) -> str:
        name, new = self._claim(func)
        if new:
            self.parts[name] = self._function_content(func, root=strip)
        return name

    def _function_content(
        self, func: FunctionType, *, root: bool = False, with_code: bool = True, note: bool = True
    ) -> dict[str, Any]:
        info = code_info(func.__code__)
        if note:
            self._note(info.captured, info.path)
        content: dict[str, Any] = {"kind": "function"}
        if with_code:
            content["code"] = info.digest(strip_decorators=root)
        content["refs"] = self._resolve(info.refs, func.__globals__, func)
        if func.__defaults__:
            content["defaults"] = self.value(list(func.__defaults__))
        if func.__kwdefaults__:
            content["kwdefaults"] = self.value(dict(func.__kwdefaults__))
        closure: dict[str, Any] = {}
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or (), strict=False):
            try:
                closure[name] = self.value(cell.cell_contents)
            except ValueError:  # a cell not yet assigned
                closure[name] = {"empty": True}
        if closure:
            content["closure"] = closure
        wrapped = safe_attr(func, "__wrapped__")
        if wrapped is not MISSING:
            content["wrapped"] = self.value(wrapped)
        return content

    def klass(self, cls: type, *, strip: str | None = None) -> str:
        name, new = self._claim(cls)
        if not new:
            return name
        info = class_info(cls)
        content: dict[str, Any] = {
            "kind": "class",
            "bases": [self.value(base) for base in cls.__bases__ if base is not object],
        }
        if type(cls) is not type:
            content["metaclass"] = self.value(type(cls))
        module = sys.modules.get(cls.__module__)
        if info.node is not None:
            self._note(True, info.path)
            content["code"] = info.digest(strip)
            content["refs"] = self._resolve(info.refs, vars(module) if module else {}, None)
            content["members"] = self._own_members(cls, info.filename)
        else:
            if not isinstance(getattr(module, "__file__", None), str):
                self.captured = False  # typed at a REPL or built by exec: no source to snapshot
            content["generated"] = self._generated_members(cls)
        self.parts[name] = content
        return name

    def _own_members(self, cls: type, filename: str | None) -> dict[str, Any]:
        members: dict[str, Any] = {}
        for attr, member in vars(cls).items():
            for suffix, func in member_functions(member):
                where = func.__code__.co_filename
                if where == filename or os.path.abspath(where) == filename:
                    # The class source holds the code; the names it reads are resolved here.
                    members[attr + suffix] = self._function_content(func, with_code=False)
                elif is_file_name(where):
                    members[attr + suffix] = self.value(func)
                # Otherwise generated from the class source (a dataclass __init__): covered.
        return members

    def _generated_members(self, cls: type) -> dict[str, Any]:
        """A class with no source of its own (namedtuple, type(), REPL): its members by value."""
        members: dict[str, Any] = {}
        for attr, member in vars(cls).items():
            if attr in _CLASS_BOOKKEEPING:
                continue
            functions = member_functions(member)
            if not functions:
                members[attr] = self.value(member)
            for suffix, func in functions:
                if is_file_name(func.__code__.co_filename):
                    members[attr + suffix] = self.value(func)
                else:
                    members[attr + suffix] = self._function_content(func, note=False)
        return members

    def _resolve(
        self, refs: tuple[Ref, ...], namespace: dict[str, Any], func: FunctionType | None
    ) -> dict[str, Any]:
        bindings: dict[str, Any] = {}
        for ref in refs:
            found = self._bind(ref, namespace, func)
            if found is not None and found[0] not in bindings:
                bindings[found[0]] = found[1]
        return bindings

    def _bind(
        self, ref: Ref, namespace: dict[str, Any], func: FunctionType | None
    ) -> tuple[str, Any] | None:
        start = self._start(ref, namespace, func)
        if start is None:
            return None
        key, obj, holder = start
        if isinstance(obj, _Final):
            return key, obj.form
        attr = ref.base
        for name in ref.attrs:
            # Only project modules are walked into: library attributes are the library's.
            if not (isinstance(obj, ModuleType) and self.scope.has_module(obj)):
                break
            holder, attr, key = obj.__name__, name, f"{key}.{name}"
            obj = self.scope.module_attr(obj, name)
            if obj is MISSING:
                return key, {"unbound": True}
        if (
            holder is None
            or isinstance(obj, _CODE_LIKE)
            or safe_attr(obj, "__wrapped__") is not MISSING
        ):
            return key, self.value(obj)
        return key, {"part": self._constant(obj, holder, attr)}

    def _start(
        self, ref: Ref, namespace: dict[str, Any], func: FunctionType | None
    ) -> tuple[str, Any, str | None] | None:
        """Where a reference starts: its key, the object it names, and the module holding it."""
        if ref.kind == "global":
            if ref.base in namespace:
                return ref.base, namespace[ref.base], namespace.get("__name__")
            table = namespace.get("__builtins__", builtins)
            table = table if isinstance(table, dict) else vars(table)
            found = {"builtin": ref.base} if ref.base in table else {"unbound": True}
            return ref.base, _Final(found), None
        if ref.kind == "cell":
            cell = _cell_module(ref, func)
            # Only a module in a cell has attributes to follow; the closure holds other values.
            return None if cell is None else (f"cell:{ref.base}", cell, None)
        absolute = ref.module_name(namespace.get("__package__"))
        module = self.scope.find_module(absolute) if absolute else None
        if absolute and module is None:
            # Not project code (that would have been imported): a library, maybe not imported yet.
            self.libraries.add(absolute.partition(".")[0])
        elif module is not None and not self.scope.has_module(module):
            self._library(absolute)
        found_module = module if module is not None else _Final({"unbound": True})
        return f"import:{absolute or ref.base}", found_module, None

    def _constant(self, obj: object, holder: str, attr: str) -> str:
        name = f"{module_name(holder)}:{attr}"
        if name in self.parts and name not in self._constants:
            name += "#constant"  # a global rebound over a function of the same name
        if name not in self._constants:
            self._constants.add(name)
            self.parts[name] = None
            module = sys.modules.get(holder)
            file = getattr(module, "__file__", None)
            if module is not None and isinstance(file, str) and self.scope.has_module(module):
                self.sources.add(os.path.abspath(file))
            self.parts[name] = {"kind": "constant", "value": self.value(obj)}
        return name

    def value(self, obj: object, depth: int = 0) -> Any:
        """The canonical, JSON-able form of a value; project code inside it becomes parts."""
        is_scalar, form = scalar_form(obj)
        if is_scalar:
            return form
        kind = type(obj)
        if kind in (list, tuple, set, frozenset, dict):
            if depth > _MAX_DEPTH or id(obj) in self._open:
                return {"cycle": True}
            self._open.add(id(obj))
            try:
                return self._container(obj, depth + 1)
            finally:
                self._open.discard(id(obj))
        return self._object(obj)

    def _container(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, dict):
            # Insertion order is kept: code that iterates a dict sees it.
            return {"dict": [[self.value(k, depth), self.value(v, depth)] for k, v in obj.items()]}
        items = [self.value(item, depth) for item in obj]
        if isinstance(obj, set | frozenset):
            items.sort(key=canonical_text)
        return {type(obj).__name__: items}

    def _object(self, obj: object) -> Any:
        for kinds, encode in self._encoders:
            if isinstance(obj, kinds):
                return encode(obj)
        return self._instance(obj)

    def _function_form(self, func: FunctionType) -> dict[str, Any]:
        if self.scope.has_function(func):
            return {"function": self.function(func)}
        self._library(func.__module__)
        form = {"ref": qualified_name(func)}
        wrapped = safe_attr(func, "__wrapped__")
        if wrapped is not MISSING:  # a library decorator around project code
            form["wrapped"] = self.value(wrapped)
        return form

    def _class_form(self, cls: type) -> dict[str, Any]:
        if self.scope.has_module_named(cls.__module__):
            return {"class": self.klass(cls)}
        self._library(cls.__module__)
        return {"ref": qualified_name(cls)}

    def _instance(self, obj: object) -> dict[str, Any]:
        form: dict[str, Any] = {}
        cls = type(obj)
        if isinstance(obj, File):
            # A File or Folder constant the code opens: an input by content, as reads= is.
            self.files.append(obj)
        if self.scope.has_module_named(cls.__module__):
            form["instance"] = self.klass(cls)
        else:
            self._library(cls.__module__)
        wrapped = safe_attr(obj, "__wrapped__")
        if (
            isinstance(wrapped, FunctionType)
            and cls.__module__.startswith("labledger.")
            and self.scope.has_function(wrapped)
        ):
            # A step reached from a pipeline counts as it does alone: without its decorators.
            form["wrapped"] = {"function": self.function(wrapped, strip=True)}
        elif wrapped is not MISSING:  # lru_cache and other wrapper objects
            form["wrapped"] = self.value(wrapped)
        try:
            text = repr(obj)
        except Exception:  # a broken __repr__ only costs the value its say
            text = " at 0x"
        if " at 0x" in text:
            form["type"] = qualified_name(cls)
        else:
            form["repr"] = text
        return form


class _Final(NamedTuple):
    """A reference already resolved to its form (a builtin, an unbound name)."""

    form: Any


def _cell_module(ref: Ref, func: FunctionType | None) -> ModuleType | None:
    if func is None or not ref.attrs or ref.base not in func.__code__.co_freevars:
        return None
    cell = (func.__closure__ or ())[func.__code__.co_freevars.index(ref.base)]
    found = safe_attr(cell, "cell_contents")
    return found if isinstance(found, ModuleType) else None
