"""RFC 3339 timestamps with an explicit offset. Naive times are refused: whose 09:00 is it?

Times are bounded to the years 2000-2999 where they are parsed: nothing the engine is asked to
grant lies outside them, and keeping every time far from the ends of the calendar means that no
date arithmetic on a request's times can overflow. Arithmetic that could still meet a value
from elsewhere goes through `saturating_add`, which stops at the ends instead of raising.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)
_RFC3339 = re.compile(PATTERN)
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")

YEARS = "2000-2999"
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(3000, 1, 1, tzinfo=UTC)
"""Accepted times: EARLIEST <= t < END, in UTC."""

BEGINNING_OF_TIME = datetime.min.replace(tzinfo=UTC)
END_OF_TIME = datetime.max.replace(tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset, in the years 2000-2999, into an aware UTC
    datetime."""
    cleaned = text.strip()
    if _NAIVE.match(cleaned):
        raise ValueError(
            f"{text!r} has no time zone offset: add Z for UTC or an offset like +02:00 "
            "(e.g. 2026-11-23T13:00:00Z)"
        )
    if not _RFC3339.match(cleaned):
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-11-23T13:00:00Z")
    normalised = cleaned.replace("z", "Z").replace("Z", "+00:00").replace("t", "T")
    outside = ValueError(f"{cleaned} is outside {YEARS}: write a real date "
                         "(e.g. 2026-11-23T13:00:00Z)")
    try:
        written = datetime.fromisoformat(normalised)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{text!r} is not a valid time: {error}") from None
    # The year as written first: converting a time near year 1 or 9999 to UTC overflows.
    if not EARLIEST.year <= written.year < END.year:
        raise outside
    value = written.astimezone(UTC)
    if not EARLIEST <= value < END:
        raise outside
    return value


def saturating_add(value: datetime, delta: timedelta) -> datetime:
    """`value + delta`, or the first or last representable instant where that would overflow.

    For deadlines and windows computed from request times: a value past the ends of the calendar
    then compares as "long ago" or "never" instead of stopping the run with OverflowError.
    """
    try:
        return value + delta
    except OverflowError:
        return END_OF_TIME if delta > timedelta(0) else BEGINNING_OF_TIME
