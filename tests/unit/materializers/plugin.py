"""Stand-ins for third-party materializers, loaded through real entry points in the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger.materializers.base import Stored, put_bytes, read_bytes

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore


class Shouting:
    """Text in capitals: claims ``str`` like the built-in text materializer."""

    name = "shouting"
    types: tuple[str, ...] = ("builtins.str",)

    def save(self, value: Any, store: BlobStore) -> Stored:
        return put_bytes(
            store, value.upper().encode(), kind="text", format="txt", materializer=self.name
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        return read_bytes(store, stored.digest).decode()


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class Point3(Point):
    pass


class PointMaterializer:
    name = "point"
    types: tuple[str, ...] = (f"{Point.__module__}.Point",)

    def save(self, value: Any, store: BlobStore) -> Stored:
        data = f"{value.x},{value.y}".encode()
        return put_bytes(store, data, kind="point", format="csv", materializer=self.name)

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        x, y = read_bytes(store, stored.digest).decode().split(",")
        return Point(int(x), int(y))


class Impostor(Shouting):
    """Claims the built-in JSON materializer's name."""

    name = "json"
    types: tuple[str, ...] = ("builtins.int",)


NOT_A_MATERIALIZER = object()


class Exploding:
    def __init__(self) -> None:
        raise RuntimeError("boom")
