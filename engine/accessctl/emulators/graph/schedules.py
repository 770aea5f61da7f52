"""Assignment schedules: PIM for Groups and directory roles, their schedule requests
(`adminAssign`, `adminUpdate`, `adminExtend`, `adminRemove`), scripted request outcomes, and
listings that hide schedules whose end has passed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accessctl.emulators.graph.filters import parse_filter
from accessctl.emulators.graph.server import GraphServer
from accessctl.emulators.graph.state import Role, Schedule
from accessctl.emulators.graph.wire import (
    PIM_GROUP,
    ROLE_DIRECTORY,
    check_declared,
    iso,
    parse_time,
    refuse,
)
from accessctl.emulators.http import JSON, Handler, Request, Response


class Schedules(GraphServer):
    def _schedule_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", f"{PIM_GROUP}/assignmentScheduleRequests", self._pim_request),
            ("GET", f"{PIM_GROUP}/assignmentScheduleRequests/{{request_id}}", self._get_request),
            ("GET", f"{PIM_GROUP}/assignmentSchedules", self._pim_schedules),
            ("GET", f"{ROLE_DIRECTORY}/roleDefinitions/{{role}}", self._get_role),
            ("POST", f"{ROLE_DIRECTORY}/roleAssignmentScheduleRequests", self._role_request),
            ("GET", f"{ROLE_DIRECTORY}/roleAssignmentScheduleRequests/{{request_id}}",
             self._get_request),
            ("GET", f"{ROLE_DIRECTORY}/roleAssignmentSchedules", self._role_schedules),
        ]

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
            raise refuse(400, "InvalidScheduleRequest", "scheduleInfo is required.")
        now = self.now()
        start = parse_time(info["startDateTime"], "startDateTime") \
            if info.get("startDateTime") else now
        expiration = info.get("expiration") or {}
        if not isinstance(expiration, dict):
            raise refuse(400, "InvalidScheduleRequest", "expiration must be an object.")
        kind = expiration.get("type") or "notSpecified"
        if kind == "noExpiration":
            return start, None
        if kind != "afterDateTime":
            raise refuse(400, "InvalidScheduleRequest",
                         f"Expiration type '{kind}' is not supported by this emulator.")
        end = parse_time(expiration.get("endDateTime"), "endDateTime")
        if end <= max(start, now):
            raise refuse(400, "InvalidScheduleRequest", "The schedule ends before it starts.")
        return start, end

    def _apply_action(self, kind: str, action: Any, resource: str, principal_id: str,
                      access: str, scope: str, body: dict[str, Any]
                      ) -> tuple[Schedule | None, str]:
        """Carry out an admin action; return the schedule it made or changed and the status."""
        existing = self.active_schedules(kind, resource=resource, principal_id=principal_id,
                                         access=access, scope=scope)
        if action == "adminAssign":
            if existing:
                raise refuse(400, "RoleAssignmentExists", "The Role assignment already exists.")
            start, end = self._read_schedule_info(body)
            return self._store_schedule(kind, resource, principal_id, access, scope, end,
                                        start), "Provisioned"
        if action in ("adminUpdate", "adminExtend"):
            if not existing:
                raise refuse(400, "RoleAssignmentDoesNotExist",
                             "The Role assignment does not exist.")
            start, end = self._read_schedule_info(body)
            schedule = existing[0]
            schedule.start, schedule.end, schedule.modified = start, end, self.now()
            return schedule, "Provisioned"
        if action == "adminRemove":
            if not existing:
                raise refuse(400, "RoleAssignmentDoesNotExist",
                             "The Role assignment does not exist.")
            for schedule in existing:
                del self.schedules[schedule.id]
            return existing[0], "Revoked"
        raise refuse(400, "InvalidScheduleRequest", f"Action '{action}' is not supported.")

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
                raise refuse(404, "ResourceNotFound", f"Request '{request_id}' was not found.")
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
            raise refuse(400, "BadRequest", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise refuse(400, "BadRequest", "The request body must be a JSON object.")
        return body

    def _expand_principal(self, request: Request, item: dict[str, JSON], principal_id: str
                          ) -> dict[str, JSON]:
        if "principal" in (request.arg("$expand") or "").split(","):
            item["principal"] = self._principal_json(principal_id)
        return item

    # -- PIM for Groups ----------------------------------------------------------------------------
    def _pim_request(self, request: Request) -> Response:
        with self.lock:
            body = self._body(request)
            check_declared(body, "privilegedAccessGroupAssignmentScheduleRequest")
            access = body.get("accessId")
            if access not in ("member", "owner"):
                raise refuse(400, "InvalidScheduleRequest", "accessId must be member or owner.")
            group_id, principal_id = str(body.get("groupId")), str(body.get("principalId"))
            if group_id not in self.groups:
                raise refuse(404, "ResourceNotFound", f"Group '{group_id}' was not found.")
            if principal_id not in self.users:
                raise refuse(404, "ResourceNotFound", f"Principal '{principal_id}' was not found.")
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
                raise refuse(400, "BadRequest", "A $filter on groupId or principalId is required.")
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

    # -- directory roles ---------------------------------------------------------------------------
    def _get_role(self, request: Request) -> JSON:
        with self.lock:
            role = self.roles.get(request.params["role"])
            if role is None:
                raise refuse(404, "Request_ResourceNotFound",
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
                raise refuse(404, "ResourceNotFound", f"Role '{role_id}' was not found.")
            if principal_id not in self.users:
                raise refuse(404, "ResourceNotFound", f"Principal '{principal_id}' was not found.")
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
                raise refuse(400, "BadRequest", "A $filter on roleDefinitionId is required.")
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

    # -- seeding (tests and the demo) --------------------------------------------------------------
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
