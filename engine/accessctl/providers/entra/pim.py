"""Entra target kinds `pim_group` and `directory_role`: a PIM for Groups assignment schedule
(member or owner), or a directory role assignment schedule, that ends at the request's
`expires_at`: Entra removes the access itself, on time, even when the revoke job is late."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from accessctl.core.model import Change, Outcome, Status, Target
from accessctl.core.timestamps import saturating_add
from accessctl.providers.base import ProviderError
from accessctl.providers.entra.graph import odata_code, odata_string, translate
from accessctl.providers.entra.users import UserDirectory

# A schedule request's `status` (learn.microsoft.com/graph/api/resources/request): only
# `Provisioned` means the assignment exists; the pending ones may still get there.
PIM_DONE = frozenset({"Provisioned"})
PIM_PENDING = frozenset({"Granted", "PendingApproval", "PendingAdminDecision",
                         "PendingProvisioning", "PendingScheduleCreation", "ScheduleCreated"})
PIM_WAITS_FOR_PEOPLE = frozenset({"PendingApproval", "PendingAdminDecision"})
PIM_POLL_FIRST_DELAY = 0.5
PIM_POLL_MAX_DELAY = 4.0


class PimSchedules(UserDirectory):
    """Observe, grant and revoke assignment schedules through PIM schedule requests."""

    async def _observe_schedules(self, target: Target) -> frozenset[str]:
        await self._check_resource(target)
        schedules = await self._schedules(target, principal_id=None)
        ids: dict[str, str] = {}
        for schedule in schedules:
            principal = schedule.get("principal")
            if isinstance(principal, dict) and principal.get("id"):
                ids[self._key(principal)] = str(principal["id"])
            else:  # the server did not expand the principal: look it up
                principal_id = str(schedule.get("principalId"))
                ids[await self._key_of_id(principal_id)] = principal_id
        self._ids.record(target.display, ids)
        return frozenset(ids)

    async def _check_resource(self, target: Target) -> None:
        """Raise NotFound when the target's group or role definition does not exist."""
        if target.kind == "pim_group":
            group = target.param("group")
            await self._call(self.client.groups.by_group_id(group).get(), f"group {group}")
        else:
            role = target.param("role")
            builder = self.client.role_management.directory.role_definitions
            await self._call(builder.by_unified_role_definition_id(role).get(),
                             f"directory role {role}")

    async def _schedules(self, target: Target, principal_id: str | None
                         ) -> list[dict[str, Any]]:
        """The target's active assignment schedules, for one principal or for all."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        query_type: Any
        if target.kind == "pim_group":
            from msgraph.generated.identity_governance.privileged_access.group.assignment_schedules.assignment_schedules_request_builder import (  # noqa: E501
                AssignmentSchedulesRequestBuilder as GroupSchedules,
            )

            group = target.param("group")
            clauses = [f"groupId eq {odata_string(group)}"]
            builder = self.client.identity_governance.privileged_access.group.assignment_schedules
            query_type = GroupSchedules.AssignmentSchedulesRequestBuilderGetQueryParameters
            subject = f"PIM assignments of group {group}"
        else:
            from msgraph.generated.role_management.directory.role_assignment_schedules.role_assignment_schedules_request_builder import (  # noqa: E501
                RoleAssignmentSchedulesRequestBuilder as RoleSchedules,
            )

            role = target.param("role")
            clauses = [f"roleDefinitionId eq {odata_string(role)}"]
            builder = self.client.role_management.directory.role_assignment_schedules
            query_type = RoleSchedules.RoleAssignmentSchedulesRequestBuilderGetQueryParameters
            subject = f"assignments of directory role {role}"
        if principal_id is not None:
            clauses.append(f"principalId eq {odata_string(principal_id)}")
        query = query_type(filter=" and ".join(clauses), expand=["principal"])
        found = await self._pages(builder, RequestConfiguration(query_parameters=query), subject)
        return [s for s in found if self._matches(target, s)]

    @staticmethod
    def _matches(target: Target, schedule: Mapping[str, Any]) -> bool:
        """Filter client-side what the server may not: access relationship, directory scope."""
        if target.kind == "pim_group":
            return bool(schedule.get("accessId") == target.param("access", "member"))
        return bool((schedule.get("directoryScopeId") or "/") == target.param("scope", "/"))

    def _schedule_request(self, target: Target, action: str, principal_id: str,
                          expires_at: datetime | None, justification: str) -> tuple[Any, Any]:
        """The request body and the collection to POST it to."""
        from msgraph.generated.models.expiration_pattern import ExpirationPattern
        from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
        from msgraph.generated.models.request_schedule import RequestSchedule

        schedule = None
        if action != "adminRemove":  # a removal names the assignment, not a schedule
            schedule = RequestSchedule(
                start_date_time=datetime.now(UTC).replace(microsecond=0),
                expiration=ExpirationPattern(type=ExpirationPatternType.NoExpiration)
                if expires_at is None else
                ExpirationPattern(type=ExpirationPatternType.AfterDateTime,
                                  end_date_time=expires_at.astimezone(UTC)),
            )
        if target.kind == "pim_group":
            from msgraph.generated.models.privileged_access_group_assignment_schedule_request import (  # noqa: E501
                PrivilegedAccessGroupAssignmentScheduleRequest,
            )
            from msgraph.generated.models.privileged_access_group_relationships import (
                PrivilegedAccessGroupRelationships,
            )
            from msgraph.generated.models.schedule_request_actions import ScheduleRequestActions

            body: Any = PrivilegedAccessGroupAssignmentScheduleRequest(
                access_id=PrivilegedAccessGroupRelationships(target.param("access", "member")),
                action=ScheduleRequestActions(action),
                group_id=target.param("group"),
                principal_id=principal_id,
                justification=justification,
                schedule_info=schedule,
            )
            collection = (self.client.identity_governance.privileged_access.group
                          .assignment_schedule_requests)
        else:
            from msgraph.generated.models.unified_role_assignment_schedule_request import (
                UnifiedRoleAssignmentScheduleRequest,
            )
            from msgraph.generated.models.unified_role_schedule_request_actions import (
                UnifiedRoleScheduleRequestActions,
            )

            body = UnifiedRoleAssignmentScheduleRequest(
                action=UnifiedRoleScheduleRequestActions(action),
                role_definition_id=target.param("role"),
                directory_scope_id=target.param("scope", "/"),
                principal_id=principal_id,
                justification=justification,
                schedule_info=schedule,
            )
            collection = self.client.role_management.directory.role_assignment_schedule_requests
        return body, collection

    async def _post_schedule_request(self, change: Change, action: str, principal_id: str,
                                     ) -> str | None:
        """POST the request and wait for PIM to carry it out; return the PIM error code when
        Graph refused it with a 400 or 404 (the caller decides what that means)."""
        from kiota_abstractions.api_error import APIError

        body, collection = self._schedule_request(
            change.target, action, principal_id, change.expires_at, _justification(change)
        )
        try:
            made = await collection.post(body)
        except APIError as error:
            code, _ = odata_code(error)
            status = error.response_status_code
            if status == 400 and code in ("RoleAssignmentExists", "RoleAssignmentDoesNotExist"):
                return code
            if action == "adminRemove" and status in (400, 404):
                return code or str(status)  # the caller reads the schedules again
            raise translate(error, change.target.display) or error from None
        except Exception as error:
            raise translate(error, change.target.display) or error from None
        if action != "adminRemove":
            await self._until_provisioned(change, collection, made)
        return None

    async def _until_provisioned(self, change: Change, collection: Any, made: Any) -> None:
        """Poll the schedule request (bounded) until PIM says `Provisioned`: a request that
        waits for an approver, or that PIM failed, denied or cancelled, is not a grant."""
        status = str(getattr(made, "status", None) or "Provisioned")
        request_id = str(getattr(made, "id", None) or "")
        subject = f"{change.target.display}: PIM request {request_id}"
        delay, waited = PIM_POLL_FIRST_DELAY, 0.0
        while status in PIM_PENDING and status not in PIM_WAITS_FOR_PEOPLE \
                and waited + delay <= self.pim_poll_timeout and request_id:
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, PIM_POLL_MAX_DELAY)
            item = _request_item(collection, request_id)
            again = await self._call(item.get(), subject)
            status = str(getattr(again, "status", None) or status)
        if status in PIM_DONE:
            return
        if status in PIM_WAITS_FOR_PEOPLE:
            raise ProviderError(f"{subject} is {status}: PIM waits for an approver, so nothing is "
                                "granted yet; approve it in PIM or remove the approval rule "
                                "from the role's PIM settings")
        if status in PIM_PENDING:
            raise ProviderError(f"{subject} still {status} after {waited:g}s", retryable=True)
        raise ProviderError(f"{subject} ended {status}: Entra PIM did not grant it")

    async def _grant_schedule(self, change: Change) -> Outcome:
        target = change.target
        await self._check_resource(target)
        principal_id = await self._user_id(change.principal)
        native = change.expires_at is not None
        held = await self._schedules(target, principal_id)
        if held:
            end = _end_of(held[0])
            wanted = change.expires_at
            if end is None or (wanted is not None
                               and end >= saturating_add(wanted, -timedelta(seconds=1))):
                return Outcome(change, Status.UNCHANGED, f"already assigned until {_text(end)}",
                               native_expiry_set=end is not None, principal_id=principal_id)
            refused = await self._post_schedule_request(change, "adminUpdate", principal_id)
            if refused is None:
                return Outcome(change, Status.DONE, f"assignment extended to {_text(wanted)}",
                               native_expiry_set=native, principal_id=principal_id)
            # The schedule ended between the read and the update: assign afresh.
        refused = await self._post_schedule_request(change, "adminAssign", principal_id)
        if refused == "RoleAssignmentExists":
            # Made by a concurrent run (or a retried call whose answer was lost).
            return Outcome(change, Status.UNCHANGED, "already assigned", native_expiry_set=native,
                           principal_id=principal_id)
        return Outcome(change, Status.DONE,
                       f"assigned until {_text(change.expires_at)} by Entra PIM",
                       native_expiry_set=native, principal_id=principal_id)

    async def _revoke_schedule(self, change: Change) -> Outcome:
        await self._check_resource(change.target)
        principal_id = await self._revoke_id(change)
        refused = await self._post_schedule_request(change, "adminRemove", principal_id)
        if refused is not None:
            # Graph's documentation names no code for "no such assignment" (the emulator's
            # RoleAssignmentDoesNotExist is an assumption), so the refusal is not trusted
            # either way: what PIM holds now decides.
            if not await self._schedules(change.target, principal_id):
                return Outcome(change, Status.UNCHANGED, "no active assignment")
            raise ProviderError(f"{change.target.display}: Entra PIM refused to remove the "
                                f"assignment of {change.principal} ({refused})")
        return Outcome(change, Status.DONE, "assignment removed")


def _request_item(collection: Any, request_id: str) -> Any:
    """The request builder for one schedule request of `collection` (group or role)."""
    by_id = next(name for name in dir(collection) if name.startswith("by_"))
    return getattr(collection, by_id)(request_id)


def _end_of(schedule: Mapping[str, Any]) -> datetime | None:
    """When a schedule ends; None for noExpiration (or an end Graph did not say)."""
    expiration = (schedule.get("scheduleInfo") or {}).get("expiration") or {}
    end = expiration.get("endDateTime")
    if expiration.get("type") == "noExpiration" or not isinstance(end, str):
        return None
    try:
        parsed = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: datetime | None) -> str:
    return "no expiry" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _justification(change: Change) -> str:
    # PIM keeps the justification in its audit log; say who asked and through which file.
    parts = [f"accessctl: {change.why}"]
    if change.person:
        parts.append(f"for {change.person}")
    if change.requests:
        parts.append(f"({', '.join(change.requests)})")
    return " ".join(parts)[:500]

