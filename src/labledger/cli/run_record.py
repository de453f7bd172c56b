"""``labledger runs record``: record a finished run from the shell, with its params, metrics, tags
and files, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labledger._foundation.errors import ValidationError
from labledger.cli.console import command, print_json
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace
from labledger.tracking.checks import check_key, check_name

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["record_command", "split_pairs"]


def split_pairs(pairs: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``["lr=0.1", "model=gbm"]`` as ``[("lr", "0.1"), ("model", "gbm")]``, split at the first
    ``=``; an item without one, or with nothing before it, is a ValidationError naming ``option``.
    """
    found = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(
                f"{option} {pair!r} is not KEY=VALUE",
                hint=f"write it as {option} name=value, e.g. {option} lr=0.1",
            )
        found.append((key.strip(), value))
    return found


def _once(pairs: list[tuple[str, str]], option: str) -> dict[str, str]:
    """The pairs as a dict; a key given twice with two values is a ValidationError."""
    found: dict[str, str] = {}
    for key, value in pairs:
        if found.setdefault(key, value) != value:
            raise ValidationError(
                f"{option} {key} is given twice, as {found[key]!r} and {value!r}",
                hint=f"give each {option} key once",
            )
    return found


def _metric_values(pairs: Sequence[str]) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for key, text in split_pairs(pairs, "--metric"):
        try:
            value = float(text)
        except ValueError:
            raise ValidationError(
                f"--metric {key}={text!r}: the value is not a number",
                hint="a metric is a number, e.g. --metric auc=0.91; text goes in --param or --tag",
            ) from None
        series.setdefault(check_key(key, "metric"), []).append(value)
    return series


def _files(items: Sequence[str]) -> list[tuple[str, Path]]:
    """``(name, path)`` of each ``--artifact PATH`` or ``NAME=PATH``, checked as a run's artifacts
    would be: each path there, no two of one name, no folder holding a symbolic link."""
    found: list[tuple[str, Path]] = []
    for item in items:
        path = Path(item)
        name, sep, rest = item.partition("=")
        if not path.exists() and sep and name:
            path = Path(rest)
        else:
            name = path.resolve().name if path.name in ("", ".", "..") else path.name
        if not path.exists():
            raise ValidationError(
                f"--artifact {item}: no such file or folder",
                hint="give the path of a file or folder to keep with the run (NAME=PATH names it)",
            )
        odd = _odd_entry(path)
        if odd is not None:
            raise ValidationError(
                f"--artifact {item}: {odd}",
                hint="give regular files, or folders of regular files (copy the link targets in)",
            )
        found.append((check_name(name, "artifact"), path))
    names = [name for name, _ in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValidationError(
            f"two artifacts would be named {twice[0]!r}: a run's artifact names are unique",
            hint=f"name one yourself: --artifact other-{twice[0]}=PATH",
        )
    return found


def _odd_entry(path: Path) -> str | None:
    """What keeps ``path`` from being stored (a link, a pipe, a device), or ``None``."""
    entries = [path, *path.rglob("*")] if path.is_dir() and not path.is_symlink() else [path]
    for entry in entries:
        if entry.is_symlink():
            where = "is" if entry == path else f"holds {entry.relative_to(path)}, which is"
            return f"{where} a symbolic link"
        if not (entry.is_file() or entry.is_dir()):
            where = "is" if entry == path else f"holds {entry.relative_to(path)}, which is"
            return f"{where} not a regular file (a pipe, socket or device)"
    return None


@command
def record_command(
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="The run's name.")
    ] = None,
    project: Annotated[
        str, typer.Option("--project", "-p", metavar="PROJECT", help="The run's project.")
    ] = "default",
    params: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="KEY=VALUE", help="A param; repeat for more."),
    ] = None,
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            metavar="KEY=NUMBER",
            help="A metric value; repeat for more. Values of one key form its series, steps "
            "0, 1, 2... in the order given.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="KEY=VALUE", help="A tag; repeat for more."),
    ] = None,
    artifacts: Annotated[
        list[str] | None,
        typer.Option(
            "--artifact",
            metavar="PATH",
            help="A file or folder to store as an artifact of the run, named after it (NAME=PATH "
            "names it); repeat for more.",
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Record a finished run: its params, metrics, tags and files, for scripts in any language.

    Everything given is checked before the run is opened, so a mistake records nothing. The run
    gets the environment and git state of where the command runs, like a run started in Python.
    Prints the new run's id (with --json, the run as `runs show --json` gives it, in short).

    Example:

        labledger runs record --name baseline --param lr=0.1 --metric auc=0.91 --artifact model.pt
    """
    from labledger.tracking.run import start_run

    param_pairs = _once(split_pairs(params or [], "--param"), "--param")
    tag_pairs = _once(split_pairs(tags or [], "--tag"), "--tag")
    series = _metric_values(metrics or [])
    files = _files(artifacts or [])
    with (
        open_workspace(workspace) as ws,
        start_run(name, params=param_pairs, tags=tag_pairs, project=project, workspace=ws) as run,
    ):
        for key, values in series.items():
            for step, value in enumerate(values):
                run.log_metric(key, value, step=step)
        stored = [run.log_artifact(path, name=name) for name, path in files]
    if as_json:
        print_json(
            {
                "id": run.id,
                "name": run.name,
                "project": project,
                "status": run.status,
                "params": param_pairs,
                "metrics": {key: values[-1] for key, values in series.items()},
                "tags": tag_pairs,
                "artifacts": [{"id": a.id, "name": a.name, "digest": a.digest} for a in stored],
            }
        )
    else:
        typer.echo(run.id)
