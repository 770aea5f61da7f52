"""What one answer of the okta SDK says: its status and headers, the next page's cursor, how
long the rate limit asks to wait, and the engine's error for a failure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from accessctl.core.retry_after import http_date, retry_after, until_reset
from accessctl.providers.base import NotFound, ProviderError


def error_for(error: BaseException | None, status: int | None, headers: Mapping[str, str],
              subject: str) -> ProviderError:
    """The engine's error for a failed call: NotFound, retryable (429, 5xx, no answer) with
    how long to wait, or plain."""
    code = str(getattr(error, "error_code", "") or "")
    summary = str(getattr(error, "error_summary", "") or "") or str(error or "") or "no detail"
    message = " ".join(part for part in ("Okta HTTP", str(status), code) if part) + f": {summary}"
    if status == 404:
        return NotFound(f"{subject}: {summary}")
    if status == 429:
        return ProviderError(message, retryable=True, retry_after=seconds_to_reset(headers))
    if status is None or status >= 500:
        # No status: the SDK failed before or after the exchange (e.g. its timeout check).
        return ProviderError(message if status else f"Okta call failed: {summary}",
                             retryable=True, retry_after=_retry_after(headers))
    return ProviderError(message)


def status_of(part: Any) -> int | None:
    for name in ("status", "status_code"):
        value = getattr(part, name, None)
        if isinstance(value, int):
            return value
    return None


def headers_of(part: Any) -> Mapping[str, str]:
    for name in ("headers", "response_headers"):
        value = getattr(part, name, None)
        if value:
            return _flatten(value)
    return {}


def _flatten(headers: Any) -> dict[str, str]:
    """Headers as a plain dict; repeated ones (Okta sends two `Link`s) joined with commas."""
    getall = getattr(headers, "getall", None)
    flat: dict[str, str] = {}
    for key in headers:
        if key in flat:
            continue
        values = getall(key) if getall is not None else [headers[key]]
        flat[key] = ", ".join(str(v) for v in values)
    return flat


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def next_cursor(headers: Mapping[str, str]) -> str | None:
    link = header(headers, "Link")
    if not link:
        return None
    from okta.pagination import PaginationHelper

    cursor = PaginationHelper.extract_next_cursor({"Link": link})
    return str(cursor) if cursor else None


def seconds_to_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until `X-Rate-Limit-Reset` (epoch seconds), measured against the server's `Date`
    when it sent one, so that a skewed local clock does not matter."""
    reset = header(headers, "X-Rate-Limit-Reset")
    if reset is None:
        return _retry_after(headers)
    now = http_date(header(headers, "Date")) or datetime.now(UTC)
    wait = until_reset(reset, now)
    return None if wait is None else wait + 1.0  # the reset has one-second granularity


def _retry_after(headers: Mapping[str, str]) -> float | None:
    return retry_after(header(headers, "Retry-After"), datetime.now(UTC))
