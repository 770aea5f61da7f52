"""PagerDuty's contract: the REST API description (pagerduty-rest-subset.json, cut from
PagerDuty/api-schema `reference/REST/openapiv3.json` by cut_subset.py)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from tests.contracts.openapi import OpenApiContract

FILE = Path(__file__).parent / "pagerduty-rest-subset.json"

# developer.pagerduty.com/docs/rest-api-v2/errors: statuses any endpoint may answer.
GLOBAL_STATUSES = {
    401: "developer.pagerduty.com/docs/rest-api-v2/errors: 401 Unauthorized (2006)",
    429: "developer.pagerduty.com/docs/rest-api-v2/rate-limiting: 429 Too Many Requests (2020)",
    500: "developer.pagerduty.com/docs/rest-api-v2/errors: 5xx, retry later",
    502: "developer.pagerduty.com/docs/rest-api-v2/errors: 5xx, retry later",
    503: "developer.pagerduty.com/docs/rest-api-v2/errors: 5xx, retry later",
}


def contract() -> OpenApiContract:
    return _contract()


@cache
def _contract() -> OpenApiContract:
    spec = json.loads(FILE.read_text(encoding="utf-8"))
    return OpenApiContract(spec, name="PagerDuty", global_statuses=GLOBAL_STATUSES)
