"""Any picklable object, only for callers who opted in: unpickling can run arbitrary code.

The registry never picks this materializer by type. ``save(..., allow_pickle=True)`` (a step's
``trusted=True``) falls back to it for values nothing else can store, and loading refuses unless
the caller passes ``trusted=True``. Pickle bytes are not guaranteed to be equal for equal values
(sets of strings, for one, are ordered by a per-process hash seed), so cache hits on pickled
outputs depend on the value.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ValidationError
from labledger.materializers.base import Stored, put_bytes, read_bytes, type_name, unreadable

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["PickleMaterializer"]

# Fixed, so the same value pickles to the same bytes whatever the interpreter's default.
PROTOCOL = 5


class PickleMaterializer:
    """Arbitrary objects as pickles (protocol 5); never chosen by type, loaded only when trusted."""

    name = "pickle"
    types: tuple[str, ...] = ()
    needs_trust = True

    def save(self, value: Any, store: BlobStore) -> Stored:
        try:
            data = pickle.dumps(value, protocol=PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise ValidationError(
                f"cannot pickle this {type_name(type(value))}: {exc}",
                hint="lambdas, open files, locks and local classes cannot be pickled; "
                "return plain data or a module-level type",
            ) from exc
        return put_bytes(
            store,
            data,
            kind="object",
            format="pickle",
            materializer=self.name,
            schema={"type": type_name(type(value))},
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
        if not trusted:
            raise ValidationError(
                f"refusing to unpickle blob {stored.digest}: unpickling can run arbitrary code",
                hint="pass trusted=True only if you trust whoever wrote it",
            )
        data = read_bytes(store, stored.digest)
        try:
            return pickle.loads(data)  # noqa: S301 - the caller vouched for the blob (trusted=True)
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise unreadable(stored, "pickle", exc) from exc
