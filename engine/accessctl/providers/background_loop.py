"""One event loop on its own thread, shared by every caller of an async SDK.

The Okta and Graph SDKs are async; the engine calls providers from a pool of threads. Driving a
private loop with `run_until_complete` from each of those threads fails ("This event loop is
already running") the moment two changes meet. Here the loop runs forever on one daemon thread and
every caller hands it a coroutine: the calls run concurrently on that loop, each caller blocks only
on its own result, and the SDK's clients (bound to the loop that first used them) always see the
same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """Start on first use, thread-safe, closed by `close()` or when its owner is collected."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run the awaitable on the loop and wait for it; its exception is raised here."""
        future = asyncio.run_coroutine_threadsafe(_awaited(awaitable), self._started())
        return future.result()

    def close(self, *cleanups: Callable[[], Awaitable[Any]]) -> None:
        """Run the cleanups on the loop (best effort), then stop and close it. A later `run`
        starts a fresh loop."""
        with self._lock:
            loop, thread, finalizer = self._loop, self._thread, self._finalizer
            self._loop = self._thread = self._finalizer = None
        if finalizer is not None:
            finalizer.detach()
        if loop is not None and thread is not None:
            _shutdown(loop, thread, cleanups)

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                # Owners may never call close(): stop the thread when this object goes away.
                self._finalizer = weakref.finalize(self, _shutdown, loop, thread, ())
            return self._loop


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread,
              cleanups: tuple[Callable[[], Awaitable[Any]], ...]) -> None:
    if loop.is_closed():
        return
    for cleanup in cleanups:
        # Best effort: the process may be exiting, and a connection closed late is no loss.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_awaited(cleanup()), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=10)
    if not loop.is_running():
        loop.close()


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable
