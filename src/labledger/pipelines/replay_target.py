"""How a re-execution finds a pipeline again, or why it cannot.

``reproduce`` re-runs a pipeline in a fresh process that imports the pipeline's module from the
run's code snapshot, so the run records a reference it can import:

- a pipeline in a module is found as ``module:name``;
- a pipeline in a script run as ``python study.py`` (module ``__main__``) is found as
  ``study:name``, and as ``pkg.study:name`` when run as ``python -m pkg.study``: the names the
  snapshot stores the script under. Imported under that name, its
  ``if __name__ == "__main__":`` block does not run again.

A pipeline that no import can bring back cannot be re-executed, and the run records why: one
defined where no source file exists (a notebook cell, the interpreter, ``exec``), one that is not
a module-level name, and one a script runs at import time (outside the ``__main__`` guard, so
importing the script would run it a second time). Its outputs are then ``unverifiable`` and
``reproduce`` refuses the run with that reason.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger.pipelines.snapshot import main_module_name

if TYPE_CHECKING:
    from types import FrameType, ModuleType

    from labledger.pipelines.definition import Pipeline

__all__ = ["ReplayTarget", "replay_target"]


@dataclass(frozen=True, slots=True)
class ReplayTarget:
    """Where a re-execution finds a pipeline.

    Attributes:
        ref: ``module:name`` as the snapshot's code imports it.
        error: Why the pipeline cannot be re-executed (``None`` when it can).
    """

    ref: str
    error: str | None = None


def replay_target(pipeline: Pipeline) -> ReplayTarget:
    """The reference a re-execution imports ``pipeline`` by, or why there is none.

    Call it while the pipeline runs: for a script, it looks at the statement the script is
    executing to tell whether importing the script would run the pipeline again.
    """
    func = pipeline.func
    module_name = getattr(func, "__module__", None)
    module = sys.modules.get(module_name) if isinstance(module_name, str) else None
    module_file = getattr(module, "__file__", None)
    code = getattr(inspect.unwrap(func), "__code__", None)
    source = code.co_filename if code is not None else None
    if (
        module is None
        or not module_file
        or not source
        or not os.path.isfile(source)
        or (module_name == "__main__" and not _same_file(module_file, source))
    ):
        return ReplayTarget(
            pipeline.ref,
            f"pipeline {pipeline.name!r} was defined in {source or 'unknown code'}, not in a "
            "source file (a notebook cell, the interpreter or exec), so it cannot be run again; "
            "define it in a .py file",
        )
    skipped: set[str] = set()
    if module_name == "__main__":
        tree = _parsed(module_file)
        line = _unguarded_line(module, tree)
        if line is not None:
            return ReplayTarget(
                pipeline.ref,
                f"{Path(module_file).name} runs pipeline {pipeline.name!r} when it is imported "
                f'(line {line} is outside `if __name__ == "__main__":`), so re-executing it '
                "would run it twice; put the call under that guard",
            )
        module_name = main_module_name() or Path(module_file).stem
        skipped = _bound_under_guard(tree)
    name = _attribute(module, pipeline, skipped)
    if name is None:
        return ReplayTarget(
            pipeline.ref,
            f"pipeline {pipeline.name!r} ({func.__qualname__}) is not a module-level name of "
            f"{module_name}, so a re-run cannot find it; define it at module level",
        )
    return ReplayTarget(f"{module_name}:{name}")


def _same_file(one: str, other: str) -> bool:
    try:
        return Path(one).resolve() == Path(other).resolve()
    except OSError:
        return False


def _attribute(module: ModuleType, pipeline: Pipeline, skipped: set[str]) -> str | None:
    """The dotted name under which ``module`` holds ``pipeline``: its qualified name, or a global.

    Globals in ``skipped`` (bound only by a script's ``__main__`` block) do not count: an import
    does not bind them.
    """
    from labledger.pipelines.definition import Pipeline

    def same(value: Any) -> bool:
        return value is pipeline or (
            isinstance(value, Pipeline) and value.func.__qualname__ == pipeline.func.__qualname__
        )

    qualname = str(pipeline.func.__qualname__)
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if qualname.partition(".")[0] not in skipped and same(found):
        return qualname
    for key, value in list(vars(module).items()):
        if value is pipeline and key not in skipped:
            return key
    return None


def _parsed(file: str) -> ast.Module | None:
    try:
        return ast.parse(Path(file).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return None


def _guards(tree: ast.Module | None) -> list[ast.If]:
    """The script's top-level ``if __name__ == "__main__":`` blocks."""
    if tree is None:
        return []
    return [s for s in tree.body if isinstance(s, ast.If) and _is_main_test(s.test)]


def _bound_under_guard(tree: ast.Module | None) -> set[str]:
    names: set[str] = set()
    for guard in _guards(tree):
        for node in ast.walk(guard):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
    return names


def _unguarded_line(module: ModuleType, tree: ast.Module | None) -> int | None:
    """The line of the script's top-level statement running now, unless it is under the guard."""
    frame: FrameType | None = sys._getframe(1)
    namespace = vars(module)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is namespace
    ):
        frame = frame.f_back
    if frame is None:  # not called while the script runs (a thread, atexit): import is harmless
        return None
    line = frame.f_lineno
    if tree is None:
        return None
    for guard in _guards(tree):
        if any(s.lineno <= line <= (s.end_lineno or s.lineno) for s in guard.body):
            return None
    return line


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
    ):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )
