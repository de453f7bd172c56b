"""Why a run search found nothing: the keys its filter names that no run has, and the close keys
runs do have (``metrics.acu``: did you mean ``metrics.auc``?).

Asked only when a search comes back empty, through the same ``search_runs`` as any search (so it
works against a server as well), with a bounded number of small searches.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger.stores.run_filters import And, Comparison, Not, Or
from labledger.tracking.filter_parser import parse_filter
from labledger.tracking.query import search_runs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.stores.run_filters import Node
    from labledger.workspace.workspace import Workspace

__all__ = ["UnknownKey", "unknown_keys"]

_KEYED = ("metrics", "params", "tags")
_MOST_NAMES = 10  # names of a filter looked up, at most
_SAMPLE_RUNS = 200  # the newest runs whose keys are offered as near misses


@dataclass(frozen=True, slots=True)
class UnknownKey:
    """A name in a filter that no run (of the project searched) has.

    Attributes:
        name: As the filter wrote it: ``metrics.acu``.
        suggestion: A close name that recent runs have (``metrics.auc``), or ``None``.
    """

    name: str
    suggestion: str | None


def _names(node: Node | None) -> Iterator[tuple[str, str]]:
    if isinstance(node, Comparison):
        if node.target in _KEYED:
            yield node.target, node.key
    elif isinstance(node, (And, Or)):
        for operand in node.operands:
            yield from _names(operand)
    elif isinstance(node, Not):
        yield from _names(node.operand)


def unknown_keys(
    filter_text: str, *, project: str | None = None, workspace: Workspace | None = None
) -> list[UnknownKey]:
    """The ``metrics.``, ``params.`` and ``tags.`` names of ``filter_text`` that no run has, each
    with the closest name the newest runs have."""
    names = list(dict.fromkeys(_names(parse_filter(filter_text))))[:_MOST_NAMES]
    missing = [
        (target, key)
        for target, key in names
        if not search_runs(
            f"{target}.`{key}` is not null" if "`" not in key else f'{target}."{key}" is not null',
            max_results=1,
            project=project,
            workspace=workspace,
        )
    ]
    if not missing:
        return []
    known: dict[str, set[str]] = {target: set() for target in _KEYED}
    for run in search_runs(max_results=_SAMPLE_RUNS, project=project, workspace=workspace):
        known["metrics"].update(run.metrics)
        known["params"].update(run.params)
        known["tags"].update(run.tags)
    found = []
    for target, key in missing:
        close = difflib.get_close_matches(key, sorted(known[target]), n=1, cutoff=0.6)
        found.append(UnknownKey(f"{target}.{key}", f"{target}.{close[0]}" if close else None))
    return found
