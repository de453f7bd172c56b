"""Write docs/cli.md: the ``--help`` of every ``labledger`` command, walked from the command tree.

Run ``python scripts/gen_cli_docs.py`` (``--check`` only compares); ``tests/e2e/test_cli_docs.py``
fails when the page is stale. Help is rendered with click's plain formatter at a fixed width, so the
page does not depend on the terminal, colours or Rich.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from typer.main import get_command

from labledger.cli import app

TARGET = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
WIDTH = 100


def _walk(command: Any, path: list[str], parent: Any) -> list[tuple[str, str]]:
    """(command path, plain help) for ``command`` and, depth first, every command under it."""
    context_type = type(parent) if parent is not None else None
    if context_type is None:
        from typer import _click

        context_type = _click.Context
    ctx = context_type(
        command,
        info_name=path[-1],
        parent=parent,
        terminal_width=WIDTH,
        max_content_width=WIDTH,
        **(command.context_settings or {}),
    )
    # Plain click help: Rich panels and styles have no place in a markdown page.
    command.rich_markup_mode = None
    pages = [(" ".join(path), command.get_help(ctx))]
    for name, sub in getattr(command, "commands", {}).items():
        pages += _walk(sub, [*path, name], ctx)
    return pages


def render() -> str:
    """The whole page."""
    lines = [
        "# Command line reference",
        "",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    pages = _walk(get_command(app), ["labledger"], None)
    lines += [f"- [`{path}`](#{path.replace(' ', '-')})" for path, _ in pages]
    lines.append("")
    for path, help_text in pages:
        lines += [f"## {path}", "", "```text", help_text.rstrip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    page = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != page:
            print(f"{TARGET} is out of date; run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(page, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
