"""Finding a pipeline from a reference: ``path/to/file.py:name`` or ``package.module:name``.

Modules are imported as ``python -m`` imports them: the working folder goes first on ``sys.path``
(unless it is there already), so ``study.pipe:main`` works from a project's root. A file's own
folder goes first too, as ``python path/to/file.py`` puts it, so the helper modules next to it
import. A reference to something missing says what exists instead; code that raises while it is
imported becomes a ``PipelineImportError`` whose traceback shows only the user's own frames.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.errors import NotFoundError, PipelineImportError, ValidationError
from labledger.pipelines.definition import Pipeline

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["load_pipeline"]

_PACKAGE = Path(__file__).resolve().parents[1]
_IMPORTLIB = Path(importlib.__file__ or "").resolve().parent
_SHOWN = 12
# Import names whose package is installed under another name.
_DISTRIBUTIONS = {
    "Bio": "biopython",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
}
_USUAL_IMPORTS = {
    "np": "import numpy as np",
    "pd": "import pandas as pd",
    "plt": "import matplotlib.pyplot as plt",
    "sns": "import seaborn as sns",
}


def _on_path(folder: Path) -> bool:
    cwd = Path.cwd().resolve()
    return any((cwd if entry == "" else Path(entry).resolve()) == folder for entry in sys.path)


def _put_first_on_path(folder: Path) -> None:
    if not _on_path(folder):
        sys.path.insert(0, str(folder))


def _listing(what: str, names: list[str], wanted: str) -> str:
    close = difflib.get_close_matches(wanted, names, n=1)
    shown = ", ".join(names[:_SHOWN]) + (", ..." if len(names) > _SHOWN else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"{what}: {shown}"


def _shown_path(filename: str | None) -> str:
    """A path relative to the working folder when it is inside it (shorter to read)."""
    if not filename:
        return "?"
    path = Path(filename).resolve()
    cwd = Path.cwd().resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else filename


# -- errors raised by the user's own code while it is imported ----------------------------------


def _internal(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    path = Path(filename).resolve()
    return path.is_relative_to(_PACKAGE) or path.is_relative_to(_IMPORTLIB)


def _user_traceback(exc: BaseException) -> tuple[str, traceback.FrameSummary | None]:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _internal(f.filename)]
    lines = (
        ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    )
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines), (frames[-1] if frames else None)


def _fix(exc: BaseException, where: str) -> str:
    if isinstance(exc, SyntaxError):
        return "fix the line the caret points at, then run again"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        parent = exc.name.rpartition(".")[0]
        if parent and parent in sys.modules:
            return f"{parent} has no module {exc.name!r}: check the import at {where}"
        top = exc.name.partition(".")[0]
        package = _DISTRIBUTIONS.get(top, top)
        return (
            f"install it into the Python labledger runs on: {sys.executable} -m pip install "
            f"{package}; if {top!r} is a module of your project, run from the folder that holds it"
        )
    if isinstance(exc, ImportError):
        return f"check the name imported at {where}"
    if isinstance(exc, NameError) and exc.name:
        usual = _USUAL_IMPORTS.get(exc.name)
        fix = f"define or import {exc.name!r} before {where}"
        return f"{fix}, e.g. {usual}" if usual else fix
    return f"fix the error at {where}, then run again"


def _import_failed(target: str, exc: Exception) -> PipelineImportError:
    text, frame = _user_traceback(exc)
    if isinstance(exc, SyntaxError):
        where = f"{_shown_path(exc.filename)}, line {exc.lineno}"
        detail = exc.msg
    else:
        where = f"{_shown_path(frame.filename)}, line {frame.lineno}" if frame else target
        detail = str(exc).splitlines()[0] if str(exc) else ""
    return PipelineImportError(
        f"importing {_shown_path(target) if target.endswith('.py') else target} failed "
        f"at {where}: {type(exc).__name__}: {detail}",
        traceback=text,
        hint=_fix(exc, where),
    )


# -- finding the module -------------------------------------------------------------------------


def _load_file(path: Path) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        folder = path.parent
        files = sorted(p.name for p in folder.glob("*.py")) if folder.is_dir() else []
        hint = _listing(f"Python files in {folder}", files, path.name) if files else None
        raise NotFoundError(f"no file {path}", hint=hint or "give path/to/file.py:pipeline_name")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    _put_first_on_path(Path.cwd().resolve())
    _put_first_on_path(path.parent)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValidationError(f"cannot import {path}", hint="give a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _import_failed(str(path), exc) from exc
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _missing_module(target: str, exc: ModuleNotFoundError) -> NotFoundError:
    parent, _, last = target.rpartition(".")
    names: list[str] = []
    where = ""
    if parent and exc.name == target:
        package = sys.modules.get(parent)
        path = getattr(package, "__path__", None)
        if path is not None:
            names = sorted(info.name for info in pkgutil.iter_modules(path))
            where = f"modules in {parent}"
    else:
        last = target.partition(".")[0]
        names = sorted(info.name for info in pkgutil.iter_modules([os.getcwd()]))
        where = f"modules in {os.getcwd()}"
    if names:
        hint = _listing(where, names, last)
    else:
        hint = "run from your project's folder, or give path/to/file.py:name"
    return NotFoundError(f"no module {target!r} (No module named {exc.name!r})", hint=hint)


def _load_module(target: str) -> ModuleType:
    _put_first_on_path(Path.cwd().resolve())
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise _missing_module(target, exc) from exc
        raise _import_failed(target, exc) from exc
    except Exception as exc:
        raise _import_failed(target, exc) from exc


def _pipelines_in(module: ModuleType) -> list[str]:
    return sorted(name for name, value in vars(module).items() if isinstance(value, Pipeline))


def _pipelines_hint(module: ModuleType, name: str) -> str:
    found = _pipelines_in(module)
    if not found:
        return "it defines no pipeline: decorate a function with @pipeline"
    return _listing("pipelines in it", found, name)


def load_pipeline(ref: str) -> Pipeline:
    """The ``@pipeline`` object that ``ref`` names.

    Raises:
        ValidationError: ``ref`` is malformed or names something that is not a pipeline.
        NotFoundError: The file, module or name does not exist; the hint says what does.
        PipelineImportError: The module raised while imported; its ``traceback`` shows where.
    """
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name:
        raise ValidationError(
            f"pipeline reference {ref!r} should look like path/to/file.py:name or module:name"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target))
    else:
        module = _load_module(target)
    obj: object = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFoundError(f"{target} has no {name!r}", hint=_pipelines_hint(module, name))
    if not isinstance(obj, Pipeline):
        found = _pipelines_in(module)
        raise ValidationError(
            f"{ref} is a {type(obj).__name__}, not a pipeline",
            hint=f"pipelines in {target}: {', '.join(found)}"
            if found
            else "decorate the function with @pipeline",
        )
    return obj
