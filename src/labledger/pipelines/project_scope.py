"""Which code belongs to the project, and so is fingerprinted rather than only named.

Project code is code whose file is neither in the standard library nor in site-packages (or, given a
project root, lies under it), and never labledger itself: library code belongs to the environment
fingerprint, which pins every installed package's version. The rule holds with a project root too,
so a virtual environment inside the project folder is still library code.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import FunctionType, ModuleType

__all__ = ["MISSING", "ProjectScope", "is_file_name", "safe_attr"]

MISSING: Any = object()
_LABLEDGER_DIR = os.path.realpath(Path(__file__).parents[1]) + os.sep
_LIBRARY_MARKERS = frozenset({"site-packages", "dist-packages"})


def safe_attr(obj: object, name: str) -> Any:
    """``getattr(obj, name)``, or ``MISSING`` when reading it fails in any way."""
    try:
        return getattr(obj, name)
    except Exception:  # a proxy or lazy object may raise anything; treat it as absent
        return MISSING


def is_file_name(filename: str) -> bool:
    """Whether a code object's filename names a file, not ``<string>`` or ``<stdin>``."""
    return not (filename.startswith("<") and filename.endswith(">"))


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.update(getattr(site, "getsitepackages", list)())
    dirs.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(d) + os.sep for d in dirs if d))


_is_file = functools.lru_cache(maxsize=8192)(os.path.isfile)


@functools.lru_cache(maxsize=8192)
def _is_project_path(path: str, root: str | None) -> bool:
    real = os.path.realpath(path)
    if real.startswith(_LABLEDGER_DIR) or _LIBRARY_MARKERS.intersection(real.split(os.sep)):
        return False
    if any(real.startswith(lib) for lib in _library_dirs()):
        return False
    return root is None or real.startswith(root)


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """Which code is the project's own: not labledger, the standard library or site-packages.

    Attributes:
        root: When set, only files under this folder (with a trailing separator) count.
    """

    root: str | None = None

    @classmethod
    def under(cls, project_root: Path | None) -> ProjectScope:
        """The scope of ``project_root``, or of everything outside the libraries when None."""
        if project_root is None:
            return cls()
        return cls(os.path.realpath(project_root).rstrip(os.sep) + os.sep)

    def has_path(self, path: str) -> bool:
        """Whether the source file ``path`` is project code."""
        return _is_project_path(path, self.root)

    def has_module(self, module: ModuleType) -> bool:
        """Whether ``module`` is project code (a namespace package counts by its folders)."""
        name = module.__name__
        if name == "labledger" or name.startswith("labledger."):
            return False
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            return self.has_path(file)
        folders = getattr(module, "__path__", None) or ()
        return any(self.has_path(str(folder)) for folder in folders)

    def has_module_named(self, name: str | None) -> bool:
        """Whether the module called ``name`` (a ``__module__`` value) is project code."""
        if name is None:
            return True  # exec'd with bare globals: typed by the user, not installed
        module = sys.modules.get(name)
        if module is None:
            return not (name == "labledger" or name.startswith("labledger."))
        if name == "__main__" and getattr(module, "__file__", None) is None:
            return True  # the interactive interpreter
        return self.has_module(module)

    def has_function(self, func: FunctionType) -> bool:
        """Whether ``func`` is project code, judged by its file, else by its module."""
        filename = func.__code__.co_filename
        if is_file_name(filename) and _is_file(filename):
            return self.has_path(filename)
        # Typed at a prompt, built by exec, or a notebook cell (named like a file that is not one).
        return self.has_module_named(func.__module__)

    def find_module(self, name: str) -> ModuleType | None:
        """The module ``name``, importing it only when it is project code not yet imported.

        An import inside a step has not run before the step does; importing the project module
        now (never a library one) is what lets the code behind it be fingerprinted.
        """
        module = sys.modules.get(name)
        if module is not None:
            return module
        parent = name.rpartition(".")[0]
        if parent and self.find_module(parent) is None:
            return None
        try:
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin or not self.has_path(spec.origin):
                return None
            return importlib.import_module(name)
        except Exception:  # the step would fail the same way when run; here it only goes unseen
            return None

    def module_attr(self, module: ModuleType, name: str) -> Any:
        """An attribute of a project module, or its submodule ``name``, else ``MISSING``."""
        found = safe_attr(module, name)
        if found is MISSING and hasattr(module, "__path__"):
            return self.find_module(f"{module.__name__}.{name}") or MISSING
        return found
