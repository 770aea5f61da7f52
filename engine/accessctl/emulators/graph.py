"""A Microsoft Graph emulator: users, groups and members, PIM for Groups, directory role schedules.

It answers what msgraph-sdk's request builders send (their URL templates) with the JSON property
names its models deserialize (the SDK is generated from Graph's OpenAPI description, so its models
are the contract), and Graph's error body `{"error": {"code", "message", "innerError"}}`.

Where Graph's documentation is silent the emulator picks one plausible answer and says so here:
- PIM requests naming a group, role or principal that does not exist answer 404 `ResourceNotFound`.
- `adminRemove` / `adminUpdate` of an assignment that does not exist answer 400
  `RoleAssignmentDoesNotExist`. Graph's documentation names no code for this case (its
  counterpart `RoleAssignmentExists` is seen in real answers); the engine does not rely on it:
  on any refusal of a removal it reads the schedules again.
- A schedule request answers `status: Provisioned` unless a test scripted another path in
  `pim_outcomes` (e.g. `PendingProvisioning` then `Provisioned`, `PendingApproval`, `Failed`):
  then the assignment exists only once the request reaches `Provisioned`, and each read of the
  request by id (`GET .../assignmentScheduleRequests/{id}`) moves it one step on.
- A group's member listing includes the principals of its active PIM `member` assignments, as
  Entra does; `DELETE .../members/{id}/$ref` removes only direct memberships.

`POST /users/{id}/revokeSignInSessions` revokes a user's sign-in sessions (graph_sessions.py,
which records each call for the tests).

Time comes from an injectable clock so tests can move past an assignment's end: schedules whose end
has passed are no longer listed and no longer make anyone a member.

Application permissions: a token given `token_permissions` may call a route only with one of the
permissions Microsoft's API reference lists for it (least privileged or higher, application
type; `ROUTE_PERMISSIONS`), else 403 `Authorization_RequestDenied`. Other tokens may do anything.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from accessctl.emulators import graph_sessions
from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

Clock = Callable[[], datetime]

DEFAULT_PAGE = 100
MAX_PAGE = 999

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_CODES = {
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
_REF = r"(?:\$|%24)ref"

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
    "POST revoke-sessions": graph_sessions.PERMISSIONS,
    "GET role-schedules": ("RoleAssignmentSchedule.Read.Directory",
                           "RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.Read.All",
                           "RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory"),
}
"""Application permissions that allow each route, as Microsoft Graph's API reference lists
them (the least privileged first)."""


def route_key(method: str, path: str) -> str | None:
    """Which entry of ROUTE_PERMISSIONS a request falls under (None: not restricted)."""
    if found := graph_sessions.route_key(method, path):
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


def _now_utc() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """Graph's timestamp form: UTC with a `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


@dataclass(frozen=True)
class LoggedResponse:
    method: str
    path: str
    status: int
    body: JSON


@dataclass
class User:
    id: str
    user_principal_name: str
    mail: str | None
    display_name: str

    def json(self) -> dict[str, JSON]:
        return {
            "@odata.type": "#microsoft.graph.user",
            "id": self.id,
            "businessPhones": [],
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
        }


@dataclass
class Group:
    id: str
    display_name: str
    security_enabled: bool
    created: datetime
    members: list[str] = field(default_factory=list)
    """Direct members' object ids, in the order they were added."""

    def json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "createdDateTime": iso(self.created),
            "displayName": self.display_name,
            "groupTypes": [],
            "mailEnabled": False,
            "mailNickname": re.sub(r"[^A-Za-z0-9]", "", self.display_name) or "group",
            "securityEnabled": self.security_enabled,
        }


@dataclass
class Role:
    id: str
    display_name: str

    def json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "description": f"Emulated role {self.display_name}",
            "displayName": self.display_name,
            "isBuiltIn": True,
            "isEnabled": True,
            "resourceScopes": ["/"],
            "templateId": self.id,
            "version": "1",
            "rolePermissions": [],
        }


@dataclass
class Schedule:
    """One assignment schedule: PIM for Groups (`resource` is a group id, `access` member|owner)
    or a directory role (`resource` is a roleDefinitionId, `scope` a directoryScopeId)."""

    id: str
    kind: str  # "group" or "role"
    resource: str
    principal_id: str
    access: str
    scope: str
    start: datetime
    end: datetime | None
    created: datetime
    modified: datetime

    def active(self, now: datetime) -> bool:
        return self.end is None or now < self.end

    def schedule_info(self) -> dict[str, JSON]:
        expiration: dict[str, JSON] = (
            {"type": "noExpiration", "endDateTime": None, "duration": None}
            if self.end is None
            else {"type": "afterDateTime", "endDateTime": iso(self.end), "duration": None}
        )
        return {"startDateTime": iso(self.start), "recurrence": None, "expiration": expiration}


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
            raise _error(400, "BadRequest", f"Property '{name}' does not exist as a declared "
                         f"property or extension property on type 'microsoft.graph.{type_name}'.")
    if type_name.endswith("ScheduleRequest"):
        check_declared(body.get("scheduleInfo"), "requestSchedule")
    if type_name == "requestSchedule":
        check_declared(body.get("expiration"), "expirationPattern")


IN_LIMIT = 15
"""Graph refuses more than 15 values in one `in (...)` clause."""


def _literal(text: str, position: int) -> tuple[str, int]:
    """The OData string literal whose opening quote is just before `position` (a quote inside
    is written as two), and the position after its closing quote."""
    literal: list[str] = []
    while True:
        quote_at = text.find("'", position)
        if quote_at < 0:
            raise _error(400, "BadRequest", f"Unterminated string literal in filter {text!r}.")
        literal.append(text[position:quote_at])
        if text.startswith("''", quote_at):
            literal.append("'")
            position = quote_at + 2
            continue
        return "".join(literal), quote_at + 1


def parse_filter(text: str, allowed: Iterable[str]) -> dict[str, str]:
    """Parse `prop eq 'literal' [and prop eq 'literal']...`, the only OData form served here.

    String literals are escape-aware: OData writes a single quote inside one as two quotes.
    Anything else is refused, as Graph refuses filters it does not support.
    """
    allowed_names = set(allowed)
    result: dict[str, str] = {}
    position = 0
    clause = re.compile(r"\s*(\w+)\s+eq\s+'")
    while True:
        match = clause.match(text, position)
        if not match or match.group(1) not in allowed_names:
            raise _error(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter "
                         f"clause specified: {text!r}.")
        result[match.group(1)], position = _literal(text, match.end())
        rest = re.compile(r"\s+and\s+").match(text, position)
        if rest:
            position = rest.end()
            continue
        if text[position:].strip():
            raise _error(400, "Request_UnsupportedQuery", f"Unsupported filter {text!r}.")
        return result


def parse_in_filter(text: str, allowed: Iterable[str]) -> tuple[str, list[str]] | None:
    """Parse `prop in ('a', 'b', ...)` (None: not that form). More than `IN_LIMIT` values are
    refused, as Graph refuses them."""
    match = re.compile(r"\s*(\w+)\s+in\s*\(").match(text)
    if not match:
        return None
    if match.group(1) not in set(allowed):
        raise _error(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter "
                     f"clause specified: {text!r}.")
    values: list[str] = []
    position = match.end()
    while True:
        opening = re.compile(r"\s*'").match(text, position)
        if not opening:
            raise _error(400, "BadRequest", f"Invalid filter {text!r}.")
        value, position = _literal(text, opening.end())
        values.append(value)
        after = re.compile(r"\s*([,)])").match(text, position)
        if not after:
            raise _error(400, "BadRequest", f"Invalid filter {text!r}.")
        position = after.end()
        if after.group(1) == ")":
            break
    if text[position:].strip():
        raise _error(400, "Request_UnsupportedQuery", f"Unsupported filter {text!r}.")
    if len(values) > IN_LIMIT:
        raise _error(400, "Request_UnsupportedQuery", f"The number of values in an 'in' "
                     f"clause ({len(values)}) exceeds the limit of {IN_LIMIT}.")
    return match.group(1), values


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> HttpError:
    return HttpError(status, graph_error(code, message), headers)


def graph_error(code: str, message: str) -> dict[str, JSON]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": iso(_now_utc()),
                "request-id": str(uuid.uuid4()),
                "client-request-id": str(uuid.uuid4()),
            },
        }
    }


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise _error(400, "InvalidScheduleRequest", f"{name} must be a date-time string.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _error(400, "InvalidScheduleRequest", f"{name} is not a valid date-time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class GraphEmulator(Emulator):
    """Microsoft Graph v1.0, the part an access engine uses. Seed with `add_user`, `add_group`,
    `add_member`, `add_role`; move time with `set_clock`. Set `token` to require that bearer."""

    name = "graph"

    def __init__(self, clock: Clock | None = None, token: str | None = None,
                 page_size: int = DEFAULT_PAGE) -> None:
        super().__init__()
        self.clock: Clock = clock or _now_utc
        self.token = token
        self.token_permissions: dict[str, frozenset[str]] = {}
        """Bearer token -> the application permissions consented for it (see the module
        docstring); tokens not listed are not restricted."""
        self.page_size = page_size
        """Items per page when the client sends no `$top`."""
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.roles: dict[str, Role] = {}
        self.schedules: dict[str, Schedule] = {}
        self.requests: dict[str, dict[str, JSON]] = {}
        self.pim_outcomes: list[tuple[str, ...]] = []
        """Status paths for the next `adminAssign` requests, one tuple per request."""
        self._pending: dict[str, tuple[Schedule | None, list[str]]] = {}
        self.responses: list[LoggedResponse] = []
        self._ids = itertools.count(1)
        r = self.route
        r("GET", "/v1.0/users", self._list_users)
        r("GET", "/v1.0/users/{user}", self._get_user)
        r("GET", "/v1.0/groups/{group}", self._get_group)
        r("GET", "/v1.0/groups/{group}/members", self._list_members)
        r("POST", "/v1.0/groups/{group}/members/" + _REF, self._add_member_ref)
        r("DELETE", "/v1.0/groups/{group}/members/{member}/" + _REF, self._remove_member_ref)
        r("POST", f"{PIM_GROUP}/assignmentScheduleRequests", self._pim_request)
        r("GET", f"{PIM_GROUP}/assignmentScheduleRequests/{{request_id}}", self._get_request)
        r("GET", f"{PIM_GROUP}/assignmentSchedules", self._pim_schedules)
        r("GET", f"{ROLE_DIRECTORY}/roleDefinitions/{{role}}", self._get_role)
        r("POST", f"{ROLE_DIRECTORY}/roleAssignmentScheduleRequests", self._role_request)
        r("GET", f"{ROLE_DIRECTORY}/roleAssignmentScheduleRequests/{{request_id}}",
          self._get_request)
        r("GET", f"{ROLE_DIRECTORY}/roleAssignmentSchedules", self._role_schedules)
        self.sign_ins = graph_sessions.SignIns()
        """Users' sign-in sessions and every revocation of them (graph_sessions.py)."""
        graph_sessions.register(self)

    # -- seeding and inspection (tests and the demo) -------------------------------------------
    def set_clock(self, clock: Clock | datetime) -> None:
        """Fix the emulator's now (a datetime) or give it a clock (a callable returning now)."""
        with self.lock:
            if isinstance(clock, datetime):
                fixed = clock.astimezone(UTC)
                self.clock = lambda: fixed
            else:
                self.clock = clock

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def _new_id(self) -> str:
        # Deterministic GUIDs keep logs readable and runs repeatable.
        return str(uuid.UUID(int=(0x5EED << 96) + next(self._ids)))

    def add_user(self, upn: str, mail: str | None = None, display_name: str | None = None) -> str:
        with self.lock:
            if self.find_user(upn) is not None:
                raise ValueError(f"user {upn} exists already")
            user = User(self._new_id(), upn, mail, display_name or upn.split("@")[0])
            self.users[user.id] = user
            return user.id

    def rename_user(self, upn: str, new_upn: str, mail: str | None = None) -> None:
        """An administrator changes the user's userPrincipalName (and, if given, mail): the
        object id stays, so memberships and PIM schedules follow, and the old UPN is free."""
        with self.lock:
            user = self.find_user(upn)
            taken = self.find_user(new_upn)
            if user is None:
                raise KeyError(f"no user {upn}")
            if taken is not None and taken is not user:
                raise ValueError(f"user {new_upn} exists already")
            user.user_principal_name = new_upn
            if mail is not None:
                user.mail = mail

    def add_group(self, name: str, security_enabled: bool = True) -> str:
        with self.lock:
            group = Group(self._new_id(), name, security_enabled, self.now())
            self.groups[group.id] = group
            return group.id

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            members = self.groups[group_id].members
            if user_id not in self.users:
                raise KeyError(f"no user {user_id}")
            if user_id not in members:
                members.append(user_id)

    def add_role(self, name: str) -> str:
        with self.lock:
            role = Role(self._new_id(), name)
            self.roles[role.id] = role
            return role.id

    def add_group_assignment(self, group_id: str, principal_id: str, access: str = "member",
                             end: datetime | None = None) -> str:
        """An active PIM for Groups assignment, as if made in the portal."""
        with self.lock:
            return self._store_schedule("group", group_id, principal_id, access, "/", end).id

    def add_role_assignment(self, role_id: str, principal_id: str, scope: str = "/",
                            end: datetime | None = None) -> str:
        with self.lock:
            return self._store_schedule("role", role_id, principal_id, "", scope, end).id

    def find_user(self, id_or_upn: str) -> User | None:
        with self.lock:
            if id_or_upn in self.users:
                return self.users[id_or_upn]
            wanted = id_or_upn.casefold()
            for user in self.users.values():
                if user.user_principal_name.casefold() == wanted:
                    return user
            return None

    def member_ids(self, group_id: str) -> list[str]:
        """Everyone the group lists as a member now: direct members, then active PIM members."""
        with self.lock:
            group = self.groups[group_id]
            ids = list(group.members)
            for schedule in self.active_schedules("group", resource=group_id, access="member"):
                if schedule.principal_id not in ids:
                    ids.append(schedule.principal_id)
            return ids

    def active_schedules(self, kind: str, **match: str) -> list[Schedule]:
        """Schedules of `kind` that have not ended, matching resource/principal_id/access/scope."""
        with self.lock:
            now = self.now()
            return [
                s for s in self.schedules.values()
                if s.kind == kind and s.active(now)
                and all(getattr(s, key) == value for key, value in match.items())
            ]

    # -- wire helpers --------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"{self.base_url}/v1.0"

    def error_body(self, status: int, message: str) -> JSON:
        return graph_error(_CODES.get(status, "UnknownError"), message)

    def fault_response(self, kind: str) -> Response:
        response = super().fault_response(kind)
        if kind == "503":
            # Graph asks clients to back off on 503 as well as on 429.
            response.headers.setdefault("Retry-After", str(self.faults.retry_after))
        return response

    def dispatch(self, request: Request) -> Response:
        response = self._dispatch(request)
        with self.lock:
            # Kept so tests can check every answer against the SDK's models.
            self.responses.append(LoggedResponse(request.method, request.path, response.status,
                                                 response.body))
        return response

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith("/v1.0/"):
            authorization = request.headers.get("authorization", "")
            if not authorization.startswith("Bearer ") or not authorization[7:].strip():
                return Response(401, graph_error("InvalidAuthenticationToken",
                                                 "Access token is empty."))
            bearer = authorization[7:].strip()
            granted = self.token_permissions.get(bearer)
            if self.token is not None and bearer != self.token and granted is None:
                return Response(401, graph_error("InvalidAuthenticationToken",
                                                 "Access token validation failure."))
            key = route_key(request.method, request.path)
            allowed = ROUTE_PERMISSIONS.get(key or "")
            if granted is not None and allowed is not None and not granted & set(allowed):
                return Response(403, graph_error("Authorization_RequestDenied",
                                                 "Insufficient privileges to complete the "
                                                 "operation."))
        return super().dispatch(request)

    def _page(self, request: Request, path: str, items: list[dict[str, JSON]], context: str
              ) -> dict[str, JSON]:
        """One page of a collection, with an absolute `@odata.nextLink` back to this emulator."""
        top_text = request.arg("$top")
        try:
            top = int(top_text) if top_text is not None else self.page_size
        except ValueError:
            raise _error(400, "BadRequest", f"Invalid $top value {top_text!r}.") from None
        if not 1 <= top <= MAX_PAGE:
            raise _error(400, "Request_BadRequest",
                         f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE}.")
        token = request.arg("$skiptoken")
        offset = 0
        if token is not None:
            if not re.fullmatch(r"X\d+", token):
                raise _error(400, "Directory_InvalidSkipToken", "Skip token is invalid.")
            offset = int(token[1:])
        body: dict[str, JSON] = {"@odata.context": f"{self.root}/$metadata#{context}"}
        if offset + top < len(items):
            keep = {k: v[0] for k, v in request.query.items() if k not in ("$skiptoken", "$top")}
            query = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in keep.items())
            link = f"{self.base_url}{path}?$top={top}&$skiptoken=X{offset + top}"
            body["@odata.nextLink"] = link + (f"&{query}" if query else "")
        body["value"] = items[offset: offset + top]
        return body

    def _group(self, group_id: str) -> Group:
        if not is_guid(group_id):
            raise _error(400, "Request_BadRequest", f"Invalid object identifier '{group_id}'.")
        group = self.groups.get(group_id)
        if group is None:
            raise _error(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist "
                         "or one of its queried reference-property objects are not present.")
        return group

    def _user(self, id_or_upn: str) -> User:
        user = self.find_user(id_or_upn)
        if user is None:
            raise _error(404, "Request_ResourceNotFound", f"Resource '{id_or_upn}' does not "
                         "exist or one of its queried reference-property objects are not present.")
        return user

    def _principal_json(self, principal_id: str) -> dict[str, JSON]:
        user = self.users.get(principal_id)
        if user is not None:
            return user.json()
        return {"@odata.type": "#microsoft.graph.directoryObject", "id": principal_id}

    # -- users and groups ----------------------------------------------------------------------
    def _list_users(self, request: Request) -> JSON:
        with self.lock:
            users = list(self.users.values())
            text = request.arg("$filter")
            listed = parse_in_filter(text, ("mail", "userPrincipalName")) if text else None
            if listed is not None:
                field_name = _USER_FIELDS[listed[0]]
                names = {v.casefold() for v in listed[1]}
                users = [u for u in users
                         if (getattr(u, field_name) or "").casefold() in names]
            elif text is not None:
                wanted = parse_filter(text, ("mail", "userPrincipalName"))
                users = [
                    u for u in users
                    if all((getattr(u, _USER_FIELDS[k]) or "").casefold() == v.casefold()
                           for k, v in wanted.items())
                ]
            return self._page(request, request.path, [u.json() for u in users], "users")

    def _get_user(self, request: Request) -> JSON:
        with self.lock:
            body = self._user(request.params["user"]).json()
            body.pop("@odata.type")
            return {"@odata.context": f"{self.root}/$metadata#users/$entity", **body}

    def _get_group(self, request: Request) -> JSON:
        with self.lock:
            group = self._group(request.params["group"])
            return {"@odata.context": f"{self.root}/$metadata#groups/$entity", **group.json()}

    def _list_members(self, request: Request) -> JSON:
        with self.lock:
            group_id = self._group(request.params["group"]).id
            items = self.listing_lag.listed(group_id, (
                (i, self._principal_json(i)) for i in self.member_ids(group_id)))
            return self._page(request, request.path, items, "directoryObjects")

    def _add_member_ref(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["group"])
            body = request.json()
            check_declared(body, "referenceCreate")
            reference = body.get("@odata.id") if isinstance(body, dict) else None
            match = re.search(r"/(?:directoryObjects|users)/([^/?#]+)$",
                              urlsplit(reference).path if isinstance(reference, str) else "")
            if match is None:
                raise _error(400, "Request_BadRequest",
                             "Invalid URL format specified in @odata.id.")
            member_id = match.group(1)
            if member_id not in self.users:
                raise _error(404, "Request_ResourceNotFound", f"Resource '{member_id}' does not "
                             "exist or one of its queried reference-property objects are not "
                             "present.")
            if member_id in group.members:
                raise _error(400, "Request_BadRequest", "One or more added object references "
                             "already exist for the following modified properties: 'members'.")
            group.members.append(member_id)
            self.listing_lag.wrote(group.id, member_id, True)
            return Response(204)

    def _remove_member_ref(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["group"])
            member_id = request.params["member"]
            if member_id not in group.members:
                raise _error(404, "Request_ResourceNotFound", f"Resource '{member_id}' does not "
                             "exist or one of its queried reference-property objects are not "
                             "present.")
            group.members.remove(member_id)
            self.listing_lag.wrote(group.id, member_id, False, self._principal_json(member_id))
            return Response(204)

    # -- schedules: shared by PIM for Groups and directory roles -------------------------------
    def _store_schedule(self, kind: str, resource: str, principal_id: str, access: str,
                        scope: str, end: datetime | None, start: datetime | None = None
                        ) -> Schedule:
        now = self.now()
        schedule = Schedule(self._new_id(), kind, resource, principal_id, access, scope,
                            start or now, end, now, now)
        self.schedules[schedule.id] = schedule
        return schedule

    def _read_schedule_info(self, body: dict[str, Any]) -> tuple[datetime, datetime | None]:
        info = body.get("scheduleInfo")
        if not isinstance(info, dict):
            raise _error(400, "InvalidScheduleRequest", "scheduleInfo is required.")
        now = self.now()
        start = _parse_time(info["startDateTime"], "startDateTime") \
            if info.get("startDateTime") else now
        expiration = info.get("expiration") or {}
        if not isinstance(expiration, dict):
            raise _error(400, "InvalidScheduleRequest", "expiration must be an object.")
        kind = expiration.get("type") or "notSpecified"
        if kind == "noExpiration":
            return start, None
        if kind != "afterDateTime":
            raise _error(400, "InvalidScheduleRequest",
                         f"Expiration type '{kind}' is not supported by this emulator.")
        end = _parse_time(expiration.get("endDateTime"), "endDateTime")
        if end <= max(start, now):
            raise _error(400, "InvalidScheduleRequest", "The schedule ends before it starts.")
        return start, end

    def _apply_action(self, kind: str, action: Any, resource: str, principal_id: str,
                      access: str, scope: str, body: dict[str, Any]
                      ) -> tuple[Schedule | None, str]:
        """Carry out an admin action; return the schedule it made or changed and the status."""
        existing = self.active_schedules(kind, resource=resource, principal_id=principal_id,
                                         access=access, scope=scope)
        if action == "adminAssign":
            if existing:
                raise _error(400, "RoleAssignmentExists", "The Role assignment already exists.")
            start, end = self._read_schedule_info(body)
            return self._store_schedule(kind, resource, principal_id, access, scope, end,
                                        start), "Provisioned"
        if action in ("adminUpdate", "adminExtend"):
            if not existing:
                raise _error(400, "RoleAssignmentDoesNotExist",
                             "The Role assignment does not exist.")
            start, end = self._read_schedule_info(body)
            schedule = existing[0]
            schedule.start, schedule.end, schedule.modified = start, end, self.now()
            return schedule, "Provisioned"
        if action == "adminRemove":
            if not existing:
                raise _error(400, "RoleAssignmentDoesNotExist",
                             "The Role assignment does not exist.")
            for schedule in existing:
                del self.schedules[schedule.id]
            return existing[0], "Revoked"
        raise _error(400, "InvalidScheduleRequest", f"Action '{action}' is not supported.")

    def _scripted(self, request_id: str, action: Any, schedule: Schedule | None,
                  status: str) -> str:
        """The first status of a scripted path; the assignment waits until `Provisioned`."""
        if action != "adminAssign" or not self.pim_outcomes:
            return status
        path = list(self.pim_outcomes.pop(0))
        first = path.pop(0)
        if first != "Provisioned" and schedule is not None:
            del self.schedules[schedule.id]
            self._pending[request_id] = (schedule, path)
        return first

    def _get_request(self, request: Request) -> JSON:
        with self.lock:
            request_id = request.params["request_id"]
            found = self.requests.get(request_id)
            if found is None:
                raise _error(404, "ResourceNotFound", f"Request '{request_id}' was not found.")
            schedule, path = self._pending.get(request_id, (None, []))
            if path:
                found["status"] = path.pop(0)
                if found["status"] == "Provisioned" and schedule is not None:
                    self.schedules[schedule.id] = schedule
                    del self._pending[request_id]
            kind = "identityGovernance/privilegedAccess/group/assignmentScheduleRequests" \
                if "groupId" in found else "roleManagement/directory/roleAssignmentScheduleRequests"
            return {"@odata.context": f"{self.root}/$metadata#{kind}/$entity", **found}

    def _request_json(self, request_id: str, body: dict[str, Any], status: str,
                      schedule: Schedule | None) -> dict[str, JSON]:
        now = iso(self.now())
        return {
            "id": request_id,
            "status": status,
            "completedDateTime": now,
            "createdDateTime": now,
            "approvalId": None,
            "customData": None,
            "createdBy": {"user": {"id": None, "displayName": None}},
            "action": body.get("action"),
            "isValidationOnly": False,
            "justification": body.get("justification"),
            "scheduleInfo": schedule.schedule_info() if schedule else body.get("scheduleInfo"),
            "ticketInfo": {"ticketNumber": None, "ticketSystem": None},
            "targetScheduleId": schedule.id if schedule else None,
        }

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise _error(400, "BadRequest", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _error(400, "BadRequest", "The request body must be a JSON object.")
        return body

    def _expand_principal(self, request: Request, item: dict[str, JSON], principal_id: str
                          ) -> dict[str, JSON]:
        if "principal" in (request.arg("$expand") or "").split(","):
            item["principal"] = self._principal_json(principal_id)
        return item

    # -- PIM for Groups ------------------------------------------------------------------------
    def _pim_request(self, request: Request) -> Response:
        with self.lock:
            body = self._body(request)
            check_declared(body, "privilegedAccessGroupAssignmentScheduleRequest")
            access = body.get("accessId")
            if access not in ("member", "owner"):
                raise _error(400, "InvalidScheduleRequest", "accessId must be member or owner.")
            group_id, principal_id = str(body.get("groupId")), str(body.get("principalId"))
            if group_id not in self.groups:
                raise _error(404, "ResourceNotFound", f"Group '{group_id}' was not found.")
            if principal_id not in self.users:
                raise _error(404, "ResourceNotFound", f"Principal '{principal_id}' was not found.")
            schedule, status = self._apply_action("group", body.get("action"), group_id,
                                                  principal_id, access, "/", body)
            request_id = self._new_id()
            status = self._scripted(request_id, body.get("action"), schedule, status)
            result = self._request_json(request_id, body, status, schedule)
            result.update({"accessId": access, "groupId": group_id, "principalId": principal_id})
            self.requests[request_id] = result
            context = "identityGovernance/privilegedAccess/group/assignmentScheduleRequests/$entity"
            return Response(201, {"@odata.context": f"{self.root}/$metadata#{context}", **result})

    def _pim_schedules(self, request: Request) -> JSON:
        with self.lock:
            text = request.arg("$filter")
            if text is None:
                raise _error(400, "BadRequest", "A $filter on groupId or principalId is required.")
            wanted = parse_filter(text, ("groupId", "principalId", "accessId"))
            names = {"groupId": "resource", "principalId": "principal_id", "accessId": "access"}
            schedules = self.active_schedules("group", **{names[k]: v for k, v in wanted.items()})
            items = [
                self._expand_principal(request, {
                    "id": s.id,
                    "createdDateTime": iso(s.created),
                    "modifiedDateTime": iso(s.modified),
                    "createdUsing": s.id,
                    "status": "Provisioned",
                    "scheduleInfo": s.schedule_info(),
                    "accessId": s.access,
                    "groupId": s.resource,
                    "principalId": s.principal_id,
                    "memberType": "direct",
                    "assignmentType": "assigned",
                }, s.principal_id)
                for s in schedules
            ]
            return self._page(request, request.path, items,
                              "identityGovernance/privilegedAccess/group/assignmentSchedules")

    # -- directory roles -----------------------------------------------------------------------
    def _get_role(self, request: Request) -> JSON:
        with self.lock:
            role = self.roles.get(request.params["role"])
            if role is None:
                raise _error(404, "Request_ResourceNotFound",
                             f"Resource '{request.params['role']}' does not exist.")
            context = "roleManagement/directory/roleDefinitions/$entity"
            return {"@odata.context": f"{self.root}/$metadata#{context}", **role.json()}

    def _role_request(self, request: Request) -> Response:
        with self.lock:
            body = self._body(request)
            check_declared(body, "unifiedRoleAssignmentScheduleRequest")
            role_id, principal_id = str(body.get("roleDefinitionId")), str(body.get("principalId"))
            scope = str(body.get("directoryScopeId") or "/")
            if role_id not in self.roles:
                raise _error(404, "ResourceNotFound", f"Role '{role_id}' was not found.")
            if principal_id not in self.users:
                raise _error(404, "ResourceNotFound", f"Principal '{principal_id}' was not found.")
            schedule, status = self._apply_action("role", body.get("action"), role_id,
                                                  principal_id, "", scope, body)
            request_id = self._new_id()
            status = self._scripted(request_id, body.get("action"), schedule, status)
            result = self._request_json(request_id, body, status, schedule)
            result.update({"principalId": principal_id, "roleDefinitionId": role_id,
                           "directoryScopeId": scope, "appScopeId": None})
            self.requests[request_id] = result
            context = "roleManagement/directory/roleAssignmentScheduleRequests/$entity"
            return Response(201, {"@odata.context": f"{self.root}/$metadata#{context}", **result})

    def _role_schedules(self, request: Request) -> JSON:
        with self.lock:
            text = request.arg("$filter")
            if text is None:
                raise _error(400, "BadRequest", "A $filter on roleDefinitionId is required.")
            wanted = parse_filter(text, ("roleDefinitionId", "principalId", "directoryScopeId"))
            names = {"roleDefinitionId": "resource", "principalId": "principal_id",
                     "directoryScopeId": "scope"}
            schedules = self.active_schedules("role", **{names[k]: v for k, v in wanted.items()})
            items = [
                self._expand_principal(request, {
                    "id": s.id,
                    "principalId": s.principal_id,
                    "roleDefinitionId": s.resource,
                    "directoryScopeId": s.scope,
                    "appScopeId": None,
                    "createdDateTime": iso(s.created),
                    "modifiedDateTime": iso(s.modified),
                    "createdUsing": s.id,
                    "status": "Provisioned",
                    "memberType": "Direct",
                    "assignmentType": "Assigned",
                    "scheduleInfo": s.schedule_info(),
                }, s.principal_id)
                for s in schedules
            ]
            return self._page(request, request.path, items,
                              "roleManagement/directory/roleAssignmentSchedules")


_USER_FIELDS = {"mail": "mail", "userPrincipalName": "user_principal_name"}
