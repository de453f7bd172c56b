"""``labledger search``: find runs and artifacts by text and metadata field conditions."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import catalog_short_ids, command, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

__all__ = ["search_command"]


def _highlighted(snippet: str) -> Text:
    # The search marks hits as [word]; show them bold, and print everything else literally.
    text = Text()
    position = 0
    for match in re.finditer(r"\[([^\[\]]*)\]", snippet):
        text.append(snippet[position : match.start()])
        text.append(match.group(1), style="bold")
        position = match.end()
    text.append(snippet[position:])
    return text


@command
def search_command(
    text: Annotated[
        str | None, typer.Argument(help="Words to find in names, params, tags and metadata.")
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            metavar="CONDITIONS",
            help="Field conditions, e.g. 'concentration_um > 10 and cell_line = HeLa'.",
            show_default=False,
        ),
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only this kind: run or artifact; repeat for both."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", help="At most this many results (1-1000).")
    ] = 50,
    json_out: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Search runs and artifacts by text, metadata field conditions, or both.

    Example:

        labledger search "viability" --where 'concentration_um > 10 and cell_line = HeLa'
    """
    from labledger.metadata import search

    with open_workspace(workspace) as ws:
        hits = search(
            text, where=where, kinds=kinds or ("run", "artifact"), limit=limit, workspace=ws
        )
        if json_out:
            print_json(hits)
            return
        # Prefixes unique in the catalog, not only among these hits: typed back to any command,
        # a shown id finds the same run or artifact (against a server, the whole id).
        shown = catalog_short_ids(ws, [h.id for h in hits], "run", "artifact")
    # A text score's scale means nothing to a reader (a BM25 rank on SQLite, ts_rank on
    # PostgreSQL): the table shows it against the best hit's; --json keeps the raw score.
    best = max((h.score for h in hits), default=0.0)
    rows = [
        (
            h.kind,
            shown[h.id],
            Text(h.title),
            _highlighted(h.snippet),
            f"{h.score / best:.2f}" if text and best > 0 else None,
        )
        for h in hits
    ]
    print_table(
        None,
        ["kind", "id", "title", "match", "relevance"],
        rows,
        empty="no matches",
        no_wrap=["id"],
    )
