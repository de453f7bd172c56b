"""scikit-learn estimators in the skops format: loading it runs no code unless you allow it.

skops writes a zip of a JSON schema and ``.npy`` arrays. Its own output names arrays and shared
objects by their ``id()`` and stamps each zip entry with the current time, so the same model would
give different bytes on every save; the archive is rewritten with sequential names and fixed
timestamps, which skops reads back unchanged.

Loading runs no code from the archive unless you allow it. skops rebuilds an object by importing
the module and name the archive's JSON names and calling it, so every name is checked first, exactly
(never by package prefix), against a frozen allow-list (``skops_trust``): classes may be
constructed, NumPy and SciPy ufuncs only referenced; anything else (``builtins.eval``, a NumPy test
helper that calls ``exec``, a custom transformer, a function from your project) needs
``trusted=True``. Saving records the archive's types and the allow-list version in the schema; a
model whose archive holds types that were not recorded when it was saved needs ``trusted=True``
too.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import UnsupportedValueError, ValidationError
from labledger.materializers import skops_trust
from labledger.materializers.base import (
    Stored,
    put_bytes,
    read_bytes,
    require,
    type_name,
    unreadable,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["SklearnMaterializer", "archive_types", "canonical_skops", "refused_types"]

_EPOCH = (1980, 1, 1, 0, 0, 0)
_SCHEMA = "schema.json"
# skops loaders that only import a name, never call it; every other loader calls or constructs.
_REFERENCES = frozenset({"FunctionNode"})
_SAFE = "not known to be safe to load"


@functools.cache
def _allowed(table: str) -> frozenset[tuple[str, str]]:
    names = skops_trust.CLASSES if table == "classes" else skops_trust.FUNCTIONS
    return frozenset((module, name) for module, row in names.items() for name in row.split())


def _nodes(node: Any) -> Iterator[tuple[str, str, str]]:
    """Each ``(loader, module, name)`` a skops schema names, depth first."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            loader = item.get("__loader__")
            if loader is not None and loader != "JsonNode":
                module, name = item.get("__module__"), item.get("__class__")
                if not (isinstance(module, str) and isinstance(name, str)):
                    yield str(loader), repr(module), repr(name)
                    continue
                if loader == "MethodNode":
                    # A bound method: the archive names the object and, apart, the method.
                    content = item.get("content")
                    method = content.get("func") if isinstance(content, dict) else None
                    name = f"{name}.{method}"
                yield str(loader), module, name
            stack.extend(item.values())


def _is_allowed(loader: str, module: str, name: str) -> bool:
    if loader == "MethodNode":
        return False
    # The exact (module, name) pair skops imports: "numpy" + "random.PCG64" is not PCG64.
    table = "functions" if loader in _REFERENCES else "classes"
    return (module, name) in _allowed(table)


def archive_types(schema: Any) -> list[str]:
    """The fully qualified names of every type and function a skops schema names, sorted."""
    return sorted({f"{module}.{name}" for _, module, name in _nodes(schema)})


def refused_types(schema: Any) -> list[str]:
    """The names in a skops schema that may not be loaded without trust, sorted.

    A name is allowed only where the allow-list says: a class wherever skops constructs or calls
    it, a ufunc only where skops merely references a function. Anything else, a function that
    skops would call above all, is refused.
    """
    refused = set()
    for loader, module, name in _nodes(schema):
        if _is_allowed(loader, module, name):
            continue
        full = f"{module}.{name}"
        if loader in _REFERENCES:
            refused.add(f"{full} (a function)")
        elif (module, name) in _allowed("functions"):
            refused.add(f"{full} (a function, called while loading)")
        else:
            refused.add(full)
    return sorted(refused)


def _read_schema(data: bytes) -> Any:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read(_SCHEMA))


def _renumber(node: Any, ids: dict[int, int], files: dict[str, str], members: set[str]) -> None:
    """Replace ``id()``-based object ids and array file names by their order of appearance."""
    if isinstance(node, list):
        for item in node:
            _renumber(item, ids, files, members)
        return
    if not isinstance(node, dict):
        return
    for key, item in node.items():
        if key == "__id__" and isinstance(item, int) and not isinstance(item, bool):
            # Counted from 1: skops treats an id of 0 as "not shared".
            node[key] = ids.setdefault(item, len(ids) + 1)
        elif key == "file" and isinstance(item, str) and item in members:
            suffix = item[item.rfind(".") :] if "." in item else ""
            node[key] = files.setdefault(item, f"{len(files)}{suffix}")
        else:
            _renumber(item, ids, files, members)


def canonical_skops(data: bytes) -> bytes:
    """Rewrite a skops archive so that equal models give equal bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        infos = {info.filename: info for info in source.infolist()}
        schema = json.loads(source.read(_SCHEMA))
        files: dict[str, str] = {}
        _renumber(schema, {}, files, set(infos) - {_SCHEMA})
        schema_bytes = json.dumps(schema, indent=2).encode("utf-8")
        renamed = [(_SCHEMA, _SCHEMA), *((new, old) for old, new in files.items())]
        renamed += sorted((name, name) for name in infos if name != _SCHEMA and name not in files)
        sink = io.BytesIO()
        with zipfile.ZipFile(sink, "w") as target:
            for new, old in renamed:
                info = zipfile.ZipInfo(new, date_time=_EPOCH)
                info.compress_type = infos[old].compress_type
                info.external_attr = 0o644 << 16
                info.create_system = 3
                target.writestr(info, schema_bytes if old == _SCHEMA else source.read(old))
    return sink.getvalue()


def _params(estimator: Any) -> dict[str, Any]:
    """The estimator's own parameters that are plain values, for the catalog to show and search."""
    try:
        params = estimator.get_params(deep=False)
    except (AttributeError, TypeError):
        return {}
    plain = (str, int, float, bool, type(None))
    return {key: value for key, value in sorted(params.items()) if isinstance(value, plain)}


class SklearnMaterializer:
    """scikit-learn estimators (anything deriving from ``BaseEstimator``) as skops archives."""

    name = "sklearn"
    types: tuple[str, ...] = ("sklearn.base.BaseEstimator",)

    def save(self, value: Any, store: BlobStore) -> Stored:
        sio = require("skops.io", package="skops", extra="ml")
        try:
            raw = sio.dumps(value)
        except (TypeError, ValueError, AttributeError) as exc:
            raise UnsupportedValueError(
                f"cannot store this {type_name(type(value))} with skops: {exc}",
                hint="skops cannot write some objects held by the estimator; if you trust them, "
                "allow pickle (allow_pickle=True, or trusted=True on the step)",
            ) from exc
        try:
            data = canonical_skops(raw)
        except (KeyError, ValueError, zipfile.BadZipFile):
            # A skops layout this rewrite does not know: keep its bytes, losing only determinism.
            data = raw
        schema = _read_schema(data)
        return put_bytes(
            store,
            data,
            kind="model",
            format="skops",
            materializer=self.name,
            schema={
                "type": type_name(type(value)),
                "params": _params(value),
                "skops": {
                    "protocol": schema.get("protocol"),
                    "types": archive_types(schema),
                    "allow_list": skops_trust.VERSION,
                },
            },
            stats={"bytes": len(data)},
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        sio = require("skops.io", package="skops", extra="ml")
        data = read_bytes(store, stored.digest)
        try:
            schema = _read_schema(data)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise unreadable(stored, "skops archive", exc) from exc
        if trusted:
            allowed: list[str] = _all_untrusted(sio, stored, data)
        else:
            allowed = _check(stored, schema)
        try:
            return sio.loads(data, trusted=allowed)
        except sio.exceptions.UntrustedTypesFoundException as exc:
            # A name the allow-list check above did not see (skops audits some names kept
            # outside the usual fields): refused all the same.
            raise _refusal(stored, [str(exc)]) from exc
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise unreadable(stored, "skops archive", exc) from exc


def _all_untrusted(sio: Any, stored: StoredRef, data: bytes) -> list[str]:
    try:
        return list(sio.get_untrusted_types(data=data))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise unreadable(stored, "skops archive", exc) from exc


def _check(stored: StoredRef, schema: Any) -> list[str]:
    """The names to let skops load, once every name in the archive is allowed; else refuse."""
    refused = refused_types(schema)
    held = archive_types(schema)
    recorded = stored.schema.get("skops")
    known = recorded.get("types") if isinstance(recorded, Mapping) else None
    unrecorded = []
    if isinstance(known, list):
        unrecorded = sorted(set(held) - {str(name) for name in known})
    if refused or unrecorded:
        raise _refusal(stored, refused, unrecorded)
    return held


def _refusal(
    stored: StoredRef, refused: list[str], unrecorded: list[str] | None = None
) -> ValidationError:
    parts = [f"types that are {_SAFE}: " + ", ".join(refused)] if refused else []
    if unrecorded:
        parts.append(
            "types that were not recorded when it was saved (the archive was replaced): "
            + ", ".join(unrecorded)
        )
    return ValidationError(
        f"model {stored.digest} holds " + "; and ".join(parts),
        hint="loading them may run code from the archive; only the scikit-learn, NumPy and "
        "SciPy types on labledger's allow-list load without trust (docs/materializers.md, "
        "'Safe loading'). Check where the model came from; if you trust it, load it with "
        "trusted=True (labledger.materializers.load(..., trusted=True), "
        "result.load(ref, trusted=True), or @step(trusted=True) on a step that takes it)",
    )
