"""A stopped buffer is left alone by the background thread, even one that already held it."""

from __future__ import annotations

import threading

from labledger.tracking.metric_buffer import MetricBuffer, MetricRow


def test_a_tick_after_stop_writes_nothing() -> None:
    written: list[list[MetricRow]] = []
    buffer = MetricBuffer(written.append)
    buffer.start()
    buffer.rows.append(("loss", 1.0, 0, 1.0, 1))
    buffer.stop()
    # The thread took its list of buffers before ``stop`` and ticks this one late.
    buffer._tick(0.1)
    assert written == []
    assert buffer.drain() == [("loss", 1.0, 0, 1.0, 1)]


def test_stop_waits_for_a_flush_in_progress() -> None:
    entered, release = threading.Event(), threading.Event()
    written: list[list[MetricRow]] = []

    def slow_write(rows: list[MetricRow]) -> None:
        entered.set()
        release.wait(5)
        written.append(rows)

    buffer = MetricBuffer(slow_write)
    buffer.start()
    buffer.rows.append(("loss", 1.0, 0, 1.0, 1))
    ticking = threading.Thread(target=buffer._tick, args=(0.1,))
    ticking.start()
    assert entered.wait(5)
    stopped = threading.Event()
    stopper = threading.Thread(target=lambda: (buffer.stop(), stopped.set()))
    stopper.start()
    assert not stopped.wait(0.2)  # held until the write ends
    release.set()
    ticking.join(5)
    stopper.join(5)
    assert stopped.is_set()
    assert written == [[("loss", 1.0, 0, 1.0, 1)]]
    buffer.rows.append(("loss", 0.5, 1, 2.0, 2))
    buffer._tick(0.1)
    assert len(written) == 1
