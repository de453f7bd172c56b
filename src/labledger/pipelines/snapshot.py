"""Code snapshots: a run's pipeline source files stored as a tree, so it can be re-run without git.

Every file is stored at its module path (``pkg/sub/mod.py`` for ``pkg.sub.mod``), so putting the
snapshot's folder first on ``sys.path`` imports the same code again. A script run as
``python script.py`` (module ``__main__``) is stored as ``script.py``, and one run as
``python -m pkg.script`` as ``pkg/script.py``: the names it is imported by again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.canonical import canonical_json

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labledger.workspace.blobstore import BlobStore

__all__ = ["Snapshot", "main_module_name", "module_path", "snapshot_sources"]


def module_path(module_name: str, file: str) -> str:
    """Where a module's file goes in a snapshot: its dotted name as a path."""
    parts = module_name.split(".")
    if Path(file).name == "__init__.py":
        return "/".join([*parts, "__init__.py"])
    return "/".join([*parts[:-1], parts[-1] + ".py"])


def main_module_name() -> str | None:
    """The name a snapshot stores the ``__main__`` script under; ``None`` without a script file.

    That is the module ``python -m`` was given (``__main__.__spec__.name``), else the file's stem
    (``python study.py`` gives ``study``).
    """
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if not file:
        return None
    spec = getattr(main, "__spec__", None)
    name = getattr(spec, "name", None)
    return name if isinstance(name, str) and name else Path(file).stem


def _modules_by_file(files: set[str]) -> dict[str, str]:
    """Module names of ``files`` (resolved paths), from the modules imported so far."""
    names = {os.path.basename(file) for file in files}
    found: dict[str, str] = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        # Comparing base names first spares resolving the path of every imported module (with
        # os.path: a Path object per module costs more than the rest of a small run).
        # Aliases such as multiprocessing's ``__mp_main__`` (joblib, scikit-learn) name the
        # script too, but cannot be imported by that name.
        if isinstance(file, str) and not name.startswith("__") and os.path.basename(file) in names:
            resolved = str(Path(file).resolve())
            if resolved in files:
                found.setdefault(resolved, name)
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    main_name = main_module_name()
    if main_file and main_name:
        resolved = str(Path(main_file).resolve())
        if resolved in files:
            found.setdefault(resolved, main_name)
    return found


class Snapshot:
    """A stored snapshot: the manifest's digest, its entries and every blob written."""

    __slots__ = ("blobs", "digest", "entries")

    def __init__(self, digest: str, entries: list[dict[str, object]], blobs: list[tuple[str, int]]):
        self.digest = digest
        self.entries = entries
        self.blobs = blobs


def snapshot_sources(
    store: BlobStore, files: Iterable[str], *, names: dict[str, str] | None = None
) -> Snapshot:
    """Store ``files`` (absolute paths of project modules) as a tree keyed by module path.

    Args:
        store: Where the blobs go.
        files: Source files.
        names: Module names by resolved file path, for files ``sys.modules`` does not know.
    """
    wanted = {str(Path(file).resolve()) for file in files}
    by_file = _modules_by_file(wanted)
    if names:
        by_file.update(names)
    entries: dict[str, dict[str, object]] = {}
    blobs: list[tuple[str, int]] = []
    for file in sorted(wanted):
        path = Path(file)
        name = by_file.get(str(path), path.stem)
        if not path.is_file():
            continue
        data = path.read_bytes()
        digest = store.put(data)
        blobs.append((digest, len(data)))
        where = module_path(name, str(path))
        entries[where] = {"path": where, "digest": digest, "size": len(data)}
    ordered = [entries[key] for key in sorted(entries)]
    manifest = canonical_json({"kind": "tree", "entries": ordered})
    digest = store.put(manifest)
    blobs.append((digest, len(manifest)))
    return Snapshot(digest, ordered, blobs)
