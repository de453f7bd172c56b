"""Finding a pipeline from a reference: ``path/to/file.py:name`` or ``package.module:name``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.pipelines.definition import Pipeline

__all__ = ["load_pipeline"]


def _load_file(path: Path) -> object:
    path = path.resolve()
    if not path.is_file():
        raise NotFoundError(f"no file {path}", hint="give path/to/file.py:pipeline_name")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    # The file's folder goes on sys.path so the helper modules next to it import as usual.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValidationError(f"cannot import {path}", hint="give a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_pipeline(ref: str) -> Pipeline:
    """The ``@pipeline`` object that ``ref`` names.

    Raises:
        ValidationError: ``ref`` is malformed or names something that is not a pipeline.
        NotFoundError: The file, module or name does not exist.
    """
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name:
        raise ValidationError(
            f"pipeline reference {ref!r} should look like path/to/file.py:name or module:name"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        module = _load_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            raise NotFoundError(
                f"no module {target!r}: {exc}", hint="check the name, or give path/to/file.py:name"
            ) from exc
    obj: object = module
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFoundError(f"{target} has no {name!r}", hint="check the pipeline's name")
    if not isinstance(obj, Pipeline):
        raise ValidationError(
            f"{ref} is a {type(obj).__name__}, not a pipeline",
            hint="decorate the function with @labledger.pipelines",
        )
    return obj
