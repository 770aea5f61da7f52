"""Okta's wire format: constants, timestamps, the error body, ids, the scope each endpoint
needs, and the request budget behind the `X-Rate-Limit-*` headers."""

from __future__ import annotations

import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from accessctl.emulators.http import JSON, HttpError
from accessctl.emulators.okta.sessions import PATH as SESSIONS_PATH
from accessctl.emulators.okta.sessions import SCOPE as SESSIONS_SCOPE

API = "/api/v1"
DEFAULT_TOKEN = "okta-emulator-token"
USERS_DEFAULT_LIMIT = 200
GROUPS_DEFAULT_LIMIT = 10_000
MEMBERS_DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
ROLE_TYPES = frozenset({
    "API_ACCESS_MANAGEMENT_ADMIN", "APP_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "HELP_DESK_ADMIN",
    "MOBILE_ADMIN", "ORG_ADMIN", "READ_ONLY_ADMIN", "REPORT_ADMIN", "SUPER_ADMIN", "USER_ADMIN",
})
ROLE_LABELS = {
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
    "APP_ADMIN": "Application Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "MOBILE_ADMIN": "Mobile Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "READ_ONLY_ADMIN": "Read-only Administrator",
    "REPORT_ADMIN": "Report Administrator",
    "SUPER_ADMIN": "Super Administrator",
    "USER_ADMIN": "Group Administrator",
}
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
TOKEN_PATH = "/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600  # Okta's org authorization server: fixed at one hour for service apps
ASSERTION_MAX_LIFETIME = 3600  # Okta refuses a client assertion whose exp is further away
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    # The scope each endpoint's `security` names in the contract (its `oauth2` requirement).
    ("GET", f"{API}/groups"): "okta.groups.read",
    ("GET", f"{API}/groups/{{groupId}}"): "okta.groups.read",
    ("GET", f"{API}/groups/{{groupId}}/users"): "okta.groups.read",
    ("PUT", f"{API}/groups/{{groupId}}/users/{{userId}}"): "okta.groups.manage",
    ("DELETE", f"{API}/groups/{{groupId}}/users/{{userId}}"): "okta.groups.manage",
    ("GET", f"{API}/users"): "okta.users.read",
    ("GET", f"{API}/users/{{id}}"): "okta.users.read",
    ("GET", f"{API}/users/{{id}}/groups"): "okta.users.read",
    ("GET", f"{API}/users/{{userId}}/roles"): "okta.roles.read",
    ("POST", f"{API}/users/{{userId}}/roles"): "okta.roles.manage",
    ("GET", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}"): "okta.roles.read",
    ("DELETE", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}"): "okta.roles.manage",
    ("DELETE", SESSIONS_PATH): SESSIONS_SCOPE,
}


def stamp(value: datetime) -> str:
    """Okta's timestamp form: UTC, milliseconds, `Z`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def okta_error(code: str, summary: str, causes: list[str] | None = None) -> dict[str, JSON]:
    """Okta's error body. `errorLink` repeats the code, as the real service does."""
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + base62(time.time_ns() % 62**19, 19),
        "errorCauses": [{"errorSummary": cause} for cause in causes or []],
    }


def not_found(resource_id: str, kind: str) -> HttpError:
    return HttpError(404, okta_error(
        "E0000007", f"Not found: Resource not found: {resource_id} ({kind})"))


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


@dataclass
class RateLimit:
    """One request budget per window: a simplification of Okta's per-endpoint buckets."""

    limit: int = 600
    window: float = 60.0
    used: int = 0
    reset_at: float = 0.0

    def take(self, now: float) -> bool:
        """Spend one request; False when the budget for this window is gone."""
        if now >= self.reset_at:
            self.used, self.reset_at = 0, now + self.window
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, now: float) -> dict[str, str]:
        reset = self.reset_at if self.reset_at > now else now + self.window
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(max(self.limit - self.used, 0)),
            "X-Rate-Limit-Reset": str(int(reset + 0.999)),
        }

