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

`POST /users/{id}/revokeSignInSessions` revokes a user's sign-in sessions (sessions.py,
which records each call for the tests).

Time comes from an injectable clock so tests can move past an assignment's end: schedules whose end
has passed are no longer listed and no longer make anyone a member.

Application permissions: a token given `token_permissions` may call a route only with one of the
permissions Microsoft's API reference lists for it (least privileged or higher, application
type; `ROUTE_PERMISSIONS`), else 403 `Authorization_RequestDenied`. Other tokens may do anything.

Where things are: `wire.py` (constants, the error body, permissions, declared properties),
`filters.py` (OData `$filter`), `state.py` (the records), `server.py` (state, clock, token,
faults, paging, look-ups), `directory.py` (users, groups, members), `schedules.py` (PIM for
Groups, directory roles), `sessions.py` (sign-in sessions), and `emulator.py`, which combines
them into `GraphEmulator`.
"""

from __future__ import annotations

from accessctl.emulators.graph.emulator import GraphEmulator
from accessctl.emulators.graph.filters import IN_LIMIT, parse_filter, parse_in_filter
from accessctl.emulators.graph.state import Group, LoggedResponse, Role, Schedule, User
from accessctl.emulators.graph.wire import (
    DECLARED,
    DEFAULT_PAGE,
    MAX_PAGE,
    PIM_GROUP,
    ROLE_DIRECTORY,
    ROUTE_PERMISSIONS,
    Clock,
    check_declared,
    graph_error,
    is_guid,
    iso,
    route_key,
)

__all__ = [
    "DECLARED", "DEFAULT_PAGE", "IN_LIMIT", "MAX_PAGE", "PIM_GROUP", "ROLE_DIRECTORY",
    "ROUTE_PERMISSIONS", "Clock", "GraphEmulator", "Group", "LoggedResponse", "Role",
    "Schedule", "User", "check_declared", "graph_error", "is_guid", "iso", "parse_filter",
    "parse_in_filter", "route_key",
]
