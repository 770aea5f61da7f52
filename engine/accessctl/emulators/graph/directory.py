"""Users, groups and direct group members (`$ref` writes); a group's member list includes its
active PIM `member` assignments, as Entra lists them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from accessctl.emulators.graph.filters import parse_filter, parse_in_filter
from accessctl.emulators.graph.server import GraphServer
from accessctl.emulators.graph.state import Group, User
from accessctl.emulators.graph.wire import REF, check_declared, refuse
from accessctl.emulators.http import JSON, Handler, Request, Response

_USER_FIELDS = {"mail": "mail", "userPrincipalName": "user_principal_name"}


class Directory(GraphServer):
    def _directory_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/v1.0/users", self._list_users),
            ("GET", "/v1.0/users/{user}", self._get_user),
            ("GET", "/v1.0/groups/{group}", self._get_group),
            ("GET", "/v1.0/groups/{group}/members", self._list_members),
            ("POST", "/v1.0/groups/{group}/members/" + REF, self._add_member_ref),
            ("DELETE", "/v1.0/groups/{group}/members/{member}/" + REF, self._remove_member_ref),
        ]

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
                raise refuse(400, "Request_BadRequest",
                             "Invalid URL format specified in @odata.id.")
            member_id = match.group(1)
            if member_id not in self.users:
                raise refuse(404, "Request_ResourceNotFound", f"Resource '{member_id}' does not "
                             "exist or one of its queried reference-property objects are not "
                             "present.")
            if member_id in group.members:
                raise refuse(400, "Request_BadRequest", "One or more added object references "
                             "already exist for the following modified properties: 'members'.")
            group.members.append(member_id)
            self.listing_lag.wrote(group.id, member_id, True)
            return Response(204)

    def _remove_member_ref(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["group"])
            member_id = request.params["member"]
            if member_id not in group.members:
                raise refuse(404, "Request_ResourceNotFound", f"Resource '{member_id}' does not "
                             "exist or one of its queried reference-property objects are not "
                             "present.")
            group.members.remove(member_id)
            self.listing_lag.wrote(group.id, member_id, False, self._principal_json(member_id))
            return Response(204)

    # -- seeding and inspection (tests and the demo) -----------------------------------------------
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

    def member_ids(self, group_id: str) -> list[str]:
        """Everyone the group lists as a member now: direct members, then active PIM members."""
        with self.lock:
            group = self.groups[group_id]
            ids = list(group.members)
            for schedule in self.active_schedules("group", resource=group_id, access="member"):
                if schedule.principal_id not in ids:
                    ids.append(schedule.principal_id)
            return ids
