"""Entra target kind `group`: direct membership through `members/$ref`. No native expiry: the
revoke job ends it."""

from __future__ import annotations

from accessctl.core.model import Change, Outcome, Status, Target
from accessctl.providers.base import NotFound
from accessctl.providers.entra.graph import odata_code, translate
from accessctl.providers.entra.users import UserDirectory


class GroupMembership(UserDirectory):
    """Observe, grant and revoke direct members of a security group."""

    async def _observe_group(self, target: Target) -> frozenset[str]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.groups.item.members.members_request_builder import (
            MembersRequestBuilder,
        )

        group = target.param("group")
        query = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(
            top=self.page_size, select=["id", "userPrincipalName", "mail"]
        )
        members = await self._pages(
            self.client.groups.by_group_id(group).members,
            RequestConfiguration(query_parameters=query), f"group {group}",
        )
        ids: dict[str, str] = {}
        for member in members:
            key = self._key(member)
            ids[key] = str(member.get("id") or "")
            if member.get("id") and member.get(self.lookup):
                self._user_ids.setdefault(key, str(member["id"]))
        self._ids.record(target.display, {k: v for k, v in ids.items() if v})
        return frozenset(ids)

    async def _grant_group(self, change: Change) -> Outcome:
        from kiota_abstractions.api_error import APIError
        from msgraph.generated.models.reference_create import ReferenceCreate

        group = change.target.param("group")
        user_id = await self._user_id(change.principal)
        body = ReferenceCreate(odata_id=f"{self.graph_url}/directoryObjects/{user_id}")
        try:
            await self.client.groups.by_group_id(group).members.ref.post(body)
        except APIError as error:
            _, message = odata_code(error)
            if error.response_status_code == 400 and "already exist" in message:
                return Outcome(change, Status.UNCHANGED, f"already a member of group {group}",
                               principal_id=user_id)
            raise translate(error, f"group {group}") or error from None
        except Exception as error:
            raise translate(error, f"group {group}") or error from None
        return Outcome(change, Status.DONE, f"added to group {group}", principal_id=user_id)

    async def _revoke_group(self, change: Change) -> Outcome:
        group = change.target.param("group")
        user_id = await self._revoke_id(change)
        builder = self.client.groups.by_group_id(group).members.by_directory_object_id(user_id)
        try:
            await self._call(builder.ref.delete(), f"member {change.principal} of group {group}")
        except NotFound:
            # Either not a member (done already) or no such group: only the second is an error.
            await self._call(self.client.groups.by_group_id(group).get(), f"group {group}")
            return Outcome(change, Status.UNCHANGED, f"not a member of group {group}")
        return Outcome(change, Status.DONE, f"removed from group {group}")

