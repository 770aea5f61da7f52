"""Microsoft Graph's wire format: constants, timestamps and ids, the error body, the
application permissions each route allows, and the properties Graph declares on the types a
client may POST."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from accessctl.emulators.graph.sessions import PERMISSIONS as SESSION_PERMISSIONS
from accessctl.emulators.graph.sessions import route_key as session_route_key
from accessctl.emulators.http import JSON, HttpError

Clock = Callable[[], datetime]

DEFAULT_PAGE = 100
MAX_PAGE = 999

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    405: "Request_BadRequest",
    429: "TooManyRequests",
    500: "generalException",
    502: "badGateway",
    503: "serviceNotAvailable",
    504: "gatewayTimeout",
}

# Route templates are regular expressions: `$ref` must be escaped (and may arrive as %24ref).
REF = r"(?:\$|%24)ref"

PIM_GROUP = "/v1.0/identityGovernance/privilegedAccess/group"
ROLE_DIRECTORY = "/v1.0/roleManagement/directory"

_USER_READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
              "Directory.ReadWrite.All")
_GROUP_READ = ("GroupMember.Read.All", "Group.Read.All", "Directory.Read.All",
               "GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
_MEMBER_WRITE = ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")

ROUTE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "GET users": _USER_READ,
    "GET groups": _GROUP_READ,
    "GET members": _GROUP_READ,
    "POST members": _MEMBER_WRITE,
    "DELETE members": _MEMBER_WRITE,
    "POST pim-requests": ("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",),
    "GET pim-schedules": ("PrivilegedAssignmentSchedule.Read.AzureADGroup",
                          "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup"),
    "GET role-definitions": ("RoleManagement.Read.Directory", "Directory.Read.All",
                             "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"),
    "POST role-requests": ("RoleAssignmentSchedule.ReadWrite.Directory",
                           "RoleManagement.ReadWrite.Directory"),
    "POST revoke-sessions": SESSION_PERMISSIONS,
    "GET role-schedules": ("RoleAssignmentSchedule.Read.Directory",
                           "RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.Read.All",
                           "RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory"),
}
"""Application permissions that allow each route, as Microsoft Graph's API reference lists
them (the least privileged first)."""


def route_key(method: str, path: str) -> str | None:
    """Which entry of ROUTE_PERMISSIONS a request falls under (None: not restricted)."""
    if found := session_route_key(method, path):
        return found
    if path.startswith(f"{PIM_GROUP}/assignmentScheduleRequests"):
        return f"{method} pim-requests"
    if path.startswith(f"{PIM_GROUP}/assignmentSchedules"):
        return f"{method} pim-schedules"
    if path.startswith(f"{ROLE_DIRECTORY}/roleDefinitions"):
        return f"{method} role-definitions"
    if path.startswith(f"{ROLE_DIRECTORY}/roleAssignmentScheduleRequests"):
        return f"{method} role-requests"
    if path.startswith(f"{ROLE_DIRECTORY}/roleAssignmentSchedules"):
        return f"{method} role-schedules"
    if path.startswith("/v1.0/groups/") and "/members" in path:
        return f"{method} members"
    if path.startswith("/v1.0/groups/"):
        return f"{method} groups"
    if path.startswith("/v1.0/users"):
        return f"{method} users"
    return None


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """Graph's timestamp form: UTC with a `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def refuse(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> HttpError:
    """A refusal with Graph's error body, for a handler to raise."""
    return HttpError(status, graph_error(code, message), headers)


def graph_error(code: str, message: str) -> dict[str, JSON]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": iso(now_utc()),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise refuse(400, "InvalidScheduleRequest", f"{name} must be a date-time string.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise refuse(400, "InvalidScheduleRequest", f"{name} is not a valid date-time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_REQUEST_BASE = frozenset({
    "@odata.type", "id", "approvalId", "completedDateTime", "createdBy", "createdDateTime",
    "customData", "status", "action", "isValidationOnly", "justification", "scheduleInfo",
    "ticketInfo", "principal", "principalId", "targetSchedule", "targetScheduleId",
    "activatedUsing",
})
# The properties Graph declares on each type a client may POST (from the SDK's models); Graph
# refuses a body naming any other, which catches misspelt property names in the engine.
DECLARED: dict[str, frozenset[str]] = {
    "privilegedAccessGroupAssignmentScheduleRequest":
        _REQUEST_BASE | {"accessId", "group", "groupId"},
    "unifiedRoleAssignmentScheduleRequest": _REQUEST_BASE | {
        "appScope", "appScopeId", "directoryScope", "directoryScopeId", "roleDefinition",
        "roleDefinitionId",
    },
    "requestSchedule": frozenset({"@odata.type", "expiration", "recurrence", "startDateTime"}),
    "expirationPattern": frozenset({"@odata.type", "duration", "endDateTime", "type"}),
    "referenceCreate": frozenset({"@odata.id"}),
}


def check_declared(body: Any, type_name: str) -> None:
    """Refuse properties the type does not declare, as Graph does, looking into scheduleInfo."""
    if not isinstance(body, dict):
        return
    for name in body:
        if name not in DECLARED[type_name]:
            raise refuse(400, "BadRequest", f"Property '{name}' does not exist as a declared "
                         f"property or extension property on type 'microsoft.graph.{type_name}'.")
    if type_name.endswith("ScheduleRequest"):
        check_declared(body.get("scheduleInfo"), "requestSchedule")
    if type_name == "requestSchedule":
        check_declared(body.get("expiration"), "expirationPattern")
