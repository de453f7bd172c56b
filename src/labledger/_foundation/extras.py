"""What to install for an optional part of labledger: one hint, worded the same everywhere."""

from __future__ import annotations

import importlib.util

__all__ = ["install_hint", "missing_extras"]

# The module each extra brings that labledger looks for first.
_MODULES = {
    "server": "fastapi",
    "postgres": "psycopg",
    "s3": "s3fs",
    "dask": "distributed",
    "ml": "matplotlib",
    "interop": "prov",
}


def install_hint(*extras: str) -> str:
    """``pip install 'labledger[a,b]'``, and the same for a clone of the source."""
    names = ",".join(extras)
    return (
        f"pip install 'labledger[{names}]' (in a clone of the source: pip install -e '.[{names}]')"
    )


def missing_extras(*extras: str) -> list[str]:
    """The extras among ``extras`` whose packages are not installed."""
    return [extra for extra in extras if importlib.util.find_spec(_MODULES[extra]) is None]
