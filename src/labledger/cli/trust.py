"""``labledger checkpoint``, ``proof`` and ``verify-proof``: anchors and proofs of the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import command, console, err_console, format_time, print_json
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.workspace.trusted_keys import TrustedKey

__all__ = ["TrustedKeysOption", "checkpoint_command", "proof_command", "verify_proof_command"]

TrustedKeysOption = Annotated[
    Path | None,
    typer.Option(
        "--trusted-keys",
        metavar="FILE",
        envvar="LABLEDGER_TRUSTED_KEYS",
        show_default=False,
        help="Pinned public keys (`labledger keys export`): only they may sign.",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", show_default=False, help="Write to FILE, not stdout."
    ),
]


def load_trusted(path: Path | None) -> list[TrustedKey] | None:
    """The keys a ``--trusted-keys`` file pins, or ``None`` when none is given."""
    if path is None:
        return None
    from labledger.workspace.trusted_keys import load_trusted_keys

    return load_trusted_keys(path)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(Text(f"wrote {output}"))


@command
def checkpoint_command(
    output: OutputOption = None,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Make the stored Merkle tree again from the entries first."),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Sign a checkpoint of the ledger (size, Merkle root, time, workspace) and print it.

    Keep it outside the workspace (a paper, a release note, another system): `labledger verify
    --checkpoint FILE` then proves nothing before it was cut, rewritten or forked.

    Example:

        labledger checkpoint -o checkpoint.json
    """
    from labledger.workspace.log_tree import rebuild_tree

    with open_workspace(workspace) as ws:
        if rebuild:
            with ws.write() as conn:
                rebuild_tree(conn)
        made = ws.stores.ledger.checkpoint()
    _write(made.to_json(), output)
    signers = ", ".join(s.actor for s in made.signatures) or "nobody (unsigned)"
    err_console.print(
        Text(f"checkpoint of {made.size} entries, root {made.root[:16]}..., signed by {signers}")
    )


@command
def proof_command(
    ref: Annotated[
        str, typer.Argument(metavar="RUN|ARTIFACT", help="A run id, or an artifact id/name/digest.")
    ],
    output: OutputOption = None,
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE|JSON",
            show_default=False,
            help="Prove against this checkpoint, published earlier, instead of a new one.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write an inclusion proof: the entry that vouches for a run or artifact, in a signed checkpoint.

    Anyone can check it offline with `labledger verify-proof FILE`, without the workspace. With
    --checkpoint, the proof ties the result to a checkpoint you already published.

    Example:

        labledger proof model.skops -o model-proof.json --checkpoint published-checkpoint.json
    """
    from labledger.workspace.checkpoints import load_checkpoint
    from labledger.workspace.proofs import make_proof

    published = load_checkpoint(checkpoint) if checkpoint else None
    with open_workspace(workspace) as ws:
        document = (
            make_proof(ws, ref, checkpoint=published)
            if published is not None
            else ws.stores.ledger.proof(ref)
        )
    _write(json.dumps(document, indent=2) + "\n", output)
    subject = document["subject"]
    err_console.print(
        Text(
            f"proof for {subject['kind']} {subject.get('name') or subject['id']}: entry "
            f"{document['entry']['index'] + 1} of {document['checkpoint']['size']}"
        )
    )


@command
def verify_proof_command(
    proof: Annotated[Path, typer.Argument(metavar="PROOF", help="A proof file.")],
    trusted_keys: TrustedKeysOption = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="FILE",
            show_default=False,
            help="Also check that FILE's bytes are the proven artifact's.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check an inclusion proof (or a checkpoint's signatures) offline, without any workspace.

    Given a checkpoint file instead of a proof, checks who signed it. Exits with status 1 when the
    proof does not hold.

    Example:

        labledger verify-proof model-proof.json --file model.skops --trusted-keys keys.json
    """
    from labledger.workspace.checkpoints import Checkpoint, checkpoint_signature_problems
    from labledger.workspace.proofs import ProofCheck, check_proof, load_proof

    trusted = load_trusted(trusted_keys)
    document = load_proof(proof, allow_checkpoint=True)
    if "checkpoint" not in document:
        made = Checkpoint.from_dict(document)
        problems = [f"checkpoint: {p}" for p in checkpoint_signature_problems(made, trusted)]
        result = ProofCheck({}, made, problems, [])
    else:
        result = check_proof(document, trusted=trusted, file=file)
    checkpoint = result.checkpoint
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "problems": result.problems,
                "notes": result.notes,
                "entry": result.entry,
                "checkpoint": checkpoint.to_dict() if checkpoint else None,
            }
        )
        if not result.ok:
            raise typer.Exit(1)
        return
    for problem in result.problems:
        typer.echo(f"problem: {problem}")
    entry = result.entry
    if entry:
        console.print(
            Text(
                f"entry: {entry.get('kind')} {entry.get('subject')} by {_author(entry)} "
                f"at {format_time(entry.get('created_at'))}"
            )
        )
        typer.echo(f"payload: {json.dumps(entry.get('payload'), sort_keys=True)[:2000]}")
    if checkpoint is not None:
        signers = ", ".join(f"{s.actor} {s.public_key[:16]}..." for s in checkpoint.signatures)
        typer.echo(
            f"checkpoint: workspace {checkpoint.workspace}, {checkpoint.size} entries, "
            f"root {checkpoint.root}, {format_time(checkpoint.time)}, "
            f"signed by {signers or 'nobody'}"
        )
    for note in result.notes:
        typer.echo(f"note: {note}")
    if not result.ok:
        console.print(Text("FAILED: see the problems above", style="red"))
        raise typer.Exit(1)
    what = (
        "the entry is in the checkpoint's ledger" if entry else "the checkpoint's signatures hold"
    )
    console.print(Text(f"ok: {what}", style="green"))


def _author(entry: dict[str, Any]) -> str:
    """Who an entry is by: a server writes an entry for a signed-in user as its own actor, and
    names the user in the payload as ``by``."""
    actor = str(entry.get("actor"))
    payload = entry.get("payload")
    by = payload.get("by") if isinstance(payload, dict) else None
    if isinstance(by, str) and by != actor:
        return f"{by} (written by {actor})"
    return actor
