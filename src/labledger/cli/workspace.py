"""Workspace commands: ``init``, ``migrate``, ``verify`` and ``gc``."""

from __future__ import annotations

import dataclasses
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
from labledger.cli.trust import TrustedKeysOption, load_trusted
from labledger.workspace.gc import DEFAULT_GRACE_S

if TYPE_CHECKING:
    from labledger.workspace.gc import GcReport
    from labledger.workspace.verify import VerifyReport

__all__ = ["gc", "init", "migrate", "verify"]


@command
def init(
    path: Annotated[
        Path | None,
        typer.Argument(
            metavar="PATH",
            help="Folder to create the workspace in; defaults to LABLEDGER_URI or the current folder.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a workspace (a .labledger folder) in PATH, or open the one already there.

    Example:

        labledger init ~/studies/assay-2024
    """
    from labledger.workspace.workspace import Workspace

    with Workspace.init(path) as ws:
        where = ws.settings.root or ws.settings.catalog_url.split("@")[-1]
        folder = ws.settings.root is not None
    console.print(Text.assemble(("workspace ready: ", "bold green"), str(where)))
    if folder:
        steps = (
            "  python -c \"import labledger; labledger.start_run(params={'lr': 0.1}).end()\"\n"
            "  labledger runs list\n"
            "  labledger verify"
        )
    else:
        # A database catalog is a team's: its people work through a server, as themselves. The
        # URL came from the command line or from LABLEDGER_URI, which the next command reads too.
        where_flag = " -w URL" if path is not None else ""
        steps = (
            f"  labledger users create admin --admin{where_flag}   # then a token each: tokens create\n"
            "  labledger server --catalog URL --store STORE  # see docs/server.md"
        )
    console.print(Text("next steps:\n" + steps))


@command
def migrate(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Bring the workspace's catalog to the schema this labledger needs.

    Opening a workspace never migrates it; after upgrading labledger, commands say when this is
    needed. Back up first (`labledger backup`). Running it twice, or from two places at once, is
    safe: the second finds nothing to do.

    Example:

        labledger backup /mnt/backups/assay-2024 && labledger migrate
    """
    from labledger.workspace.api import migrate as migrate_workspace

    migration = migrate_workspace(workspace)
    if as_json:
        print_json(
            {
                "from_revision": migration.from_revision,
                "to_revision": migration.to_revision,
                "changed": migration.changed,
            }
        )
    elif migration.changed:
        before = migration.from_revision or "no schema"
        console.print(
            Text.assemble(("migrated: ", "bold green"), f"{before} → {migration.to_revision}")
        )
    else:
        console.print(
            Text(f"already at the newest schema ({migration.to_revision})", style="green")
        )


def _verify_with_progress(uri: str | None, blobs: bool, **anchors: Any) -> VerifyReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from labledger.workspace.verify import verify_workspace

    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn())
    with open_workspace(uri) as ws, Progress(*columns, console=err_console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"checking {phase}", total=total)
            bar.update(tasks[phase], completed=done)

        return verify_workspace(ws, blobs=blobs, progress=progress, **anchors)


def _print_verify(report: VerifyReport, blobs: bool) -> None:
    rows: list[list[Any]] = [
        ["ledger entries", report.entries_checked],
        ["checked against", "; ".join(report.anchors) or "nothing kept outside the catalog"],
        ["sealed runs", report.runs_checked],
        ["blobs re-hashed", report.blobs_checked if blobs else "skipped (--no-blobs)"],
        ["problems", len(report.problems)],
    ]
    if report.signers:
        signed = ", ".join(
            f"{actor}: {count} {'entry' if count == 1 else 'entries'}"
            for actor, count in report.signers.items()
        )
        rows.insert(1, ["signed entries, by signer", signed])
    print_table("verify", ["checked", "count"], rows, markup=False)
    if report.ok:
        what = "the ledger, its anchors, rows, run records and blobs"
        if not blobs:
            what = "the ledger, its anchors, rows and run records (blobs not re-hashed)"
        console.print(Text(f"ok: {what} all check out", style="green"))
        if not report.anchors:
            typer.echo(
                "note: nothing outside the catalog vouched for the ledger; keep a checkpoint "
                "(`labledger checkpoint -o FILE`) and pass it with --checkpoint next time"
            )
        return
    for problem in report.problems:
        # Plain lines, one per problem, so they can be grepped and never wrap mid-digest.
        typer.echo(f"{problem.kind} {problem.id}: {problem.reason}")
    hints = list(dict.fromkeys(p.hint for p in report.problems if p.hint))
    if hints:
        typer.echo("what to do:")
        for hint in hints:
            typer.echo(f"  - {hint}")


@command
def verify(
    no_blobs: Annotated[
        bool, typer.Option("--no-blobs", help="Skip re-hashing blobs (the slow part).")
    ] = False,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE|JSON",
            show_default=False,
            help="A checkpoint the ledger must still extend (file or its JSON text).",
        ),
    ] = None,
    trusted_keys: TrustedKeysOption = None,
    no_state: Annotated[
        bool,
        typer.Option(
            "--no-state",
            help="Neither check against nor remember what you last verified here.",
        ),
    ] = False,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget",
            help="Forget what you last verified here first (after restoring an older backup "
            "on purpose), then verify and remember the result.",
        ),
    ] = False,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Against a server: also walk every ledger entry here and have the server "
            "re-check its rows, run records and blobs (administrators).",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check the ledger, its checkpoints and signatures, every run record, every blob's digest.

    The ledger must extend the given --checkpoint and what you last verified of this workspace
    (kept in your state folder, see LABLEDGER_STATE_DIR); with --trusted-keys only pinned keys may
    sign. Exits with status 1 and lists each problem (kind, id, reason) when anything fails.

    Against a server (LABLEDGER_URI=https://...), the server's new signed checkpoint must extend
    --checkpoint and the one you saw there last: proof that it did not cut, rewrite or fork its
    history since (any member). --full (administrators) also walks every entry here and has the
    server re-check its rows, run records and blobs (--no-blobs to skip those).

    Example:

        labledger verify --checkpoint checkpoint.json --trusted-keys keys.json
    """
    from labledger.workspace.checkpoints import load_checkpoint

    if _is_server(workspace):
        _verify_server(
            workspace,
            checkpoint,
            trusted_keys,
            full=full,
            keep=not no_state,
            blobs=not no_blobs,
            as_json=as_json,
        )
        return

    if forget:
        from labledger.workspace.verify_state import forget_state

        with open_workspace(workspace) as ws:
            forget_state(ws)
    anchors: dict[str, Any] = {
        "checkpoint": load_checkpoint(checkpoint) if checkpoint else None,
        "trusted": load_trusted(trusted_keys),
        "remember": not no_state,
    }
    if as_json:
        from labledger.workspace.verify import verify_workspace

        with open_workspace(workspace) as ws:
            report = verify_workspace(ws, blobs=not no_blobs, **anchors)
        print_json({**_report_fields(report), "ok": report.ok})
    else:
        report = _verify_with_progress(workspace, not no_blobs, **anchors)
        _print_verify(report, not no_blobs)
    if not report.ok:
        raise typer.Exit(1)


def _is_server(uri: str | None) -> bool:
    from labledger._foundation.settings import resolve_settings

    return resolve_settings(uri, must_exist=False).server_url is not None


def _verify_server(
    uri: str | None,
    checkpoint: str | None,
    trusted_keys: Path | None,
    *,
    full: bool,
    keep: bool,
    blobs: bool,
    as_json: bool,
) -> None:
    from labledger._foundation.errors import PermissionDeniedError
    from labledger.workspace.api import verify_server

    with open_workspace(uri) as ws:
        location = str(ws.settings.server_url)
        try:
            result = verify_server(
                checkpoint=checkpoint or None,
                full=full,
                trusted_keys=trusted_keys,
                keep=keep,
                blobs=blobs,
                workspace=ws,
            )
        except PermissionDeniedError as exc:
            if not full:
                raise
            # Only administrators read every entry; any member holds the server to its history.
            raise PermissionDeniedError(
                f"{exc.message}: --full downloads every entry of every project",
                hint="leave out --full: `labledger verify` checks the server's signed history "
                "for any member",
            ) from exc
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "server": location,
                "checkpoint": result.checkpoint.to_dict(),
                "previous_size": result.previous.size if result.previous else None,
                "entries_walked": result.walked,
                "server_check": result.served,
                "problems": result.problems,
            }
        )
    elif result.ok:
        held = (
            f"extends the {result.previous.size} entries seen before"
            if result.previous
            else "is the first seen from this server; remembered for next time"
        )
        walked = f"; {result.walked} entries walked here" if full else ""
        if result.served is not None:
            served = result.served
            hashed = f", {served['blobs_checked']} blobs" if blobs else " (blobs not re-hashed)"
            walked += (
                f"; the server re-checked {served['runs_checked']} run records and "
                f"{served['entries_checked']} entries{hashed}"
            )
        console.print(
            Text(
                f"ok: the server's ledger of {result.checkpoint.size} entries, signed by "
                f"{', '.join(s.actor for s in result.checkpoint.signatures) or 'nobody'}, "
                f"{held}{walked}",
                style="green",
            )
        )
    else:
        for problem in result.problems:
            typer.echo(f"ledger: {problem}")
    if not result.ok:
        raise typer.Exit(1)


def _report_fields(report: VerifyReport) -> dict[str, object]:
    return {
        "entries_checked": report.entries_checked,
        "blobs_checked": report.blobs_checked,
        "runs_checked": report.runs_checked,
        "tree_size": report.tree_size,
        "tree_root": report.tree_root,
        "anchors": report.anchors,
        "signers": report.signers,
        "problems": report.problems,
    }


def _blobs(count: int) -> str:
    return f"{count} blob" + ("" if count == 1 else "s")


def _print_gc(report: GcReport, grace_s: float) -> None:
    dry = report.dry_run
    moved = report.unreferenced if dry else report.trashed
    for digest in moved:
        typer.echo(f"{'would move' if dry else 'moved'} {digest} to the trash")
    for digest in report.restored:
        typer.echo(f"{'would restore' if dry else 'restored'} {digest} (referenced again)")
    for digest in report.deleted:
        typer.echo(f"{'would delete' if dry else 'deleted'} {digest}")
    if report.linked:
        typer.echo(
            f"kept {_blobs(report.linked)} hard-linked to your files (removing frees nothing)"
        )
    if not (moved or report.restored or report.deleted or report.pending):
        console.print(Text("nothing to remove: every blob old enough is referenced", style="green"))
        return
    summary = (
        f"{'would move' if dry else 'moved'} {_blobs(len(moved))} to the trash, "
        f"{'would delete' if dry else 'deleted'} {_blobs(len(report.deleted))} "
        f"({format_bytes(report.freed_bytes)} {'would be ' if dry else ''}freed)"
    )
    console.print(Text(summary, style="bold"))
    if report.pending:
        typer.echo(
            f"{_blobs(report.pending)} in the trash: a gc once they have been there "
            f"{format_duration(grace_s)} deletes those still unreferenced"
        )


@command
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only report what would be removed.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            metavar="SECONDS",
            help="The grace period: keep unreferenced blobs younger than this many seconds (they "
            "may belong to a write in progress), and keep blobs in the trash this long before "
            "deleting them. 0 deletes at once, which is unsafe while anything writes.",
        ),
    ] = DEFAULT_GRACE_S,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delete blobs that nothing in the catalog references, keeping recent ones.

    Unreferenced blobs older than the grace period move to the trash; a later gc, once they have
    been there for the grace period, deletes those still unreferenced. Reading a blob in the
    trash, or referencing it again, takes it back out.

    Example:

        labledger gc --dry-run
    """
    from labledger.workspace.gc import collect_garbage

    with open_workspace(workspace) as ws:
        report = collect_garbage(ws, dry_run=dry_run, grace_s=grace)
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        _print_gc(report, grace)
