"""``labledger backup`` and ``labledger restore``: thin shells over ``labledger.workspace.backup``."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import (
    command,
    console,
    err_console,
    format_bytes,
    format_duration,
    print_json,
    print_table,
)
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.workspace.backup import BackupReport

__all__ = ["backup_command", "restore_command"]

_PHASES = {
    "checking": "checking backup",
    "copying": "copying blobs",
    "ledger": "checking ledger",
    "runs": "checking runs",
    "blobs": "re-hashing blobs",
}


class _Bars:
    """One rich progress bar per phase; the copying phase counts bytes, the others items."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description:<17}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            label = _PHASES.get(phase, phase)
            self.tasks[phase] = self.progress.add_task(label, total=total, amount="")
        amount = (
            f"{format_bytes(done)} / {format_bytes(total)}"
            if phase == "copying"
            else f"{done}/{total}"
        )
        self.progress.update(self.tasks[phase], completed=done, total=total, amount=amount)


def _with_bars(action: Callable[[Callable[[str, int, int], None]], BackupReport]) -> BackupReport:
    bars = _Bars()
    with bars.progress:
        return action(bars)


def _fields(report: BackupReport) -> dict[str, Any]:
    verify = report.verify
    return {
        "destination": report.destination,
        "catalog": report.catalog_kind,
        "catalog_bytes": report.catalog_bytes,
        "blobs": report.blobs,
        "copied": report.copied,
        "already_there": report.present,
        "bytes_copied": report.bytes_copied,
        "missing": report.missing,
        "corrupt": report.corrupt,
        "key_copied": report.key_copied,
        "checkpoint": report.checkpoint.to_dict() if report.checkpoint else None,
        "schema_revision": report.revision,
        "outdated": report.outdated,
        "seconds": round(report.seconds, 3),
        "problems": verify.problems if verify else [],
        "ok": report.ok,
    }


def _rows(report: BackupReport) -> Iterator[list[Any]]:
    yield ["catalog", f"{report.catalog_kind}, {format_bytes(report.catalog_bytes)}"]
    yield ["blobs referenced", report.blobs]
    yield ["blobs copied", f"{report.copied} ({format_bytes(report.bytes_copied)})"]
    yield ["already there", report.present]
    if report.missing or report.corrupt:
        yield ["missing / corrupt in source", f"{len(report.missing)} / {len(report.corrupt)}"]
    yield ["workspace key", "copied" if report.key_copied else "none"]
    if report.checkpoint is not None:
        yield [
            "ledger checkpoint",
            f"{report.checkpoint.size} entries, root {report.checkpoint.root[:16]}...",
        ]
    if report.revision:
        yield [
            "schema revision",
            report.revision + (" (older than this labledger's)" if report.outdated else ""),
        ]
    verify = report.verify
    if verify is not None and report.outdated:
        yield ["verified", f"{verify.blobs_checked} blobs, {', '.join(verify.anchors)}"]
    elif verify is not None:
        yield ["verified", f"{verify.entries_checked} entries, {verify.blobs_checked} blobs"]
    yield ["took", format_duration(report.seconds)]


def _render(report: BackupReport, title: str, as_json: bool) -> None:
    if as_json:
        print_json(_fields(report))
    else:
        print_table(title, ["what", "value"], list(_rows(report)), markup=False)
        if report.ok:
            console.print(Text(f"ok: {report.destination} verifies", style="green"))
        if report.outdated:
            then = "restore it, " if title == "backup" else ""
            typer.echo(
                f"the catalog is at schema revision {report.revision}: its ledger is verified "
                f"once the workspace is migrated ({then}`labledger migrate`, `labledger verify`)"
            )
        for problem in report.verify.problems if report.verify else []:
            typer.echo(f"{problem.kind} {problem.id}: {problem.reason}")
    if not report.ok:
        raise typer.Exit(1)


@command
def backup_command(
    destination: Annotated[
        Path,
        typer.Argument(
            metavar="DEST",
            help="Backup folder (created when missing); best on another disk or machine.",
            show_default=False,
        ),
    ],
    rehash_all: Annotated[
        bool,
        typer.Option(
            "--rehash-all",
            help="Re-hash every blob the backup holds, not only those copied now, and copy "
            "damaged ones again (reads the whole backup).",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Back up the workspace into DEST while it is in use, then verify the backup.

    The catalog is copied first as one snapshot, then every blob it references, by digest: a
    second backup into the same DEST copies only what is new. A PostgreSQL catalog is dumped with
    pg_dump. A catalog that needs `labledger migrate` is backed up as it is (do this before
    migrating). Exits with status 1 when a blob is missing or the backup does not verify.

    Example:

        labledger backup /mnt/backups/assay-2024
    """
    from labledger.workspace.backup import backup_workspace, open_for_backup

    # Not open_workspace: a catalog that needs `labledger migrate` must be backed up first.
    with open_for_backup(workspace) as ws:
        if as_json:
            report = backup_workspace(ws, destination, rehash_all=rehash_all)
        else:
            report = _with_bars(
                lambda bars: backup_workspace(ws, destination, rehash_all=rehash_all, progress=bars)
            )
    _render(report, "backup", as_json)


@command
def restore_command(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SRC", help="A folder written by `labledger backup`.", show_default=False
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="FOLDER|URL",
            show_default=False,
            help="Where to restore: a folder (default: the current one), or for a PostgreSQL "
            "backup the URL of an empty database (blobs go to LABLEDGER_STORE).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the catalog of a workspace already there (blobs are kept)."
        ),
    ] = False,
    blobs_only: Annotated[
        bool,
        typer.Option(
            "--blobs-only",
            help="Keep this workspace's catalog; only put back the blobs it needs that are "
            "missing or damaged (what verify reports), taken from the backup.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into a new workspace, then verify it.

    Refuses a folder that already holds a workspace, or a database with tables, unless --force.
    --force rolls the catalog back to the backup (work since is lost); --blobs-only keeps it and
    only puts back missing or damaged blobs.

    Example:

        labledger restore /mnt/backups/assay-2024 --to ~/studies/assay-2024
    """
    from labledger.workspace.backup import restore_workspace

    if blobs_only:
        _restore_blobs(source, to, as_json)
        return
    if as_json:
        report = restore_workspace(source, to, force=force)
    else:
        report = _with_bars(lambda bars: restore_workspace(source, to, force=force, progress=bars))
    _render(report, "restore", as_json)


def _restore_blobs(source: Path, to: str | None, as_json: bool) -> None:
    from labledger.workspace.blob_restore import restore_blobs

    with open_workspace(to) as ws:
        done = restore_blobs(ws, source)
    if as_json:
        print_json({"restored": done.restored, "unavailable": done.unavailable})
    else:
        for digest in done.restored:
            typer.echo(f"restored {digest}")
        for digest in done.unavailable:
            typer.echo(f"not in the backup (or damaged there too): {digest}")
        typer.echo(f"{len(done.restored)} blob(s) put back; run `labledger verify` to check")
    if done.unavailable:
        raise typer.Exit(1)
