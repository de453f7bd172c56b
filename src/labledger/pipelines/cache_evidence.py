"""The evidence a cache hit needs: a seal that covers the task, and (when asked) intact bytes.

A finished task row proves nothing by itself: whoever can write the catalog can add one, or set a
run's ``record_digest``. A task may answer a later run only when its run's sealed record covers it:
the digest in the catalog is the one in the run's latest ``run.finished`` or ``run.crashed`` ledger
entry, and the record re-derived from the catalog now still hashes to it (so no task, output or
param was added or changed after the seal). Re-deriving reads the whole run, so each run is judged
once per ``RunSeals``.

With ``LABLEDGER_VERIFY_ON_READ=1`` a hit's output blobs (for a folder, its manifest and every file)
are also re-hashed before they are served.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING

from labledger._foundation.digests import CHUNK_SIZE, Hasher
from labledger._foundation.errors import IntegrityError, LabledgerError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["SEAL_KINDS", "BlobCheck", "RunSeals"]

SEAL_KINDS = ("run.finished", "run.crashed")  # the entries that seal a run


class RunSeals:
    """Judges, once per run, whether a run's sealed record still covers what the catalog holds."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._verdicts: dict[str, bool] = {}

    def vouches(self, run_id: str, record_digest: str | None) -> bool:
        """Whether run ``run_id``, whose catalog row says ``record_digest``, vouches for its tasks.

        The verdict is kept: a run's record does not change once it is sealed, and one that was
        changed behind labledger stays distrusted for as long as this object lives.
        """
        verdict = self._verdicts.get(run_id)
        if verdict is None:
            verdict = self._verdicts[run_id] = record_digest is not None and self._judge(
                run_id, record_digest
            )
        return verdict

    def _judge(self, run_id: str, record_digest: str) -> bool:
        seal = self.workspace.stores.tasks.run_seal(run_id)
        # A run is sealed once: a second seal is someone trying to re-seal it.
        if len(seal.seals) != 1 or seal.seals[0][1].get("record_digest") != record_digest:
            return False
        return seal.record_digest == record_digest


class BlobCheck:
    """Re-hashes blobs, each once: whether a blob's bytes (for a tree: its manifest's and every
    file's) still hash to its digest.

    A blob whose bytes do not match is removed from the store: they are wrong under that digest
    whoever reads them, and once it is gone the step that made it stores the right bytes again.
    """

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self._intact: dict[str, bool] = {}

    def corrupt(self, blobs: Iterable[tuple[str, bool]]) -> list[str]:
        """The digests among ``blobs`` (``(digest, is_tree)`` pairs) whose bytes do not match."""
        return [digest for digest, is_tree in blobs if not self._tree_or_blob(digest, is_tree)]

    def _tree_or_blob(self, digest: str, is_tree: bool) -> bool:
        if not is_tree:
            return self._check(digest) is not None
        manifest = self._check(digest, keep=True)
        if manifest is None:
            return False
        try:
            files = [entry["digest"] for entry in json.loads(manifest)["entries"]]
        except (ValueError, TypeError, KeyError):
            return False
        return all(isinstance(file, str) and self._check(file) is not None for file in files)

    def _check(self, digest: str, *, keep: bool = False) -> bytes | None:
        """``None`` when the blob cannot be read or its bytes do not hash to ``digest``, else its
        bytes when ``keep`` (``b""`` if not)."""
        known = self._intact.get(digest)
        if known is False or (known and not keep):
            return None if known is False else b""
        kept = bytearray()
        hasher = Hasher()
        try:
            with self.store.open(digest) as handle:
                while chunk := handle.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    if keep:
                        kept += chunk
        except IntegrityError:
            intact = False  # a store that re-hashes as it reads found the bytes wrong
        except (OSError, LabledgerError):
            self._intact[digest] = False  # unreadable now: not served, but not known to be wrong
            return None
        else:
            intact = hasher.digest == digest
        self._intact[digest] = intact
        if not intact:
            with contextlib.suppress(OSError, LabledgerError):
                self.store.delete(digest)
            return None
        return bytes(kept)
