"""The shared event loop of the async SDK providers (Okta, Entra): callers on many threads."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from accessctl.providers.background_loop import BackgroundLoop

WORKERS = 8


def test_calls_from_many_threads_run_side_by_side_on_one_loop() -> None:
    loop = BackgroundLoop("test")
    arrived = 0
    everyone_here: asyncio.Event | None = None
    loops_seen: set[int] = set()

    async def meet() -> int:
        # Each call waits until all have started: one call at a time would never get past this.
        nonlocal arrived, everyone_here
        if everyone_here is None:
            everyone_here = asyncio.Event()
        loops_seen.add(id(asyncio.get_running_loop()))
        arrived += 1
        if arrived == WORKERS:
            everyone_here.set()
        await asyncio.wait_for(everyone_here.wait(), timeout=10)
        return threading.get_ident()

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            threads = list(pool.map(lambda _: loop.run(meet()), range(WORKERS)))
    finally:
        loop.close()
    assert arrived == WORKERS
    assert len(loops_seen) == 1, "every call ran on the one loop"
    assert len(set(threads)) == 1, "every coroutine ran on the loop's own thread"
    assert threads[0] != threading.get_ident()


def test_an_exception_reaches_the_caller_and_the_loop_goes_on() -> None:
    loop = BackgroundLoop("test")

    async def fail() -> None:
        raise LookupError("no such group")

    async def answer() -> int:
        return 42

    try:
        with pytest.raises(LookupError, match="no such group"):
            loop.run(fail())
        assert loop.run(answer()) == 42
    finally:
        loop.close()


def test_close_runs_the_cleanups_stops_the_thread_and_a_later_call_starts_afresh() -> None:
    loop = BackgroundLoop("test-close")
    closed: list[str] = []

    async def first_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def cleanup() -> None:
        closed.append("http client")

    before = loop.run(first_loop())
    loop.close(cleanup)
    assert closed == ["http client"]
    assert before.is_closed()
    assert not [t for t in threading.enumerate() if t.name == "test-close"]
    after = loop.run(first_loop())
    assert after is not before and not after.is_closed()
    loop.close()


def test_a_loop_nobody_closes_stops_its_thread_when_dropped() -> None:
    import gc

    loop = BackgroundLoop("test-dropped")

    async def running() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    inner = loop.run(running())
    del loop
    gc.collect()
    assert inner.is_closed()
    assert not [t for t in threading.enumerate() if t.name == "test-dropped"]
