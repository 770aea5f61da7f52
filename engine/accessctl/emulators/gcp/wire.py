"""Google's wire format as the discovery documents describe it: status names, the JSON error
body, RFC 3339 timestamps, and how a request's JSON body and fields are read."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from accessctl.emulators.http import JSON, HttpError, Request

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

RESOURCE_KINDS = ("projects", "folders", "organizations")
POLICY_FIELDS = ("auditConfigs", "bindings", "etag", "version")
MEMBER_ROLES = ("MEMBER", "MANAGER", "OWNER")
EXPIRY_MASKS = ("expiryDetail.expireTime", "expiry_detail.expire_time")
MEMBER_PREFIXES = ("user", "serviceAccount", "group", "domain", "principal", "principalSet",
                    "deleted")
MEMBERSHIP_TYPE = "type.googleapis.com/google.apps.cloudidentity.groups.v1.Membership"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
FULL_PAGE_DEFAULT, FULL_PAGE_MAX = 50, 500
BASIC_PAGE_DEFAULT, BASIC_PAGE_MAX = 200, 1000


def google_error(status: int, message: str, code_name: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> JSON:
    """Google's JSON error body (google.rpc.Status wrapped in "error")."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": code_name or STATUS_NAMES.get(status, "UNKNOWN"),
            "details": details or [],
        }
    }


def fail(status: int, message: str, code_name: str | None = None, reason: str | None = None,
          ) -> HttpError:
    details = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com"})
    return HttpError(status, google_error(status, message, code_name, details))


def rfc3339(value: datetime) -> str:
    """Google's output form: "Z", and fractional seconds only when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Google's `google-datetime`: RFC 3339, "Z" or an offset, up to nine fractional digits."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", text
    )
    if not match:
        raise ValueError(text)
    whole, fraction, offset = match.groups()
    micros = (fraction or "0").ljust(6, "0")[:6]
    zone = "+00:00" if offset == "Z" else offset
    return datetime.fromisoformat(f"{whole}.{micros}{zone}").astimezone(UTC)


def json_object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise fail(400, "Invalid JSON payload received.") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise fail(400, "Invalid JSON payload received: expected an object.")
    return body


def int_field(value: Any, name: str) -> int:
    # proto3 JSON accepts int32 as a number or a decimal string.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise fail(400, f"Invalid value for {name}: {value!r}") from None


def page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("offset:"):
            raise ValueError(text)
        return int(text.removeprefix("offset:"))
    except ValueError:
        raise fail(400, "Invalid page token.") from None
