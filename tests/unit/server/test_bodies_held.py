"""Request bodies held in memory are bounded, in all and by caller (``BodiesHeld``)."""

from __future__ import annotations

import asyncio

import pytest

from labledger.server.errors import ServerBusyError
from labledger.server.middleware import BodiesHeld


def test_a_caller_past_its_share_is_busy_and_others_go_on() -> None:
    held = BodiesHeld(limit=100, per_caller=40)
    blocked = asyncio.Event()

    async def request(caller: bytes, sizes: list[int], stay: bool = False) -> str:
        try:
            for size in sizes:
                held.take(caller, size)
            if stay:
                await blocked.wait()
            return "ok"
        except ServerBusyError as exc:
            return exc.message
        finally:
            held.release(caller)

    async def scenario() -> None:
        slow = asyncio.create_task(request(b"mallory", [30], stay=True))
        await asyncio.sleep(0)
        assert held.total == 30
        # mallory's second body would pass her share; alice still gets hers
        assert "of yours" in await request(b"mallory", [5, 6])
        assert await request(b"alice", [40]) == "ok"
        assert held.total == 30 and held.by_caller == {b"mallory": 30}
        blocked.set()
        assert await slow == "ok"
        assert held.total == 0 and held.by_caller == {}

    asyncio.run(scenario())


def test_the_whole_bound_holds_across_callers() -> None:
    held = BodiesHeld(limit=50, per_caller=40)

    async def scenario() -> None:
        gate = asyncio.Event()

        async def hold(caller: bytes) -> None:
            held.take(caller, 30)
            try:
                await gate.wait()
            finally:
                held.release(caller)

        first = asyncio.create_task(hold(b"a"))
        await asyncio.sleep(0)
        with pytest.raises(ServerBusyError, match="too many request bodies still"):
            held.take(b"b", 30)
        held.release(b"b")  # nothing was counted for it
        assert held.total == 30
        gate.set()
        await first
        assert held.total == 0

    asyncio.run(scenario())
