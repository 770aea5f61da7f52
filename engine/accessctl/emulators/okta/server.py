"""The Okta emulator's server: its state, error bodies, injected faults, the response log,
request ids, and cursor pagination with `Link` headers. Authentication is `auth.py`'s; the
directory's routes are `directory.py`'s; `emulator.py` combines them."""

from __future__ import annotations

import itertools
import secrets
import time
from urllib.parse import quote, urlencode

from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response
from accessctl.emulators.okta.sessions import Sessions
from accessctl.emulators.okta.state import (
    AccessToken,
    Group,
    LoggedResponse,
    OAuthClient,
    RoleAssignment,
    User,
)
from accessctl.emulators.okta.wire import (
    MAX_LIMIT,
    TOKEN_LIFETIME,
    RateLimit,
    base62,
    okta_error,
)


class OktaServer(Emulator):
    name = "okta"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        """The SSWS API token."""
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.roles: dict[str, dict[str, RoleAssignment]] = {}
        self.rate = RateLimit()
        self.responses: list[LoggedResponse] = []
        self.clients: dict[str, OAuthClient] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.token_lifetime = TOKEN_LIFETIME
        """Seconds an access token lives (`expires_in`); tests shorten it to see renewal."""
        self._used_jti: set[str] = set()
        self._dpop_nonce = secrets.token_urlsafe(16)
        self._serial = itertools.count(1)
        self.sessions = Sessions()
        """Users' sessions and OAuth tokens, and every revocation of them (sessions.py)."""

    def error_body(self, status: int, message: str) -> JSON:
        if status == 404:
            return okta_error("E0000007", "Not found: Resource not found")
        if status == 405:
            return okta_error("E0000022", "The endpoint does not support the provided HTTP method")
        if status == 429:
            return okta_error("E0000047", "API call exceeded rate limit due to too many requests.")
        if status == 401:
            return okta_error("E0000011", "Invalid token provided")
        return okta_error("E0000009", f"Internal Server Error: {message}")

    def fault_response(self, kind: str) -> Response:
        now = time.time()
        if kind == "429":
            headers = {
                "X-Rate-Limit-Limit": str(self.rate.limit),
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(int(now) + self.faults.retry_after),
            }
            response = Response(429, self.error_body(429, ""), headers)
        else:
            response = Response(int(kind), self.error_body(int(kind), "Service Unavailable"))
            with self.lock:
                response.headers.update(self.rate.headers(now))
        response.headers["X-Okta-Request-Id"] = self._request_id()
        self._log(None, None, response)
        return response

    def _log(self, method: str | None, path: str | None, response: Response) -> None:
        with self.lock:
            self.responses.append(
                LoggedResponse(method, path, response.status, response.body, dict(response.headers))
            )

    def _request_id(self) -> str:
        return "X" + base62(next(self._serial), 19)

    def _link(self, path: str, query: dict[str, str]) -> str:
        encoded = urlencode(query, quote_via=quote)
        return f"{self.base_url}{path}" + (f"?{encoded}" if encoded else "")

    def _page(self, request: Request, items: list[tuple[str, JSON]], default_limit: int
              ) -> Response:
        """One page of `(cursor key, item)` pairs sorted by key, with `Link` self and next."""
        limit_text = request.arg("limit")
        try:
            limit = int(limit_text) if limit_text else default_limit
        except ValueError:
            raise HttpError(400, okta_error("E0000001", "Api validation failed: limit",
                                            ["limit: must be a number"])) from None
        limit = min(max(limit, 1), MAX_LIMIT)
        after = request.arg("after")
        ordered = sorted(items, key=lambda pair: pair[0])
        if after:
            ordered = [pair for pair in ordered if pair[0] > after]
        page = ordered[:limit]
        kept = {k: v[0] for k, v in request.query.items() if k not in ("after",) and v}
        links = [f'<{self._link(request.path, kept)}>; rel="self"']
        if len(ordered) > limit:
            # Okta sends self and next as two Link headers; one comma-joined header is the same
            # field to an HTTP client (RFC 9110 5.3), and aiohttp parses both into `links`.
            links.append(f'<{self._link(request.path, {**kept, "after": page[-1][0]})}>; '
                         'rel="next"')
        return Response(200, [item for _, item in page], {"Link": ", ".join(links)})

    def set_rate_limit(self, limit: int, window: float = 60.0) -> None:
        """Give the org a fresh budget of `limit` requests per `window` seconds."""
        with self.lock:
            self.rate = RateLimit(limit, window)
