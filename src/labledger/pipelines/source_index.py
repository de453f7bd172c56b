"""Where a function's or class's source is, and its normalised form.

A source file is parsed once per content, its docstrings are dropped from the tree, and its
functions and classes are indexed by qualified name, so locating the definition of another code
object from the same file is a dictionary lookup. Whether a file changed is judged by its size,
inode and modification time, except for a file written in the last seconds before it was read: a
second write within one clock tick can keep all three, so such a file is compared byte for byte.

A definition is normalised by dumping its AST without positions: comments, blank lines, formatting
and docstrings vanish, and any change to the code does not. When no definition matches a code object
(code typed at a REPL, built by ``exec``, or a file edited since it was imported) the code object
itself stands in: its bytecode, constants and names, which are stable within one Python version.
"""

from __future__ import annotations

import ast
import copy
import linecache
import math
import os
import sys
import time
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any, TypeVar

from labledger._foundation.canonical import canonical_text
from labledger._foundation.digests import digest_bytes, digest_record

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Definition",
    "SourceFile",
    "code_digest",
    "load_source",
    "locate_class",
    "locate_code",
    "node_digest",
    "normalised_dump",
    "scalar_form",
]

Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_Decorated = TypeVar("_Decorated", bound=ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)

_CO_OPTIMIZED = 0x1
# From Python 3.14 a flag, not the position, says whether co_consts[0] is the docstring.
_CO_HAS_DOCSTRING = 0x4000000
# Within this long of a write, a second write may keep a file's size and coarse mtime, so a file
# read that soon after its last write is compared by content next time.
_RACY_NS = 2_000_000_000
# Canonical JSON writes ints as text, and Python refuses to print ints of more than 4300 digits.
_BIG_INT = 2**63


@dataclass(slots=True)
class SourceFile:
    """A parsed source file, with its functions and classes by qualified name."""

    path: str
    data: bytes
    tree: ast.Module
    definitions: dict[str, list[Definition]]
    on_disk: bool
    stat: tuple[int, int, int] | None = None  # (mtime_ns, size, inode) when read
    read_ns: int = 0
    _lambdas: dict[int, list[ast.Lambda]] | None = None

    def lambdas_at(self, line: int) -> list[ast.Lambda]:
        """The lambdas that start on ``line``.

        Lambdas are found by line, not qualified name: before Python 3.12 a comprehension adds a
        scope to the qualified name of a lambda inside it.
        """
        if self._lambdas is None:
            self._lambdas = {}
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Lambda):
                    self._lambdas.setdefault(node.lineno, []).append(node)
        return self._lambdas.get(line, [])


_files: dict[str, SourceFile] = {}


def load_source(filename: str) -> SourceFile | None:
    """The parsed file (or linecache's copy of a notebook cell), or None when there is none."""
    cached = _files.get(filename)
    try:
        status = os.stat(filename)
    except OSError:
        lines = linecache.getlines(filename)
        data = "".join(lines).encode("utf-8")
        if not lines:
            return None
        return cached if cached is not None and cached.data == data else _parse(filename, data)
    stat = (status.st_mtime_ns, status.st_size, status.st_ino)
    if cached is not None and cached.stat == stat and cached.read_ns - stat[0] > _RACY_NS:
        return cached  # read well after its last write, and not written since
    read_ns = time.time_ns()
    try:
        with open(filename, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if cached is None or cached.data != data:
        cached = _parse(filename, data)
    if cached is not None:
        cached.on_disk, cached.stat, cached.read_ns = True, stat, read_ns
    return cached


def _parse(filename: str, data: bytes) -> SourceFile | None:
    try:
        tree = ast.parse(data, filename)
    except (SyntaxError, ValueError):
        return None
    parsed = SourceFile(os.path.abspath(filename), data, tree, {}, on_disk=False)
    _index(tree, "", parsed.definitions)
    _files[filename] = parsed
    return parsed


def _index(node: ast.AST, prefix: str, into: dict[str, list[Definition]]) -> None:
    # Only statements can hold a def or class, so expressions are never walked here.
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            qualname = prefix + child.name
            into.setdefault(qualname, []).append(child)
            first = child.body[0] if child.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                child.body = child.body[1:]  # the docstring
            scope = "." if isinstance(child, ast.ClassDef) else ".<locals>."
            _index(child, qualname + scope, into)
        elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
            _index(child, prefix, into)


def _first_line(node: Definition) -> int:
    if isinstance(node, ast.Lambda):
        return node.lineno
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _holds(node: Definition, code: CodeType) -> bool:
    """Whether every positioned instruction of ``code`` lies inside ``node``."""
    start = (node.lineno, node.col_offset)
    end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
    seen = False
    for line, end_line, col, end_col in code.co_positions():
        if line is None or end_line is None or col is None or end_col is None:
            continue
        if (line, col) == (end_line, end_col):
            continue  # zero-width bookkeeping instructions carry no real position
        if not start <= (line, col) or not (end_line, end_col) <= end:
            return False
        seen = True
    return seen


def locate_code(code: CodeType) -> tuple[SourceFile, Definition] | None:
    """The file and definition that ``code`` was compiled from, or None when not exactly one fits."""
    source = load_source(code.co_filename)
    if source is None:
        return None
    candidates: list[Definition]
    if code.co_name == "<lambda>":
        candidates = list(source.lambdas_at(code.co_firstlineno))
    else:
        candidates = [
            node
            for node in source.definitions.get(code.co_qualname, [])
            if isinstance(node, _FunctionNode) and _first_line(node) == code.co_firstlineno
        ]
    # Also a staleness check: a file edited since import rarely keeps every position in place.
    candidates = [node for node in candidates if _holds(node, code)]
    return (source, candidates[0]) if len(candidates) == 1 else None


def locate_class(
    qualname: str, filename: str, member_lines: list[int]
) -> tuple[SourceFile, ast.ClassDef] | None:
    """The file and class definition named ``qualname`` that holds the given method lines."""
    source = load_source(filename)
    if source is None:
        return None
    candidates = [
        node
        for node in source.definitions.get(qualname, [])
        if isinstance(node, ast.ClassDef)
        and all(node.lineno <= line <= (node.end_lineno or line) for line in member_lines)
    ]
    return (source, candidates[0]) if len(candidates) == 1 else None


def _without_decorators(node: _Decorated) -> _Decorated:
    if not node.decorator_list:
        return node
    bare = copy.copy(node)
    bare.decorator_list = []
    return bare


def node_digest(
    node: Definition, *, strip_decorators: bool = False, strip_member: str | None = None
) -> str:
    """Digest of a definition's normalised form.

    Args:
        node: The definition, with its docstrings already removed.
        strip_decorators: Leave out the definition's own decorators (a step's ``@step(...)``).
        strip_member: For a class, leave out the decorators of this method.
    """
    if strip_decorators and not isinstance(node, ast.Lambda):
        node = _without_decorators(node)
    if strip_member is not None and isinstance(node, ast.ClassDef):
        node = copy.copy(node)
        node.body = [
            _without_decorators(stmt)
            if isinstance(stmt, _FunctionNode) and stmt.name == strip_member
            else stmt
            for stmt in node.body
        ]
    return digest_bytes(ast.dump(node).encode("utf-8"))


def normalised_dump(node: Definition) -> str:
    """The normalised text of a definition without its decorators."""
    return ast.dump(node if isinstance(node, ast.Lambda) else _without_decorators(node), indent=1)


def _same(value: Any) -> Any:
    return value


_SCALARS: dict[type, Callable[[Any], Any]] = {
    type(None): _same,
    bool: _same,
    str: _same,
    int: lambda v: v if abs(v) < _BIG_INT else {"int": hex(v)},
    # NaN and the infinities are tagged, so they cannot be mistaken for the strings "NaN"...
    float: lambda v: v if math.isfinite(v) else {"float": repr(v)},
    bytes: lambda v: {"bytes": v.hex()},
    complex: lambda v: {"complex": [repr(v.real), repr(v.imag)]},
    type(Ellipsis): lambda _: {"ellipsis": True},
}


def scalar_form(value: Any) -> tuple[bool, Any]:
    """``(True, form)`` for a literal scalar (None, bool, int, float, str, bytes, complex, ...).

    Only exact types count: an ``IntEnum`` member or a ``str`` subclass is an object, not a literal.
    """
    encode = _SCALARS.get(type(value))
    return (False, None) if encode is None else (True, encode(value))


def _const_form(value: Any) -> Any:
    if isinstance(value, CodeType):
        return _code_form(value)
    is_scalar, form = scalar_form(value)
    if is_scalar:
        return form
    if type(value) is tuple:
        return {"tuple": [_const_form(item) for item in value]}
    if type(value) is frozenset:
        return {"frozenset": sorted(canonical_text(_const_form(item)) for item in value)}
    return {"repr": repr(value)}


def _has_docstring_slot(code: CodeType) -> bool:
    if code.co_name.startswith("<") or not code.co_flags & _CO_OPTIMIZED:
        return False
    if sys.version_info >= (3, 14):
        return bool(code.co_flags & _CO_HAS_DOCSTRING)
    return True  # before 3.14 a function's first constant is its docstring or None


def _code_form(code: CodeType) -> dict[str, Any]:
    consts = list(code.co_consts)
    if consts and isinstance(consts[0], str) and _has_docstring_slot(code):
        consts[0] = None
    return {
        "name": code.co_name,
        "code": code.co_code.hex(),
        "consts": [_const_form(item) for item in consts],
        "names": list(code.co_names),
        "varnames": list(code.co_varnames),
        "freevars": list(code.co_freevars),
        "cellvars": list(code.co_cellvars),
        "args": [code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount],
        "flags": code.co_flags,
    }


def code_digest(code: CodeType) -> str:
    """Digest of a code object without positions or docstring, for code with no source."""
    return digest_record(_code_form(code))
