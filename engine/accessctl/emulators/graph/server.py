"""The Graph emulator's server: its state and clock, the bearer token and application
permissions, error bodies, injected faults, the response log, `@odata.nextLink` paging, and the
look-ups the routes share. The routes live in `directory.py` and `schedules.py`;
`emulator.py` combines them."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from accessctl.emulators.graph.sessions import SignIns
from accessctl.emulators.graph.state import Group, LoggedResponse, Role, Schedule, User
from accessctl.emulators.graph.wire import (
    CODES,
    DEFAULT_PAGE,
    MAX_PAGE,
    ROUTE_PERMISSIONS,
    Clock,
    graph_error,
    is_guid,
    now_utc,
    refuse,
    route_key,
)
from accessctl.emulators.http import JSON, Emulator, Request, Response


class GraphServer(Emulator):
    name = "graph"

    def __init__(self, clock: Clock | None = None, token: str | None = None,
                 page_size: int = DEFAULT_PAGE) -> None:
        super().__init__()
        self.clock: Clock = clock or now_utc
        self.token = token
        self.token_permissions: dict[str, frozenset[str]] = {}
        """Bearer token -> the application permissions consented for it (see the package
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
        self.sign_ins = SignIns()
        """Users' sign-in sessions and every revocation of them (sessions.py)."""

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

    def find_user(self, id_or_upn: str) -> User | None:
        with self.lock:
            if id_or_upn in self.users:
                return self.users[id_or_upn]
            wanted = id_or_upn.casefold()
            for user in self.users.values():
                if user.user_principal_name.casefold() == wanted:
                    return user
            return None

    def active_schedules(self, kind: str, **match: str) -> list[Schedule]:
        """Schedules of `kind` that have not ended, matching resource/principal_id/access/scope."""
        with self.lock:
            now = self.now()
            return [
                s for s in self.schedules.values()
                if s.kind == kind and s.active(now)
                and all(getattr(s, key) == value for key, value in match.items())
            ]

    # -- wire helpers ------------------------------------------------------------------------------

    @property
    def root(self) -> str:
        return f"{self.base_url}/v1.0"

    def error_body(self, status: int, message: str) -> JSON:
        return graph_error(CODES.get(status, "UnknownError"), message)

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
            raise refuse(400, "BadRequest", f"Invalid $top value {top_text!r}.") from None
        if not 1 <= top <= MAX_PAGE:
            raise refuse(400, "Request_BadRequest",
                         f"Invalid page size specified: '{top}'. Must be between 1 and {MAX_PAGE}.")
        token = request.arg("$skiptoken")
        offset = 0
        if token is not None:
            if not re.fullmatch(r"X\d+", token):
                raise refuse(400, "Directory_InvalidSkipToken", "Skip token is invalid.")
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
            raise refuse(400, "Request_BadRequest", f"Invalid object identifier '{group_id}'.")
        group = self.groups.get(group_id)
        if group is None:
            raise refuse(404, "Request_ResourceNotFound", f"Resource '{group_id}' does not exist "
                         "or one of its queried reference-property objects are not present.")
        return group

    def _user(self, id_or_upn: str) -> User:
        user = self.find_user(id_or_upn)
        if user is None:
            raise refuse(404, "Request_ResourceNotFound", f"Resource '{id_or_upn}' does not "
                         "exist or one of its queried reference-property objects are not present.")
        return user

    def _principal_json(self, principal_id: str) -> dict[str, JSON]:
        user = self.users.get(principal_id)
        if user is not None:
            return user.json()
        return {"@odata.type": "#microsoft.graph.directoryObject", "id": principal_id}
