"""Several httpx connection pools side by side, for an async SDK under many concurrent calls.

httpcore's pool walks every connection (and polls each idle one's socket) each time a request
starts or ends, and counts the idle ones once per connection while doing so: the work per request
grows with the square of the connections. At 32 changes in flight over one pool of 32
connections that bookkeeping, on the one event loop thread the async SDK runs on, costs more CPU
than the requests themselves, and holds a run to about 130 requests a second whatever its
concurrency. Lanes of at most `per_lane` connections each keep every pool small; a request goes
to the lane with the fewest requests in flight, so a few calls share one lane and its warm
connections, and many calls spread over all of them. Every connection is kept alive between
requests (httpx keeps only 20 by default: past that, each request would open a new one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

LANES = 8
PER_LANE = 8
"""8 x 8: as many connections as the largest --concurrency (64)."""


class LaneTransport(httpx.AsyncBaseTransport):
    def __init__(self, lanes: int = LANES, per_lane: int = PER_LANE) -> None:
        limits = httpx.Limits(max_connections=per_lane, max_keepalive_connections=per_lane)
        # One TLS context for all lanes: each costs ~20 ms of CPU to load the CA bundle.
        tls = httpx.create_ssl_context()
        self._pools = [httpx.AsyncHTTPTransport(limits=limits, verify=tls)
                       for _ in range(lanes)]
        self._busy = [0] * lanes
        """Requests in flight per lane, from the request until its response is closed (all of
        it runs on one event loop: no lock needed)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lane = min(range(len(self._busy)), key=self._busy.__getitem__)
        self._busy[lane] += 1
        try:
            response = await self._pools[lane].handle_async_request(request)
        except BaseException:
            self._busy[lane] -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(status_code=response.status_code, headers=response.headers,
                              stream=_Counted(response.stream, self._busy, lane),
                              extensions=response.extensions)

    def in_flight(self) -> list[int]:
        return list(self._busy)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Counted(httpx.AsyncByteStream):
    """A response body that frees its lane when closed (once)."""

    def __init__(self, stream: httpx.AsyncByteStream, busy: list[int], lane: int) -> None:
        self._stream = stream
        self._busy = busy
        self._lane = lane
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._open:
                self._open = False
                self._busy[self._lane] -= 1
