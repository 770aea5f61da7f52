"""One Graph session of an Entra instance: the SDK client (built on first use, with the
engine's retry loop as the only one), the event loop its coroutines run on, paging read as
plain JSON, and the mapping of Graph's and the transport's failures to the engine's errors.

msgraph-sdk is async; the provider is sync, so each provider runs the SDK's coroutines on one event
loop of its own thread (`BackgroundLoop`), where calls from the engine's worker threads run side by
side over one HTTP client. The SDK and azure-identity are imported only when the first call is made.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Awaitable, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from accessctl.core.model import ProviderInstance
from accessctl.core.retry_after import retry_after
from accessctl.providers.background_loop import BackgroundLoop
from accessctl.providers.base import NotFound, ProviderError
from accessctl.providers.entra.auth import make_credential
from accessctl.providers.entra.schema import DEFAULT_GRAPH_URL, GUID
from accessctl.providers.observed import ObservedMembers

_GUID_RE = re.compile(GUID)
_MAX_PAGES = 10_000  # a server that keeps answering nextLinks must not loop us forever

T = TypeVar("T")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    return retry_after(value, datetime.now(UTC))


def odata_code(error: BaseException) -> tuple[str, str]:
    """Graph's error code and message from an ODataError (empty strings when absent)."""
    main = getattr(error, "error", None)
    code = getattr(main, "code", None) or ""
    message = getattr(main, "message", None) or getattr(error, "message", None) or str(error)
    return str(code), str(message)


def translate(error: BaseException, subject: str) -> ProviderError | None:
    """The engine's error for an SDK or transport failure, or None when it is neither."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(error, ProviderError):
        return error
    if isinstance(error, APIError):
        status = error.response_status_code or 0
        code, message = odata_code(error)
        text = f"Graph {status} {code}: {message} ({subject})"
        if status == 404:
            return NotFound(f"{subject} not found in Entra ID ({code}: {message})")
        retryable = status in (408, 429) or status >= 500
        retry_after = _retry_after(error.response_headers) if retryable else None
        return ProviderError(text, retryable=retryable, retry_after=retry_after)
    if isinstance(error, httpx.TransportError):  # timeouts, refused, reset, dropped
        return ProviderError(f"Graph unreachable ({subject}): {error!r}", retryable=True)
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:  # pragma: no cover - azure-core ships with msgraph-sdk
        return None
    if isinstance(error, ClientAuthenticationError):
        return ProviderError(f"Entra ID authentication failed: {error.message}")
    return None


def is_guid(value: str) -> bool:
    return bool(_GUID_RE.match(value))


def odata_string(value: str) -> str:
    """An OData string literal: single quotes inside are doubled, so input cannot end it."""
    return "'" + value.replace("'", "''") + "'"


class GraphSession:
    """The client, the loop and the calls every part of the Entra provider makes."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        settings = instance.settings
        self.graph_url = str(settings.get("graph_url", DEFAULT_GRAPH_URL)).rstrip("/")
        self.lookup = str(settings.get("user_lookup", "userPrincipalName"))
        self.page_size = int(settings.get("page_size", 999))
        self.timeout = float(settings.get("timeout_seconds", 30))
        self.pim_poll_timeout = float(settings.get("timeout_seconds", 30))
        """How long a grant waits for a PIM request to be provisioned before it is retried."""
        self._loop = BackgroundLoop(f"entra-{instance.name}")
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._owned: list[Any] = []  # HTTP clients and transports to close with the loop
        self._user_ids: dict[str, str] = {}
        """Principal key -> object id, from look-ups and from the member lists observe read
        (a revoke of an observed member needs no look-up). Touched only on the loop's thread."""
        self._ids = ObservedMembers()
        """Target display -> its holders' principal keys -> their object ids, as observed."""

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._client_lock:  # worker threads share one client
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> Any:
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        from accessctl.providers.http_lanes import LaneTransport

        host = urlsplit(self.graph_url).hostname or ""
        credential = make_credential(self.instance.settings, self._environ)
        scopes = [f"https://{host}/.default"]
        auth = AzureIdentityAuthenticationProvider(credential, scopes=scopes, allowed_hosts=[host])
        # One retry loop (the engine's): the SDK's RetryHandler would multiply attempts and
        # sleep on Retry-After itself.
        options = {**graph_options,
                   RetryHandlerOption.get_key(): RetryHandlerOption(delay=0, max_retries=0)}
        # Graph's transport wrapper does not close what it wraps: keep the real one to close.
        # Lanes of small pools: one big httpcore pool costs CPU quadratic in its connections
        # on the one loop thread (see http_lanes).
        transport = LaneTransport()
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=transport,
                                     timeout=httpx.Timeout(self.timeout, connect=10)),
            options=options,
        )
        self._owned.extend([http, transport])
        adapter = _adapter_class()(auth, client=http)
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coroutine)

    def close(self) -> None:
        """Release the HTTP connections and the event loop (a later call starts afresh)."""
        with self._client_lock:
            owned, self._owned, self._client = self._owned, [], None
        self._loop.close(*(http.aclose for http in owned))

    async def _call(self, awaitable: Awaitable[T], subject: str) -> T:
        try:
            return await awaitable
        except Exception as error:
            mapped = translate(error, subject)
            if mapped is None:
                raise
            raise mapped from None

    async def _pages(self, builder: Any, config: Any, subject: str) -> list[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink`, as plain JSON objects.

        The SDK builds each request (URL, auth, error mapping), but the pages are read as JSON:
        its models cost ~20 ms per entity to deserialize, which would make observing a group of
        a few thousand members take minutes.
        """
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        adapter = self.client.request_adapter
        info = builder.to_get_request_information(config)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            raw = await self._call(
                adapter.send_primitive_async(info, "bytes", {"XXX": ODataError}), subject
            )
            page = json.loads(raw) if raw else {}
            items.extend(v for v in page.get("value") or [] if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            if not link:
                return items
            if link in seen or len(seen) >= _MAX_PAGES:
                raise ProviderError(f"Graph paging did not end for {subject}")
            seen.add(link)
            info = builder.with_url(link).to_get_request_information()

    async def _object(self, builder: Any, config: Any, subject: str) -> dict[str, Any]:
        """One entity as plain JSON (as `_pages` reads collections: the SDK's User model alone
        costs ~30 ms of CPU to deserialize, a look-up per grant)."""
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        info = builder.to_get_request_information(config)
        raw = await self._call(
            self.client.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError}),
            subject,
        )
        found = json.loads(raw) if raw else {}
        return found if isinstance(found, dict) else {}


def _adapter_class() -> Any:
    """Graph's request adapter, expanding each request's URL template once: kiota reads the
    URL three times per request (authentication, the request, tracing) and expands the RFC
    6570 template each time, about a millisecond of CPU on the loop thread every one of them.
    """
    from msgraph.graph_request_adapter import GraphRequestAdapter

    class PinnedUrls(GraphRequestAdapter):
        def set_base_url_for_request_information(self, request_info: Any) -> None:
            super().set_base_url_for_request_information(request_info)
            request_info.url = request_info.url  # expanded once, kept as the raw URL

    return PinnedUrls
