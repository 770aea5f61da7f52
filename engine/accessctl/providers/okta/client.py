"""One okta SDK session of an Okta instance: the client (built on first use, renewed when Okta
refuses its access token), the event loop its coroutines run on, one call at a time with its
answer read, paging, and the pause a spent rate limit asks for.

The SDK is async; the provider is sync, so each provider runs the SDK's coroutines on one event loop
of its own thread (`BackgroundLoop`), where calls from the engine's worker threads run side by side.
The SDK opens a fresh aiohttp session per request, so nothing outlives a call but the loop itself.
Its own rate-limit retries are switched off (`rateLimit.maxRetries: 0`) so that the engine's
`call_with_retry` is the one retry loop, and transport failures (which the SDK would otherwise turn
into an `AttributeError` on a missing response) are raised from a thin `HTTPClient` subclass.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from accessctl.core.model import ProviderInstance
from accessctl.providers.background_loop import BackgroundLoop
from accessctl.providers.base import ProviderError
from accessctl.providers.okta.auth import OktaAuth, refused_access_token
from accessctl.providers.okta.responses import (
    error_for,
    header,
    headers_of,
    next_cursor,
    seconds_to_reset,
    status_of,
)

_MAX_PAGES = 100_000  # a server that keeps answering `rel="next"` must not loop us forever


class _TransportError(Exception):
    """The request never got an HTTP answer (refused, reset, timed out)."""


class OktaSession(OktaAuth):
    """The SDK client and the calls every part of the Okta provider makes."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        settings = instance.settings
        self._org_url = str(settings.get("org_url", "")).rstrip("/")
        self._timeout = float(settings.get("timeout_seconds") or 30)
        self._loop = BackgroundLoop(f"okta-{instance.name}")
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._paused_until = 0.0
        """Monotonic time until which the last successful answer said the budget is spent."""

    def close(self) -> None:
        """Stop the event loop's thread (the SDK holds no connection between calls)."""
        self._loop.close()

    def _all_pages(self, call: Callable[[Any, str | None], Awaitable[Any]], subject: str
                   ) -> list[Any]:
        """Every item of a listing, following the `after` cursor in `Link: <...>; rel="next"`."""
        items: list[Any] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            page, headers = self._run(functools.partial(_with_cursor, call, after), subject)
            items.extend(page or [])
            cursor, after = after, next_cursor(headers)
            if after is None or after == cursor:
                return items
        raise ProviderError(f"Okta kept paging {subject} past {_MAX_PAGES} pages")

    # -- one SDK call ----------------------------------------------------------------------------
    def _run(self, call: Callable[[Any], Awaitable[Any]], subject: str
             ) -> tuple[Any, Mapping[str, str]]:
        """Run one SDK call to completion; its result and response headers, or a mapped error."""
        wait, self._paused_until = self._paused_until - time.monotonic(), 0.0
        if wait > 0:
            # The last answer said the budget is spent: calling now would only earn a 429. Say
            # once how long to wait; the engine's retry loop decides, and its next try goes out.
            raise ProviderError("Okta rate limit spent (X-Rate-Limit-Remaining: 0)",
                                retryable=True, retry_after=wait)
        client = self._sdk()
        returned = self._call(client, call)
        if self._auth == "private_key" and refused_access_token(returned):
            # The SDK keeps its access token until its own clock says it expires, and never
            # drops one that Okta refuses (revoked, or the clocks disagree). A new client
            # fetches a fresh token; the call goes out once more with it.
            returned = self._call(self._renewed_sdk(client), call)
        return self._unpack(returned, subject)

    def _call(self, client: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return self._loop.run(call(client))
        except _TransportError as error:
            raise ProviderError(f"Okta unreachable: {error}", retryable=True) from None

    def _unpack(self, returned: Any, subject: str) -> tuple[Any, Mapping[str, str]]:
        """The SDK answers tuples whose shape differs by outcome: success is
        `(result, ApiResponse, None)`; an HTTP error is `(ClientResponse, OktaAPIError)` or
        `(None, ClientResponse, OktaAPIError)`; a request that could not be built `(None, error)`.
        """
        parts = returned if isinstance(returned, tuple) else (returned,)
        error = next((p for p in reversed(parts) if isinstance(p, BaseException)), None)
        response = next((p for p in parts if status_of(p) is not None), None)
        status = status_of(error) or status_of(response)
        headers = headers_of(error) or headers_of(response)
        if error is None and (status is None or status < 400):
            self._note_rate_limit(headers)
            return parts[0], headers
        if self._auth == "private_key":
            explained = self._explain_oauth_failure(error, status, headers, subject)
            if explained is not None:
                raise explained
        raise error_for(error, status, headers, subject)
    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        remaining = header(headers, "X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            wait = seconds_to_reset(headers)
            if wait is not None:
                self._paused_until = time.monotonic() + wait

    def _sdk(self) -> Any:
        with self._client_lock:  # worker threads share one client
            return self._client or self._new_sdk_client()

    def _renewed_sdk(self, refused: Any) -> Any:
        """A client other than `refused`: a new one, unless another thread already made it (so
        that threads refused at once fetch one token between them, not one each)."""
        with self._client_lock:
            if self._client is refused:
                self._client = None
            return self._client or self._new_sdk_client()

    def _new_sdk_client(self) -> Any:
        if self._client is None:
            config: dict[str, Any] = {
                "orgUrl": self._org_url,
                # One retry loop (the engine's): the SDK's own would sleep and multiply attempts.
                "rateLimit": {"maxRetries": 0},
                "requestTimeout": self._timeout,
                "httpClient": _raising_http_client(),
                **self._credentials(),
            }
            from okta.client import Client

            _ignore_sdk_config_files()
            try:
                self._client = Client(config)
            except ValueError as error:  # the SDK's configuration check (https, token, ...)
                raise ProviderError(f"Okta client configuration: {error}".strip()) from None
        return self._client

def _raising_http_client() -> type[Any]:
    """The SDK's HTTP client, raising on transport failures instead of returning a bare error."""
    from okta.http_client import HTTPClient

    class RaisingHTTPClient(HTTPClient):
        async def send_request(self, request: Any) -> Any:
            sent: Any = await super().send_request(request)  # type: ignore[no-untyped-call]
            if sent[1] is None and sent[3] is not None:
                raise _TransportError(f"{type(sent[3]).__name__}: {sent[3]}")
            return sent

    return RaisingHTTPClient



def _with_cursor(call: Callable[[Any, str | None], Awaitable[Any]], cursor: str | None,
                 client: Any) -> Awaitable[Any]:
    return call(client, cursor)


def _ignore_sdk_config_files() -> None:
    """The okta SDK merges `okta.yaml` from the working directory (in CI: the access repository,
    whose files anyone may propose) and `~/.okta/okta.yaml` into every client's settings, a proxy
    included, which would route the token and every call through it. The engine's settings come
    from providers.yaml and the environment only: point the SDK's two paths at nothing."""
    from okta.config import config_setter

    # os.path.exists("") is False: the SDK skips both files.
    config_setter._LOCAL_YAML_PATH = ""  # type: ignore[attr-defined]
    config_setter._GLOBAL_YAML_PATH = ""  # type: ignore[attr-defined]

