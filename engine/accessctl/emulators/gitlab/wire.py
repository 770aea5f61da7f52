"""GitLab's wire format: constants, timestamps, error bodies, the throttle's `RateLimit-*`
headers, and how GitLab (Grape) reads parameters: query, JSON or form bodies, flags, access
levels and expiry dates."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs

from accessctl.emulators.http import HttpError, Request

API = "/api/v4"
ACCESS_LEVELS = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer",
                 50: "Owner"}
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
CODEOWNERS_PATHS = ("CODEOWNERS", ".gitlab/CODEOWNERS", "docs/CODEOWNERS")


def stamp(value: datetime) -> str:
    """GitLab's timestamp format: milliseconds and a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def not_found(what: str = "") -> HttpError:
    return HttpError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def bad_request(error: str) -> HttpError:
    return HttpError(400, {"error": error})


def throttle_headers(limit: int, used: int, reset: float) -> dict[str, str]:
    at = datetime.fromtimestamp(reset, UTC)
    return {
        "RateLimit-Name": "throttle_authenticated_api",
        "RateLimit-Limit": str(limit),
        "RateLimit-Observed": str(used),
        "RateLimit-Remaining": str(max(limit - used, 0)),
        "RateLimit-Reset": str(math.ceil(reset)),
        "RateLimit-ResetTime": format_datetime(at, usegmt=True),
    }


def int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name} is invalid") from None


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter as Grape coerces it (python-gitlab sends `True`)."""
    return (request.arg(name) or "").casefold() in ("true", "1", "yes", "t", "on")


def int_param(request: Request, name: str) -> int:
    raw = request.params[name]
    if not raw.isdigit():
        raise not_found()
    return int(raw)


def form(request: Request) -> dict[str, Any]:
    """The request's parameters: JSON body (python-gitlab) or form fields, plus the query."""
    data: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
    content_type = request.headers.get("content-type", "")
    if request.body and "json" in content_type:
        body = request.json()
        if not isinstance(body, dict):
            raise bad_request("body is invalid")
        data.update(body)
    elif request.body:
        data.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
    return data


def access_level(raw: Any, required: bool) -> int | None:
    if raw is None or raw == "":
        if required:
            raise bad_request("access_level is missing")
        return None
    try:
        level = int(raw)
    except (TypeError, ValueError):
        raise bad_request("access_level does not have a valid value") from None
    if level not in ACCESS_LEVELS:
        raise bad_request("access_level does not have a valid value")
    return level


def expiry(raw: Any, now: datetime) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(str(raw))
    except ValueError:
        raise bad_request("expires_at is invalid") from None
    if day < now.astimezone(UTC).date():
        raise HttpError(400, {"message": {"expires_at": ["cannot be a date in the past"]}})
    return day.isoformat()

