"""Durations as people write them in policies: "4h", "30m", "1d12h", or ISO 8601 "PT4H"."""

from __future__ import annotations

import re
from datetime import timedelta

_SHORT = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")
_ISO = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
MAX_DURATION = timedelta(days=366)
PATTERN = r"^(?:(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?|P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$"


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raises ValueError with a message a person can act on."""
    cleaned = text.strip()
    match = _SHORT.match(cleaned) or _ISO.match(cleaned)
    if not cleaned or cleaned in ("P", "PT") or not match or not any(match.groupdict().values()):
        raise ValueError(f"{text!r} is not a duration: write it like 4h, 30m, 1d12h or PT4H")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    try:
        value = timedelta(
            days=parts.get("d", 0), hours=parts.get("h", 0),
            minutes=parts.get("m", 0), seconds=parts.get("s", 0),
        )
    except OverflowError:
        value = MAX_DURATION + MAX_DURATION
    if value > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days: just-in-time access "
                         "is short by design")
    return value


def format_duration(value: timedelta, to_minute: bool = False) -> str:
    """The short form, e.g. 1d4h30m; used in messages. `to_minute` rounds to the nearest
    minute: for spans measured between two times (a window from now), whose seconds are noise
    nobody wrote ("4h59m59s" for a 5h request written a moment ago)."""
    if to_minute:
        value = timedelta(minutes=round(value.total_seconds() / 60))
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = "".join(
        f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if n
    )
    return sign + (text or "0m")
