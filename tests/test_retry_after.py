"""The one Retry-After and rate-limit reset reader (core/retry_after.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from accessctl.core.retry_after import http_date, retry_after, until_reset

NOW = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0),
    (" 0 ", 0.0),
    ("1.5", 1.5),
    ("-3", 0.0),                                  # never negative
    ("Mon, 23 Nov 2026 09:01:30 GMT", 90.0),      # an HTTP-date (IMF-fixdate)
    ("Monday, 23-Nov-26 09:00:10 GMT", 10.0),     # the obsolete RFC 850 form
    ("Mon Nov 23 09:00:05 2026", 5.0),            # asctime, read as GMT
    ("Mon, 23 Nov 2026 08:00:00 GMT", 0.0),       # a date past: no wait
    ("", None), (None, None), ("soon", None), ("nan", None), ("inf", None),
    ("1e12", None),                               # no platform asks for 30,000 years
])
def test_retry_after_reads_seconds_and_http_dates(value: str | None,
                                                  seconds: float | None) -> None:
    assert retry_after(value, NOW) == seconds


@pytest.mark.parametrize(("epoch", "seconds"), [
    (str(int(NOW.timestamp()) + 42), 42.0),
    (NOW.timestamp() - 5, 0.0),
    ("1.7e9x", None), (None, None), ("nan", None),
])
def test_until_reset_reads_epoch_seconds(epoch: str | float | None,
                                         seconds: float | None) -> None:
    assert until_reset(epoch, NOW) == seconds



@pytest.mark.parametrize(("value", "moment"), [
    ("Mon, 23 Nov 2026 09:00:00 GMT", NOW),
    ("Monday, 23-Nov-26 09:00:00 GMT", NOW),
    ("Mon Nov 23 09:00:00 2026", NOW),             # asctime has no zone: GMT, not local time
    ("", None), (None, None), ("yesterday", None), ("120", None),
])
def test_http_date_reads_the_three_forms_in_utc(value: str | None,
                                                moment: datetime | None) -> None:
    assert http_date(value) == moment
