"""Workspace-level entry points of the public API: create, open, migrate, verify, checkpoint, prove."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from labledger._foundation.errors import ConfigurationError
from labledger.workspace.checkpoints import Checkpoint, load_checkpoint
from labledger.workspace.current import get_workspace, set_workspace
from labledger.workspace.proofs import ProofCheck, check_proof, load_proof, make_proof
from labledger.workspace.trusted_keys import load_trusted_keys
from labledger.workspace.verify import VerifyReport, verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    import os
    from typing import Any

    from labledger.workspace.catalog import Migration
    from labledger.workspace.ledger_check import LedgerCheck

__all__ = [
    "checkpoint",
    "init",
    "migrate",
    "open_workspace",
    "prove",
    "verify",
    "verify_proof",
    "verify_server",
]


def init(path: str | os.PathLike[str] | None = None) -> Workspace:
    """Create (or open) a workspace at ``path`` and make it the current one."""
    workspace = Workspace.init(path)
    set_workspace(workspace)
    return workspace


def open_workspace(uri: str | os.PathLike[str] | None = None) -> Workspace:
    """Open an existing workspace and make it the current one.

    Opening never writes. A catalog at an older schema revision raises ``SchemaOutdatedError``:
    run ``labledger migrate`` (or ``labledger.migrate()``) first.
    """
    workspace = Workspace.open(uri)
    set_workspace(workspace)
    return workspace


def migrate(uri: str | os.PathLike[str] | None = None) -> Migration:
    """Bring a workspace's catalog to the schema this labledger needs (back it up first).

    Running it again, or from several processes at once, is safe: whoever comes second finds the
    work done.

    Args:
        uri: The workspace; defaults to ``LABLEDGER_URI`` or the nearest ``.labledger`` folder.

    Returns:
        The revision before and after (``Migration.changed`` says whether anything was applied).

    Example:
        >>> labledger.migrate("~/studies/assay-2024")  # doctest: +SKIP
        Migration(from_revision='0003', to_revision='0004')
    """
    return Workspace.migrate(uri)


def verify(
    *,
    blobs: bool = True,
    checkpoint: Checkpoint | str | os.PathLike[str] | None = None,
    trusted_keys: str | os.PathLike[str] | None = None,
    workspace: Workspace | None = None,
) -> VerifyReport:
    """Check the ledger, its anchors, every sealed run record and every blob of a workspace.

    Args:
        blobs: Re-hash every blob (the slow part).
        checkpoint: A checkpoint (or its file, or JSON text) the ledger must still extend.
        trusted_keys: A trusted-keys file: only its keys may sign.
        workspace: Defaults to the current workspace.
    """
    ws = workspace or get_workspace()
    if ws.settings.server_url is not None:
        raise ConfigurationError(
            f"verify() checks a workspace's own catalog; {ws.settings.server_url} is a server",
            hint="use labledger.verify_server() (or `labledger verify -w URL`) to hold the "
            "server to its history; the server checks its own catalog and blobs",
        )
    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys is not None else None
    return verify_workspace(ws, blobs=blobs, checkpoint=checkpoint, trusted=trusted)


def verify_server(
    *,
    checkpoint: Checkpoint | str | os.PathLike[str] | None = None,
    full: bool = False,
    trusted_keys: str | os.PathLike[str] | None = None,
    keep: bool = True,
    blobs: bool = True,
    workspace: Workspace | None = None,
) -> LedgerCheck:
    """Hold a server to its history: its new signed checkpoint must extend ``checkpoint`` and the
    one this user saw there last (remembered per server in the state folder, with ``keep``).

    That check proves the history of entry hashes; with ``full`` an administrator also walks
    every entry here and has the server re-check its rows, sealed run records and (with
    ``blobs``) every blob against them (``LedgerCheck.served``, its problems among ``problems``):
    an edited row of a sealed run is found there, not by the history alone.

    Args:
        checkpoint: A checkpoint (or its file, or JSON text) the server's ledger must extend.
        full: Also download every entry and walk the chain here (hashes, key history, each
            signature, the root) and have the server re-check itself (administrators only:
            entries describe every project).
        trusted_keys: A trusted-keys file: only its keys may sign.
        keep: Remember the new checkpoint for next time when everything checks out.
        blobs: With ``full``, the server re-hashes every blob too (the slow part).
        workspace: A workspace reached through a server; defaults to the current workspace.

    Raises:
        ConfigurationError: The workspace is not a server's (use ``verify()``).
        PermissionDeniedError: ``full`` by a user who is no administrator.
    """
    from labledger.workspace.ledger_check import check_server

    ws = workspace or get_workspace()
    location = ws.settings.server_url
    if location is None:
        raise ConfigurationError(
            "verify_server() holds a server to its history; this workspace is not a server's",
            hint="use labledger.verify() for a workspace of your own",
        )
    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    result = check_server(
        ws.stores.ledger,
        str(location),
        checkpoint=checkpoint,
        full=full,
        trusted=load_trusted_keys(trusted_keys) if trusted_keys is not None else None,
        keep=keep,
    )
    served_check = getattr(ws.stores.ledger, "served_check", None)
    if full and served_check is not None:
        served = served_check(blobs=blobs)
        found = [f"server: {p['kind']} {p['id']}: {p['reason']}" for p in served["problems"]]
        result = dataclasses.replace(result, served=served, problems=[*result.problems, *found])
    return result


def checkpoint(*, workspace: Workspace | None = None) -> Checkpoint:
    """Sign and store a checkpoint of the ledger (size, Merkle root, time); publish ``to_json()``.

    Against a server, the server signs it with its workspace key.
    """
    return (workspace or get_workspace()).stores.ledger.checkpoint()


def prove(
    ref: str,
    *,
    checkpoint: Checkpoint | str | os.PathLike[str] | None = None,
    workspace: Workspace | None = None,
) -> dict[str, Any]:
    """An inclusion proof (a JSON-able dict) for a run id or an artifact id, name or digest.

    Args:
        ref: What to prove.
        checkpoint: A checkpoint published earlier to prove against; by default a new one.
        workspace: Defaults to the current workspace.
    """
    ws = workspace or get_workspace()
    if checkpoint is None:
        return ws.stores.ledger.proof(ref)
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    return make_proof(ws, ref, checkpoint=checkpoint)


def verify_proof(
    proof: dict[str, Any] | str | os.PathLike[str],
    *,
    trusted_keys: str | os.PathLike[str] | None = None,
    file: str | os.PathLike[str] | None = None,
) -> ProofCheck:
    """Check an inclusion proof (a dict or its file) offline, without any workspace.

    Args:
        proof: What ``prove`` returned, or a file holding it.
        trusted_keys: A trusted-keys file the checkpoint must be signed by.
        file: A file whose bytes must be the proven artifact's.
    """
    document = proof if isinstance(proof, dict) else load_proof(proof)
    trusted = load_trusted_keys(trusted_keys) if trusted_keys is not None else None
    return check_proof(document, trusted=trusted, file=file)
