"""Shared rendering for CLI commands: tables or JSON, and one-line errors that say what to do."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from labledger._foundation.display import short_ids, sparkline

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "command",
    "console",
    "err_console",
    "fail",
    "format_bytes",
    "format_duration",
    "format_time",
    "format_value",
    "print_json",
    "print_table",
    "short_id",
    "short_ids",
    "sparkline",
    "user_errors",
]

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


def format_duration(seconds: float | None) -> str:
    """A duration as ``850ms``, ``12.3s``, ``4m05s`` or ``2h03m``; empty when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(size: int | None) -> str:
    """A byte count as ``512 B``, ``1.5 KiB``, ``3.2 MiB``..."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_id(identifier: str | None) -> str:
    """The first 8 characters of an id."""
    return "" if identifier is None else identifier[:8]


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    empty: str = "nothing to show",
    markup: bool = True,
    no_wrap: Sequence[str] = (),
) -> None:
    """Print rows as a Rich table, or ``empty`` (dimmed) when there are none.

    Cells that are ``rich.text.Text`` are printed as they are; with ``markup=False`` other cells are
    printed literally (so values holding ``[brackets]`` are never read as Rich markup). Columns
    named in ``no_wrap`` (ids, times) keep their values on one line; the others fold.
    """
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    table = Table(title=title, header_style="bold", title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    for row in rows:
        table.add_row(*(_cell(v, markup) for v in row))
    console.print(table)


def _cell(value: Any, markup: bool) -> str | Text:
    if isinstance(value, Text):
        return value
    return format_value(value) if markup else Text(format_value(value))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    # Escaped and never wrapped: the message is one line, whatever brackets or width it has.
    err_console.print(
        f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
    )
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
