"""matplotlib figures as PNG images with fixed metadata, so the same drawing gives the same bytes.

A figure cannot be rebuilt from pixels: loading gives the PNG bytes, ready to embed in a report or
to decode with ``matplotlib.image.imread``.
"""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING, Any

from labledger.materializers.base import Stored, put_bytes, read_bytes, require, unreadable

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["MatplotlibMaterializer"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 100


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (the IHDR chunk comes first)."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("no PNG signature and header")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


class MatplotlibMaterializer:
    """``matplotlib.figure.Figure`` as PNG at 100 dpi; loaded as the PNG's bytes."""

    name = "matplotlib"
    types: tuple[str, ...] = ("matplotlib.figure.Figure",)

    def save(self, value: Any, store: BlobStore) -> Stored:
        require("matplotlib", package="matplotlib")
        sink = io.BytesIO()
        # No "Software" entry (it names the matplotlib version) and no timestamp: stable bytes.
        value.savefig(sink, format="png", dpi=DPI, metadata={"Software": None})
        data = sink.getvalue()
        width, height = _png_size(data)
        return put_bytes(
            store,
            data,
            kind="figure",
            format="png",
            materializer=self.name,
            schema={"width": width, "height": height, "dpi": DPI},
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
        data = read_bytes(store, stored.digest)
        try:
            _png_size(data)
        except ValueError as exc:
            raise unreadable(stored, "PNG image", exc) from exc
        return data
