"""What a piece of code refers to, cached per code object and per class.

References are read from bytecode, which knows Python's scoping exactly: ``LOAD_GLOBAL`` reads a
module name, the ``LOAD_ATTR`` chain after it an attribute path (``helpers.clean``), ``LOAD_DEREF`` a
closure cell, and an import inside a function is remembered so that ``from . import helpers`` there
followed by ``helpers.clean(x)`` is found too. Nested code (inner functions, lambdas, comprehensions)
is scanned with its parent. Class bodies, whose code is not kept at run time, are read from the AST.

The analysis of a code object never changes, so it is cached per code object (weakly: a reloaded
module's old code is freed with it); what the names resolve to is looked up again on every call.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import functools
import importlib.util
import os
import sys
import weakref
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import Literal, NamedTuple

from labledger.pipelines.project_scope import safe_attr
from labledger.pipelines.source_index import (
    Definition,
    code_digest,
    locate_class,
    locate_code,
    node_digest,
)

__all__ = ["ClassInfo", "CodeInfo", "Ref", "class_info", "code_info", "member_functions"]

_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_SKIPPED_OPS = frozenset({"EXTENDED_ARG", "CACHE", "NOP"})
_STORE_OPS = frozenset({"STORE_FAST", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL"})
_CONST_OPS = frozenset({"LOAD_CONST", "LOAD_SMALL_INT"})
_STACK_OPS = frozenset({"SWAP", "COPY", "POP_TOP", "ROT_TWO"})


class Ref(NamedTuple):
    """A name read by code: a module global, a closure cell or an imported module, plus attributes."""

    kind: Literal["global", "cell", "import"]
    base: str
    attrs: tuple[str, ...] = ()
    level: int = 0  # dots of a relative import

    def module_name(self, package: object) -> str | None:
        """The absolute name of an imported module, or None when a relative one cannot resolve."""
        if not self.level:
            return self.base
        try:
            return importlib.util.resolve_name("." * self.level + self.base, str(package or ""))
        except (ImportError, ValueError):
            return None


class _Scanner:
    """Reads the instructions of one code object, then of the code nested in it."""

    def __init__(self, imported: dict[str, Ref], found: dict[Ref, None]) -> None:
        self.names = dict(imported)  # local names bound by imports here or in an enclosing code
        self.found = found
        self.chain: Ref | None = None  # the name being read, growing with each LOAD_ATTR
        self.pushed: Ref | None = None  # the module the last IMPORT_NAME left on the stack
        self.pending: Ref | None = None  # what the next store binds to a local name
        self.consts: list[object] = [None, None]  # IMPORT_NAME's level and fromlist come first
        self.nested: list[CodeType] = []

    def scan(self, code: CodeType) -> None:
        for ins in dis.get_instructions(code):
            self._step(ins.opname, ins.argval)
        self._close()
        for inner in self.nested:
            _Scanner(self.names, self.found).scan(inner)

    def _close(self) -> None:
        if self.chain is not None:
            self.found[self.chain] = None
            self.chain = None

    def _step(self, op: str, arg: object) -> None:
        if op in _SKIPPED_OPS:
            return
        if self.chain is not None and op in _ATTR_OPS and isinstance(arg, str):
            self.chain = self.chain._replace(attrs=(*self.chain.attrs, arg))
            return
        self._close()
        if op in _CONST_OPS:
            self.consts = [self.consts[-1], arg]
        if isinstance(arg, CodeType):
            self.nested.append(arg)
        if op.startswith("IMPORT_") or op in _STORE_OPS:
            self._import(op, str(arg))
        elif op not in _STACK_OPS:
            self.pending = None
            if op == "LOAD_GLOBAL" or (op == "LOAD_NAME" and arg != "__name__"):
                # A class body starts with ``__module__ = __name__``: bookkeeping, not a use.
                self.chain = Ref("global", str(arg))
            elif isinstance(arg, str) and (op.startswith("LOAD_FAST") or op == "LOAD_DEREF"):
                self.chain = self.names.get(arg) or (
                    Ref("cell", arg) if op == "LOAD_DEREF" else None
                )

    def _import(self, op: str, arg: str) -> None:
        if op == "IMPORT_NAME":
            level = self.consts[0] if isinstance(self.consts[0], int) else 0
            fromlist = self.consts[1]
            self.found[Ref("import", arg, (), level)] = None
            # ``import a.b`` leaves ``a`` on the stack; ``from a.b import c`` leaves ``a.b``.
            self.pushed = Ref("import", arg if fromlist else arg.partition(".")[0], (), level)
            self.pending = None if fromlist else self.pushed
        elif op == "IMPORT_FROM":
            # ``import a.b.c as d`` reads b from a, then c from that, before storing d.
            base = self.pending if self.pending is not None and self.pending.attrs else self.pushed
            if base is not None:
                self.pending = base._replace(attrs=(*base.attrs, arg))
                self.found[self.pending] = None
        elif self.pending is not None:
            self.names[arg] = self.pending
            self.pending = None


def _chain(node: ast.expr) -> Ref | None:
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return Ref("global", node.id, tuple(reversed(attrs)))
    return None


def _class_refs(node: ast.ClassDef) -> tuple[Ref, ...]:
    """Names read by a class's decorators, bases and body, leaving method bodies to their code."""
    found: dict[Ref, None] = {}

    def visit(item: ast.AST) -> None:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            defaults = [*item.args.defaults, *(d for d in item.args.kw_defaults if d)]
            decorators = [] if isinstance(item, ast.Lambda) else item.decorator_list
            for part in [*decorators, *defaults]:
                visit(part)
            return
        ref = _chain(item) if isinstance(item, ast.expr) else None
        if ref is not None:
            found[ref] = None
            return
        for child in ast.iter_child_nodes(item):
            visit(child)

    for part in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords), *node.body]:
        visit(part)
    return tuple(found)


@dataclass(slots=True)
class CodeInfo:
    """What never changes about a code object: its references and its normalised source."""

    refs: tuple[Ref, ...]
    path: str | None  # the file on disk its source was read from
    captured: bool  # False when no source matched and the code object stands in
    _node: Definition | None
    _fallback: str | None
    _digests: dict[bool, str] = field(default_factory=dict)

    def digest(self, *, strip_decorators: bool = False) -> str:
        """Digest of the normalised source (or of the code object when there is none)."""
        if self._fallback is not None:
            return self._fallback
        if strip_decorators not in self._digests:
            assert self._node is not None
            self._digests[strip_decorators] = node_digest(
                self._node, strip_decorators=strip_decorators
            )
        return self._digests[strip_decorators]

    @property
    def node(self) -> Definition | None:
        """The definition's AST, without docstrings, when its source was found."""
        return self._node


_code_infos: dict[int, tuple[weakref.ReferenceType[CodeType], CodeInfo]] = {}


def _forget(key: int, ref: weakref.ReferenceType[CodeType]) -> None:
    entry = _code_infos.get(key)
    if entry is not None and entry[0] is ref:
        del _code_infos[key]


def code_info(code: CodeType) -> CodeInfo:
    """The cached analysis of ``code``."""
    key = id(code)
    entry = _code_infos.get(key)
    if entry is not None and entry[0]() is code:
        return entry[1]
    found: dict[Ref, None] = {}
    _Scanner({}, found).scan(code)
    located = locate_code(code)
    if located is None:
        info = CodeInfo(tuple(found), None, False, None, code_digest(code))
    else:
        source, node = located
        info = CodeInfo(tuple(found), source.path if source.on_disk else None, True, node, None)
    _code_infos[key] = (weakref.ref(code, functools.partial(_forget, key)), info)
    return info


@dataclass(slots=True)
class ClassInfo:
    """What never changes about a class: the names its body reads and its normalised source."""

    refs: tuple[Ref, ...]
    path: str | None  # the file on disk its source was read from
    filename: str | None  # the co_filename its own methods carry
    node: ast.ClassDef | None
    _digests: dict[str | None, str] = field(default_factory=dict)

    def digest(self, strip_member: str | None = None) -> str | None:
        """Digest of the normalised class source, or None when it was not found."""
        if self.node is None:
            return None
        if strip_member not in self._digests:
            self._digests[strip_member] = node_digest(self.node, strip_member=strip_member)
        return self._digests[strip_member]


_class_infos: weakref.WeakKeyDictionary[type, ClassInfo] = weakref.WeakKeyDictionary()


def _innermost(obj: object) -> object:
    for _ in range(64):
        try:
            inner = getattr(obj, "__wrapped__", None)
        except Exception:  # a proxy or lazy object may raise anything; treat it as absent
            inner = None
        if inner is None:
            break
        obj = inner
    return obj


_MEMBER_ATTRS = (
    ("", "__func__"),
    ("", "func"),
    (".fget", "fget"),
    (".fset", "fset"),
    (".fdel", "fdel"),
)


def member_functions(member: object) -> list[tuple[str, FunctionType]]:
    """The plain functions behind a class attribute (methods, properties, static/class methods).

    Wrappers are unwrapped: a decorator's code is reached through the class body, which names it.
    """
    if isinstance(member, FunctionType):
        inner = _innermost(member)
        return [("", inner if isinstance(inner, FunctionType) else member)]
    if not callable(member) and not hasattr(type(member), "__get__"):
        return []  # a plain value: no function behind it
    found: dict[int, tuple[str, FunctionType]] = {}
    for suffix, attr in (("", None), *_MEMBER_ATTRS):
        inner = _innermost(member if attr is None else safe_attr(member, attr))
        if isinstance(inner, FunctionType):
            found.setdefault(id(inner), (suffix, inner))
    return list(found.values())


def class_info(cls: type) -> ClassInfo:
    """The cached analysis of ``cls``."""
    try:
        cached = _class_infos.get(cls)
    except TypeError:  # a metaclass that makes its classes unhashable
        cached = None
    if cached is not None:
        return cached
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    info = ClassInfo((), None, None, None)
    if isinstance(file, str):
        filename = os.path.abspath(file)
        lines = [
            fn.__code__.co_firstlineno
            for member in vars(cls).values()
            for _, fn in member_functions(member)
            if os.path.abspath(fn.__code__.co_filename) == filename
        ]
        located = locate_class(cls.__qualname__, file, lines)
        if located is not None:
            source, node = located
            path = source.path if source.on_disk else None
            info = ClassInfo(_class_refs(node), path, filename, node)
    with contextlib.suppress(TypeError):  # a metaclass that makes its classes unhashable
        _class_infos[cls] = info
    return info
