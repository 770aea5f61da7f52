"""GitHub's rate limits: the primary (core) budget per hour, scripted secondary limits, GraphQL
metered apart, the `x-ratelimit-*` headers every answer carries, and `GET /rate_limit`."""

from __future__ import annotations

import time

from accessctl.emulators.github.wire import GRAPHQL_POINTS, RATE_LIMIT, Routes
from accessctl.emulators.http import JSON, Emulator, Request, Response


class RateLimits(Emulator):
    def __init__(self) -> None:
        super().__init__()
        self.rate_limit = RATE_LIMIT
        """Requests allowed per window (`set_budget`); the primary rate limit."""
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self.graphql_used = 0
        """GraphQL calls answered: GitHub meters GraphQL apart from REST (its own points per
        hour, `x-ratelimit-resource: graphql`), so they never spend `rate_limit`."""
        self.exhausted_status = 403
        """GitHub answers a spent primary limit with 403 or 429 (both documented)."""
        self.limited = 0
        """Requests answered as rate limited (primary or secondary)."""
        self.secondary: list[int] = []
        """Scripted secondary limits: each item answers one request 403 with that Retry-After."""

    def _rate_limit_routes(self) -> Routes:
        return [("GET", "/rate_limit", self._rate_limit)]

    def set_budget(self, limit: int, reset_in: float = 3600.0, status: int = 403,
                   used: int = 0) -> None:
        """A primary rate-limit window of `limit` requests, `used` of them already spent (by
        someone else), resetting `reset_in` seconds from now; past it, requests are answered
        `status` (403 or 429) with x-ratelimit-remaining: 0 and GitHub's documented message.
        The next window is `limit` requests again."""
        with self.lock:
            self.rate_limit, self.rate_used = limit, used
            self.rate_reset = int(time.time() + reset_in)
            self.exhausted_status, self.limited = status, 0

    def _limited(self, path: str) -> Response | None:
        """The rate-limited answer this request gets, if any (GET /rate_limit is free)."""
        if path == "/rate_limit":
            return None
        with self.lock:
            if path == "/graphql":
                self.graphql_used += 1
                return None
            if time.time() >= self.rate_reset:
                self.rate_used, self.rate_reset = 0, int(time.time()) + 3600
            if self.secondary:
                wait = self.secondary.pop(0)
                self.limited += 1
                return Response(403, self.error_body(
                    403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                         "before you try again. If you reach out to GitHub Support for help, "
                         "please include the request ID 0000:0000:000000:000000:00000000."),
                    {"retry-after": str(wait)})
            if self.rate_used >= self.rate_limit:
                self.limited += 1
                return Response(self.exhausted_status, {
                    "message": "API rate limit exceeded for user ID 1. If you reach out to "
                               "GitHub Support for help, please include the request ID "
                               "0000:0000:000000:000000:00000000.",
                    "documentation_url": "https://docs.github.com/rest/overview/"
                                         "rate-limits-for-the-rest-api",
                    "status": str(self.exhausted_status)}, self._rate_headers(remaining=0))
            self.rate_used += 1
        return None

    def _rate_headers(self, remaining: int | None = None, graphql: bool = False
                      ) -> dict[str, str]:
        with self.lock:
            used, limit, reset = self.rate_used, self.rate_limit, self.rate_reset
            if graphql:
                used, limit = self.graphql_used, GRAPHQL_POINTS
        left = max(limit - used, 0) if remaining is None else remaining
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "graphql" if graphql else "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
        }

    def _rate_limit(self, request: Request) -> JSON:
        headers = self._rate_headers()
        core = {"limit": self.rate_limit, "remaining": int(headers["x-ratelimit-remaining"]),
                "reset": int(headers["x-ratelimit-reset"]),
                "used": int(headers["x-ratelimit-used"])}
        search = {"limit": 30, "remaining": 30, "reset": core["reset"], "used": 0}
        return {"resources": {"core": core, "search": search}, "rate": core}
