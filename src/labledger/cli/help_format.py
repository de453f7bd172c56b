"""How ``--help`` shows options: a flag takes no value, so no type is printed for it.

Typer prints a type for every option, ``<bool>`` for flags such as ``--json`` and ``--help``, which
reads as if the flag wanted a value. The command line shows none for flags.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__ = ["hide_flag_types"]


def hide_flag_types() -> None:
    """Show no type for flags in every command's ``--help`` (idempotent)."""
    original = TyperOption.display_type_rich
    if getattr(original, "_hides_flag_types", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and not self.count:
            return None
        return original(self, ctx)

    display_type_rich._hides_flag_types = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
