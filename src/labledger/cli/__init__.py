"""The ``labledger`` command line: one module per command group, each a thin shell over the API.

Commands parse their arguments, call one public function and render the result with
:mod:`labledger.cli.console`. Library code is imported inside command bodies, so ``labledger --help``
starts without loading data libraries.
"""

from __future__ import annotations

from typing import Annotated

import typer

from labledger.cli import artifacts, collections, keys, metadata, projects, runs, tokens, users
from labledger.cli.backup import backup_command, restore_command
from labledger.cli.demo import demo as demo_command
from labledger.cli.help_format import hide_flag_types
from labledger.cli.lineage import lineage_command, prov_command
from labledger.cli.login import login_command, logout_command
from labledger.cli.pipelines import reproduce_command, run_command
from labledger.cli.search import search_command
from labledger.cli.server import server_command
from labledger.cli.status import status_command
from labledger.cli.trust import checkpoint_command, proof_command, verify_proof_command
from labledger.cli.workspace import gc, init, migrate, verify

__all__ = ["app", "main"]

hide_flag_types()

app = typer.Typer(
    name="labledger",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from labledger import __version__

        typer.echo(f"labledger {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Pipelines, lineage, experiment tracking and a tamper-evident ledger for research teams.

    Commands find the workspace from --workspace/-w, LABLEDGER_URI or the nearest .labledger folder.

    Example:

        labledger init && labledger runs list
    """


app.command("init")(init)
app.command("migrate")(migrate)
app.command("verify")(verify)
app.command("gc")(gc)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("checkpoint")(checkpoint_command)
app.command("proof")(proof_command)
app.command("verify-proof")(verify_proof_command)
app.command("search")(search_command)
app.command("demo")(demo_command)
app.command("lineage")(lineage_command)
app.command("prov")(prov_command)
app.command("run")(run_command)
app.command("reproduce")(reproduce_command)
app.command("status")(status_command)
app.command("server")(server_command)
app.command("login")(login_command)
app.command("logout")(logout_command)
app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(metadata.app, name="metadata")
app.add_typer(collections.app, name="collections")
app.add_typer(keys.app, name="keys")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(projects.app, name="projects")


def main() -> None:
    """Run the command line (the ``labledger`` console script)."""
    app(prog_name="labledger")
