"""The trash of a blob store: where ``gc`` moves a blob before it deletes it for good.

A store that keeps a trash offers the verbs of ``TrashingStore``; ``labledger.workspace.gc``
explains the protocol they serve. Reading a blob that sits in the trash (``open``, ``exists``,
``size``) takes it back out first, so a blob moved there by mistake is never lost to a reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["TRASH_FOLDER", "Listed", "Trashed", "TrashingStore"]

TRASH_FOLDER = "trash"


@dataclass(frozen=True, slots=True)
class Listed:
    """A blob found in the store by ``TrashingStore.listing``.

    Attributes:
        digest: The blob.
        modified_at: When it was stored or last renewed by a writer (Unix seconds).
        size: Its size in bytes.
        stamp: What a writer's renewal changes (a local file's ``st_mtime_ns``); ``trash`` compares
            it to tell whether a writer renewed the blob since it was listed. 0 where unknown.
        shared: The blob is hard-linked to a file outside the store: removing it frees no space.
    """

    digest: str
    modified_at: float
    size: int
    stamp: int = 0
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Trashed:
    """A blob in the trash.

    Attributes:
        digest: The blob.
        trashed_at: When it went into the trash, or was renewed there, whichever is later.
        size: Its size in bytes.
        stored: The blob is also in its place in the store (written again since): the trash copy is
            a duplicate.
    """

    digest: str
    trashed_at: float
    size: int
    stored: bool


@runtime_checkable
class TrashingStore(Protocol):
    """A blob store that can move blobs to a trash and back (see ``labledger.workspace.gc``)."""

    def listing(self) -> Iterator[Listed]:
        """Every blob in its place, with its age and size."""
        ...

    def trash(self, blob: Listed) -> bool:
        """Move a listed blob to the trash; ``False`` (and the blob in place) when it was renewed
        since it was listed, is hard-linked, or is gone."""
        ...

    def trashed(self) -> Iterator[Trashed]:
        """Every blob in the trash."""
        ...

    def restore(self, digest: str) -> bool:
        """Move a blob from the trash back into its place; whether it is in place now."""
        ...

    def purge(self, digest: str) -> None:
        """Delete a blob's trash copy for good (an absent one is a no-op)."""
        ...
