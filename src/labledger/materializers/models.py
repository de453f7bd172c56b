"""scikit-learn estimators in the skops format: loading it runs no code unless you allow it.

skops writes a zip of a JSON schema and ``.npy`` arrays. Its own output names arrays and shared
objects by their ``id()`` and stamps each zip entry with the current time, so the same model would
give different bytes on every save; the archive is rewritten with sequential names and fixed
timestamps, which skops reads back unchanged.

On load, types skops considers safe, plus those of scikit-learn, NumPy and SciPy, are allowed; any
other type (a custom transformer, a function from your project) needs ``trusted=True``.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import UnsupportedValueError, ValidationError
from labledger.materializers.base import (
    Stored,
    put_bytes,
    read_bytes,
    require,
    type_name,
    unreadable,
)

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["TRUSTED_PACKAGES", "SklearnMaterializer", "canonical_skops"]

TRUSTED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SCHEMA = "schema.json"


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
        return put_bytes(
            store,
            data,
            kind="model",
            format="skops",
            materializer=self.name,
            schema={"type": type_name(type(value)), "params": _params(value)},
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
            unknown = list(sio.get_untrusted_types(data=data))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise unreadable(stored, "skops archive", exc) from exc
        refused = [name for name in unknown if name.split(".", 1)[0] not in TRUSTED_PACKAGES]
        if refused and not trusted:
            raise ValidationError(
                f"model {stored.digest} holds types that are not known to be safe to load: "
                + ", ".join(sorted(refused)),
                hint="loading them may run their code; check where the model came from, and "
                "if you trust it, load it with trusted=True",
            )
        try:
            return sio.loads(data, trusted=unknown)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise unreadable(stored, "skops archive", exc) from exc
