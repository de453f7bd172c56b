"""Shared rendering for CLI commands: tables or JSON, and one-line errors that say what to do."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from labledger._foundation.display import short_ids, sparkline

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from labledger.workspace.workspace import Workspace

__all__ = [
    "Column",
    "catalog_short_ids",
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
    "print_uncut",
    "short_id",
    "short_ids",
    "sparkline",
    "user_errors",
]

console = Console()
err_console = Console(stderr=True)
# Output to a pipe or a file is never wrapped at 80 columns: a hint or a command shown in a
# message stays on one line, for ``grep`` and for copying (tables fit by ``print_table``).
console.soft_wrap = not console.is_terminal
err_console.soft_wrap = not err_console.is_terminal


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
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    except (OverflowError, ValueError, TypeError, OSError):
        return str(timestamp)[:40]  # not a time (a forged document, say): show what it holds


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


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """A table column and how it behaves when the terminal is narrow.

    Attributes:
        name: The header.
        drop: 0 for a column always shown; columns with higher numbers are hidden first when
            the table does not fit the terminal (``--wide`` shows them all).
        wrap: Free text that may wrap between words. Other columns keep each value on one line.
        justify: ``left`` or ``right`` (numbers).
    """

    name: str
    drop: int = 0
    wrap: bool = False
    justify: Literal["left", "right"] = "left"


# Each column pads one space either side and the box draws one line between columns and two
# at the edges.
_COLUMN_FRAME = 3
_LONGEST_WORD = 16


def _width_needed(column: Column, cells: Sequence[Text]) -> int:
    """How narrow a column may get: its widest value, or for free text its longest word."""
    widest = max([cell_len(column.name), *(cell.cell_len for cell in cells)])
    if not column.wrap:
        return widest
    words = [cell_len(word) for cell in cells for word in cell.plain.split()]
    return min(widest, max([cell_len(column.name), min(max(words, default=1), _LONGEST_WORD)]))


def _fitting(columns: Sequence[Column], widths: Sequence[int], room: int) -> list[int]:
    """Indexes of the columns to show: all of them, less the most droppable until they fit."""
    shown = list(range(len(columns)))
    while sum(widths[i] + _COLUMN_FRAME for i in shown) + 1 > room:
        droppable = [i for i in shown if columns[i].drop > 0]
        if not droppable:
            break
        # The highest drop number goes first; among equals, the rightmost.
        shown.remove(max(droppable, key=lambda i: (columns[i].drop, i)))
    return shown


def print_table(
    title: str | None,
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[Any]],
    *,
    empty: str = "nothing to show",
    markup: bool = True,
    no_wrap: Sequence[str] = (),
    wide: bool = False,
) -> None:
    """Print rows as a Rich table, or ``empty`` (dimmed) when there are none.

    Cells that are ``rich.text.Text`` are printed as they are; with ``markup=False`` other cells are
    printed literally (so values holding ``[brackets]`` are never read as Rich markup). A column
    given by name alone wraps between words unless it is named in ``no_wrap``; no value is ever
    broken inside a word to fit. When the terminal is too narrow, columns with a ``drop`` number
    are hidden, highest first, and a line says which; ``wide=True`` shows every column, as wide as
    it needs, and so does output to a pipe or a file (no terminal to fit, and a line cut in two
    would break ``grep`` and ``cut``) unless ``COLUMNS`` sets a width.
    """
    wide = wide or (not console.is_terminal and not os.environ.get("COLUMNS"))
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    specs = [Column(c, wrap=c not in no_wrap) if isinstance(c, str) else c for c in columns]
    cells = [[_cell(v, markup) for v in row] for row in rows]
    widths = [_width_needed(spec, [row[i] for row in cells]) for i, spec in enumerate(specs)]
    shown = list(range(len(specs))) if wide else _fitting(specs, widths, console.width)
    if sum(widths[i] + _COLUMN_FRAME for i in shown) + 1 > console.width and not wide:
        # Still too wide: let free text take what is left rather than cropping the table.
        widths = [w if not specs[i].wrap else 1 for i, w in enumerate(widths)]
    table = Table(title=title, header_style="bold", title_justify="left")
    for i in shown:
        spec = specs[i]
        table.add_column(
            spec.name,
            justify=spec.justify,
            no_wrap=not spec.wrap,
            overflow="fold",
            min_width=widths[i],
        )
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    if wide:
        # As wide as the table needs: the terminal may wrap the lines, but no value is cut.
        natural = sum(
            max(c.cell_len for c in [Text(specs[i].name), *(row[i] for row in cells)])
            + _COLUMN_FRAME
            for i in shown
        )
        Console(width=max(console.width, natural + 1)).print(table)
    else:
        console.print(table)
    hidden = [specs[i].name for i in range(len(specs)) if i not in shown]
    if hidden:
        console.print(
            Text(f"hidden to fit the terminal: {', '.join(hidden)} (--wide shows every column)"),
            style="dim",
        )


def print_uncut(renderable: RenderableType) -> None:
    """Print ``renderable`` (a tree, a panel) to fit the terminal; to a pipe or a file (no
    terminal, no ``COLUMNS``), as wide as it needs, so no line of it is cut off."""
    if console.is_terminal or os.environ.get("COLUMNS"):
        console.print(renderable)
        return
    natural = Measurement.get(console, console.options.update_width(100_000), renderable).maximum
    Console(width=max(console.width, natural)).print(renderable)


def _cell(value: Any, markup: bool) -> Text:
    if isinstance(value, Text):
        return value
    return Text.from_markup(format_value(value)) if markup else Text(format_value(value))


def catalog_short_ids(
    workspace: Workspace, ids: Iterable[str | None], *kinds: str
) -> dict[str, str]:
    """Short ids to show: prefixes (8+ characters, one length for all) naming one run or artifact.

    ``kinds`` (``run``, ``artifact``) are the catalog tables the prefix must be unique in, so a
    shown id typed back to any command finds the same row.
    """
    from labledger.workspace import schema
    from labledger.workspace.lookup import unique_prefixes

    tables = {"run": schema.runs, "artifact": schema.artifacts}
    wanted = [i for i in ids if i]
    if workspace.settings.server_url is not None:
        # Reached through a server: there is no catalog here to look prefixes up in.
        return {identifier: identifier for identifier in wanted}
    with workspace.read() as conn:
        found = unique_prefixes(conn, wanted, [tables[k] for k in kinds or ("run",)])
    # One length for the whole column: ids that line up are easier to read and compare.
    width = max((len(prefix) for prefix in found.values()), default=0)
    return {identifier: identifier[:width] for identifier in found}


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
