"""Rules about metric names: which direction is better, and which metrics a runs table shows.

**Lower is better** for a metric whose name contains ``loss`` or ``error``, or has one of the words
in :data:`LOWER_IS_BETTER_WORDS` (words are the name's parts between ``_``, ``-``, ``.``, ``/`` and
spaces): ``val_loss``, ``logloss``, ``rmse``, ``cv_auc_std``, ``score_variance``, ``fit_time``.
Every other metric is higher-is-better. ``compare_runs(higher_is_better=[...])`` overrides the
rule for named metrics.

**Default columns** of a runs table: the metrics of the most recent runs that have metrics (up to
:data:`RECENT_RUNS` of them), most widespread first (ties by name), skipping names that look
internal (starting with ``_`` or ``system/``), at most ``limit`` of them.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.tracking.types import Run

__all__ = [
    "LOWER_IS_BETTER_WORDS",
    "RECENT_RUNS",
    "default_metric_keys",
    "looks_internal",
    "lower_is_better",
]

LOWER_IS_BETTER_WORDS = frozenset(
    {
        "err",
        "rmse",
        "mse",
        "mae",
        "mape",
        "std",
        "stddev",
        "sd",
        "sem",
        "var",
        "variance",
        "time",
        "duration",
        "latency",
        "runtime",
        "elapsed",
        "seconds",
        "perplexity",
    }
)
"""Words of a metric name that make it lower-is-better (``loss`` and ``error`` match anywhere)."""
RECENT_RUNS = 20
"""How many of the most recent runs with metrics choose a runs table's default metric columns."""
_WORDS = re.compile(r"[^a-z0-9]+")
_INTERNAL_PREFIXES = ("_", "system/", "sys/")


def lower_is_better(key: str) -> bool:
    """Whether a smaller value of metric ``key`` is the better one (see the module's rule)."""
    name = key.lower()
    if "loss" in name or "error" in name:
        return True
    return any(word in LOWER_IS_BETTER_WORDS for word in _WORDS.split(name))


def looks_internal(key: str) -> bool:
    """Whether a metric name looks like bookkeeping rather than a result (``_step``, ``system/cpu``)."""
    return key.lower().startswith(_INTERNAL_PREFIXES)


def default_metric_keys(runs: Sequence[Run], limit: int) -> list[str]:
    """The metrics a table of ``runs`` shows when none are chosen (see the module's rule)."""
    recent = sorted((run for run in runs if run.metrics), key=lambda run: -run.started_at)
    counts = Counter(
        key for run in recent[:RECENT_RUNS] for key in run.metrics if not looks_internal(key)
    )
    return sorted(counts, key=lambda key: (-counts[key], key))[:limit]
