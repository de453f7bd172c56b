"""What a step needs to run: CPUs, memory and GPUs, mapped onto executor resources."""

from __future__ import annotations

import re
from dataclasses import dataclass

from labledger._foundation.errors import ValidationError

__all__ = ["Resources", "parse_memory"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_IUNITS = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)


def parse_memory(value: int | str) -> int:
    """Bytes from ``4096``, ``"512MB"``, ``"4GiB"`` or ``"2g"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _MEMORY.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(
            f"memory {value!r} is not a size", hint='use bytes or a size such as "4GiB" or "512MB"'
        )
    unit = (match.group(2) or "").lower()
    factor = _IUNITS.get(unit) or _UNITS[unit[:1]]
    return int(float(match.group(1)) * factor)


@dataclass(frozen=True, slots=True)
class Resources:
    """Resources one task of a step needs.

    Args:
        cpus: CPU cores.
        memory: Bytes, or a size such as ``"4GiB"``.
        gpus: GPU devices.
    """

    cpus: float = 1.0
    memory: int | str | None = None
    gpus: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.cpus, int | float) or self.cpus <= 0:
            raise ValidationError(f"cpus={self.cpus!r} must be a positive number")
        if not isinstance(self.gpus, int) or self.gpus < 0:
            raise ValidationError(f"gpus={self.gpus!r} must be a whole number >= 0")
        if self.memory is not None:
            parse_memory(self.memory)

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_memory(self.memory)

    def as_dict(self) -> dict[str, float]:
        """The resources as Dask names them (``CPU``, ``MEMORY``, ``GPU``), zero ones left out."""
        wanted: dict[str, float] = {"CPU": float(self.cpus)}
        if self.memory_bytes:
            wanted["MEMORY"] = float(self.memory_bytes)
        if self.gpus:
            wanted["GPU"] = float(self.gpus)
        return wanted
