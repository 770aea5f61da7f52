"""Entra users: the object id behind the UPN (or mail) identities.yaml names, looked up once
(in bulk for a run's grants), and the name observe reports a member by."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accessctl.core.model import Change
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.entra.graph import GraphSession, is_guid, odata_string

IN_CLAUSE = 15
"""Graph takes at most 15 values in one `in (...)` filter."""


class UserDirectory(GraphSession):
    """Look-ups of users, shared by every target kind."""

    async def _user_id(self, principal: str) -> str:
        """The object id of the user identities.yaml names `principal` (looked up once)."""
        key = principal_key(principal)
        if key not in self._user_ids:
            self._user_ids[key] = await self._look_up_user_id(principal)
        return self._user_ids[key]

    async def _look_up_user_id(self, principal: str) -> str:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        subject = f"user {principal}"
        if self.lookup == "mail" and not is_guid(principal):
            from msgraph.generated.users.users_request_builder import UsersRequestBuilder

            query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=f"mail eq {odata_string(principal)}", select=["id", "mail"]
            )
            found = await self._pages(
                self.client.users, RequestConfiguration(query_parameters=query), subject
            )
            if not found:
                raise NotFound(f"user {principal} not found in Entra ID (no user has that mail)")
            if len(found) > 1:
                raise ProviderError(f"user {principal}: {len(found)} Entra users share that mail")
            return str(found[0]["id"])
        from msgraph.generated.users.item.user_item_request_builder import (
            UserItemRequestBuilder,
        )

        by_id = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=["id"])
        user = await self._object(self.client.users.by_user_id(principal),
                                  RequestConfiguration(query_parameters=by_id), subject)
        if not user.get("id"):
            raise NotFound(f"user {principal} not found in Entra ID")
        return str(user["id"])

    async def _look_up_many(self, principals: Sequence[str]) -> None:
        """Object ids of many users, `IN_CLAUSE` per call (`$filter=... in (...)`), the calls
        side by side, into the cache `_user_id` reads. Names Graph does not know are left to
        `_user_id`, which says so."""
        import asyncio

        wanted = sorted({principal_key(p): p for p in principals
                         if not is_guid(p) and principal_key(p) not in self._user_ids}.items())
        chunks = [[name for _, name in wanted[start:start + IN_CLAUSE]]
                  for start in range(0, len(wanted), IN_CLAUSE)]
        for found in await asyncio.gather(*(self._users_named(c) for c in chunks)):
            keys: dict[str, list[str]] = {}
            for user in found:
                if user.get("id") and user.get(self.lookup):
                    keys.setdefault(principal_key(str(user[self.lookup])), []).append(
                        str(user["id"]))
            for key, ids in keys.items():
                if len(ids) == 1:  # two users sharing a mail: _user_id reports it
                    self._user_ids.setdefault(key, ids[0])

    async def _users_named(self, names: Sequence[str]) -> list[dict[str, Any]]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        listed = ", ".join(odata_string(name) for name in names)
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"{self.lookup} in ({listed})", select=["id", self.lookup], top=IN_CLAUSE)
        return await self._pages(self.client.users, RequestConfiguration(query_parameters=query),
                                 f"{len(names)} users")

    def _key(self, directory_object: Mapping[str, Any]) -> str:
        """How observe names a member: the user's UPN or mail, else its object id (groups,
        service principals, users without mail), which revoke accepts as is."""
        name = directory_object.get(self.lookup)
        return principal_key(str(name or directory_object.get("id")))

    async def _key_of_id(self, principal_id: str) -> str:
        try:
            user = await self._call(self.client.users.by_user_id(principal_id).get(),
                                    f"user {principal_id}")
        except NotFound:
            return principal_key(principal_id)  # not a user (a group or app): name it by id
        return self._key({"id": user.id, "userPrincipalName": user.user_principal_name,
                          "mail": user.mail})

    async def _revoke_id(self, change: Change) -> str:
        """The object id a revoke removes: the one the engine observed (whatever the UPN is
        now); else the principal itself when observe named it by object id (groups, apps);
        else the user the principal names now."""
        if change.principal_id is not None:
            if not is_guid(change.principal_id):
                raise NotFound(f"Entra object id {change.principal_id!r} is not an object id")
            return change.principal_id
        if is_guid(change.principal):
            return change.principal
        return await self._user_id(change.principal)
