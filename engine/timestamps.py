"""RFC 3339 timestamps with an explicit offset. Naive times are refused: whose 09:00 is it?"""

from __future__ import annotations

import re
from datetime import UTC, datetime

PATTERN = (
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"
)
_RFC3339 = re.compile(PATTERN)
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset into an aware UTC datetime."""
    cleaned = text.strip()
    if _NAIVE.match(cleaned):
        raise ValueError(
            f"{text!r} has no time zone offset: add Z for UTC or an offset like +02:00 "
            "(e.g. 2026-11-23T13:00:00Z)"
        )
    if not _RFC3339.match(cleaned):
        raise ValueError(f"{text!r} is not an RFC 3339 time such as 2026-11-23T13:00:00Z")
    normalised = cleaned.replace("z", "Z").replace("Z", "+00:00").replace("t", "T")
    try:
        return datetime.fromisoformat(normalised).astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{text!r} is not a valid time: {error}") from None
