"""How long a server asked us to wait: the one reader of Retry-After and of rate-limit resets.

`Retry-After` is either a number of seconds or an HTTP-date (RFC 9110 10.2.3); rate-limit reset
headers (GitHub's `x-ratelimit-reset`, GitLab's `RateLimit-Reset`, Okta's `X-Rate-Limit-Reset`)
are UTC epoch seconds. Both become seconds to wait from `now`, never negative; a value that is
neither gives None (the caller backs off on its own). Pure: the caller passes the clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_SECONDS = 366 * 24 * 3600.0
"""Longer than any platform asks: a larger value is a misread header, treated as unknown."""


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from `now` for a Retry-After `value` (delta-seconds or HTTP-date)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _until_date(text, now)
    return _bounded(seconds)


def until_reset(epoch: str | float | None, now: datetime) -> float | None:
    """Seconds from `now` until the UTC epoch second `epoch` (a reset header), 0 when past."""
    if epoch is None:
        return None
    try:
        moment = float(epoch)
    except ValueError:
        return None
    if not math.isfinite(moment):
        return None
    return _bounded(moment - now.timestamp())


def http_date(text: str | None) -> datetime | None:
    """The moment an HTTP-date names (IMF-fixdate, RFC 850 or asctime; RFC 9110 5.6.7), in UTC;
    None when `text` is not one. The one reader of HTTP-dates: Retry-After's, and the `Date`
    a server measures its rate-limit resets against."""
    try:
        when = parsedate_to_datetime((text or "").strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; a naive one is read as such
        when = when.replace(tzinfo=UTC)
    return when


def _until_date(text: str, now: datetime) -> float | None:
    when = http_date(text)
    if when is None:
        return None
    return _bounded((when - now).total_seconds())


def _bounded(seconds: float) -> float | None:
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        return None
    return max(0.0, seconds)
