"""Time-ordered identifiers (UUIDv7, RFC 9562), so ids sort by creation time in every index."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_id", "timestamp_of"]

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id() -> str:
    """A new UUIDv7 as a 36-character string; strictly increasing within a process."""
    global _last_ms, _counter  # noqa: PLW0603 - monotonic counter is process state by design
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            # Same millisecond (or the clock went back): keep order with a 12-bit counter.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            now_ms = _last_ms
        else:
            _last_ms = now_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF
        rand_a = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (now_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    # The canonical 8-4-4-4-12 text, formatted directly (uuid.UUID would double the cost).
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def timestamp_of(id_: str) -> float:
    """Creation time (Unix seconds) encoded in a UUIDv7."""
    return (uuid.UUID(id_).int >> 80) / 1000.0
