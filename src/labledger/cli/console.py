"""Shared rendering for CLI commands: tables or JSON, and one-line errors that say what to do."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "fail", "format_time", "print_json", "print_table", "user_errors"]

console = Console()
err_console = Console(stderr=True)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Print a value (dataclasses included) as JSON on stdout, unstyled."""
    typer.echo(json.dumps(_jsonable(value), indent=2, sort_keys=True))


def format_time(timestamp: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS``, or an empty string."""
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_value(value: Any) -> str:
    """A cell value as text; floats with up to 6 significant digits."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    empty: str = "nothing to show",
) -> None:
    """Print rows as a Rich table, or ``empty`` (dimmed) when there are none."""
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    table = Table(title=title, header_style="bold", title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(format_value(v) for v in row))
    console.print(table)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn labledger errors into a one-line message and exit code 1 (tracebacks stay for bugs)."""
    from labledger._foundation.errors import LabledgerError

    try:
        yield
    except LabledgerError as exc:
        fail(str(exc))


def command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command so labledger errors print as one line."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return func(*args, **kwargs)

    return wrapper
