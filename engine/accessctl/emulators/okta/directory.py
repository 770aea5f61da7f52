"""The directory: users, groups and their members (idempotent writes, as Okta's), and user
role assignments, with the search expressions and pagination Okta gives their listings."""

from __future__ import annotations

from datetime import UTC, datetime

from accessctl.emulators.http import JSON, Handler, HttpError, Request, Response
from accessctl.emulators.okta.auth import Auth
from accessctl.emulators.okta.search import matches, search_of
from accessctl.emulators.okta.state import Group, RoleAssignment, User
from accessctl.emulators.okta.wire import (
    API,
    GROUPS_DEFAULT_LIMIT,
    MEMBERS_DEFAULT_LIMIT,
    ROLE_LABELS,
    ROLE_TYPES,
    USERS_DEFAULT_LIMIT,
    base62,
    not_found,
    okta_error,
    stamp,
)


class Directory(Auth):
    def _directory_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", f"{API}/groups", self._list_groups),
            ("GET", f"{API}/groups/{{groupId}}", self._get_group),
            ("GET", f"{API}/groups/{{groupId}}/users", self._list_members),
            ("PUT", f"{API}/groups/{{groupId}}/users/{{userId}}", self._add_member),
            ("DELETE", f"{API}/groups/{{groupId}}/users/{{userId}}", self._remove_member),
            ("GET", f"{API}/users", self._list_users),
            ("GET", f"{API}/users/{{id}}", self._get_user),
            ("GET", f"{API}/users/{{id}}/groups", self._list_user_groups),
            ("GET", f"{API}/users/{{userId}}/roles", self._list_roles),
            ("POST", f"{API}/users/{{userId}}/roles", self._assign_role),
            ("GET", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}", self._get_role),
            ("DELETE", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}",
             self._unassign_role),
        ]

    # -- JSON renderings ---------------------------------------------------------------------------
    def _user_json(self, user: User) -> dict[str, JSON]:
        href = f"{self.base_url}{API}/users/{user.id}"
        return {
            "id": user.id,
            "status": user.status,
            "created": stamp(user.created),
            "activated": stamp(user.created) if user.status == "ACTIVE" else None,
            "statusChanged": stamp(user.created),
            "lastLogin": None,
            "lastUpdated": stamp(user.last_updated),
            "passwordChanged": None,
            "type": {"id": "oty1emulatordefault0"},
            "profile": user.profile(),
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": href}},
        }

    def _group_json(self, group: Group) -> dict[str, JSON]:
        href = f"{self.base_url}{API}/groups/{group.id}"
        return {
            "id": group.id,
            "created": stamp(group.created),
            "lastUpdated": stamp(group.last_updated),
            "lastMembershipUpdated": stamp(group.last_membership_updated),
            "objectClass": ["okta:user_group"],
            "type": group.type,
            "profile": {"name": group.name, "description": group.description},
            "_links": {
                "logo": [{"name": "medium", "type": "image/png",
                          "href": f"{self.base_url}/img/logos/groups/okta-medium.png"}],
                "users": {"href": f"{href}/users"},
                "apps": {"href": f"{href}/apps"},
            },
        }

    def _role_json(self, user: User, role: RoleAssignment) -> dict[str, JSON]:
        return {
            "id": role.id,
            "label": ROLE_LABELS.get(role.type, role.type),
            "type": role.type,
            "status": "ACTIVE",
            "created": stamp(role.created),
            "lastUpdated": stamp(role.created),
            "assignmentType": "USER",
            "_links": {"assignee": {"href": f"{self.base_url}{API}/users/{user.id}"}},
        }

    # -- lookups -----------------------------------------------------------------------------------
    def _user(self, id_or_login: str, *, by_login: bool) -> User:
        user = self.users.get(id_or_login)
        if user is None and by_login:
            wanted = id_or_login.casefold()
            user = next((u for u in self.users.values() if u.login.casefold() == wanted), None)
        if user is None:
            raise not_found(id_or_login, "User")
        return user

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(group_id, "UserGroup")
        return group

    # -- handlers: groups --------------------------------------------------------------------------
    def _list_groups(self, request: Request) -> Response:
        tree = search_of(request)
        prefix = (request.arg("q") or "").casefold()
        with self.lock:
            chosen = [
                (g.id, self._group_json(g)) for g in self.groups.values()
                if g.name.casefold().startswith(prefix)
                and (tree is None or matches(tree, g.field))
            ]
        return self._page(request, chosen, GROUPS_DEFAULT_LIMIT)

    def _get_group(self, request: Request) -> JSON:
        with self.lock:
            return self._group_json(self._group(request.params["groupId"]))

    def _list_members(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["groupId"])
            chosen = self.listing_lag.listed(group.id, (
                (uid, (uid, self._user_json(self.users[uid]))) for uid in group.members))
        return self._page(request, chosen, MEMBERS_DEFAULT_LIMIT)

    def _membership(self, request: Request) -> tuple[Group, User]:
        """The group and user of a membership write; a group Okta does not manage the members
        of (an app or built-in group) refuses it."""
        group = self._group(request.params["groupId"])
        user = self._user(request.params["userId"], by_login=False)
        if group.type != "OKTA_GROUP":
            raise HttpError(403, okta_error(
                "E0000006", "You do not have permission to perform the requested action"))
        return group, user

    def _add_member(self, request: Request) -> Response:
        with self.lock:
            group, user = self._membership(request)
            if user.id not in group.members:
                group.members.add(user.id)
                group.last_membership_updated = datetime.now(UTC)
                self.listing_lag.wrote(group.id, user.id, True)
        return Response(204)

    def _remove_member(self, request: Request) -> Response:
        with self.lock:
            group, user = self._membership(request)
            if user.id in group.members:
                group.members.discard(user.id)
                group.last_membership_updated = datetime.now(UTC)
                self.listing_lag.wrote(group.id, user.id, False, (user.id, self._user_json(user)))
        return Response(204)

    # -- handlers: users ---------------------------------------------------------------------------
    def _list_users(self, request: Request) -> Response:
        tree = search_of(request)
        prefix = (request.arg("q") or "").casefold()
        with self.lock:
            chosen = [
                (u.id, self._user_json(u)) for u in self.users.values()
                if any(part.casefold().startswith(prefix)
                       for part in (u.first_name, u.last_name, u.email, u.login))
                and (tree is None or matches(tree, u.field))
                # Without a search, Okta lists every user except DEPROVISIONED ones.
                and (tree is not None or u.status != "DEPROVISIONED")
            ]
        return self._page(request, chosen, USERS_DEFAULT_LIMIT)

    def _get_user(self, request: Request) -> JSON:
        with self.lock:
            return self._user_json(self._user(request.params["id"], by_login=True))

    def _list_user_groups(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["id"], by_login=True)
            return [self._group_json(g) for g in sorted(self.groups.values(), key=lambda g: g.id)
                    if user.id in g.members]

    # -- handlers: role assignments ----------------------------------------------------------------
    def _list_roles(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            return [self._role_json(user, r) for r in self.roles.get(user.id, {}).values()]

    def _assign_role(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        role_type = body.get("type") if isinstance(body, dict) else None
        if role_type not in ROLE_TYPES:
            raise HttpError(400, okta_error("E0000001", "Api validation failed: type",
                                            [f"type: unsupported role type {role_type!r}"]))
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            held = self.roles.setdefault(user.id, {})
            if any(r.type == role_type for r in held.values()):
                raise HttpError(409, okta_error(
                    "E0000090", "Duplicate role assignment exception"))
            role = RoleAssignment("ra1" + base62(next(self._serial), 17), str(role_type),
                                  datetime.now(UTC))
            held[role.id] = role
            return Response(201, self._role_json(user, role))

    def _get_role(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            role = self.roles.get(user.id, {}).get(request.params["roleAssignmentId"])
            if role is None:
                raise not_found(request.params["roleAssignmentId"], "RoleAssignment")
            return self._role_json(user, role)

    def _unassign_role(self, request: Request) -> Response:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            if self.roles.get(user.id, {}).pop(request.params["roleAssignmentId"], None) is None:
                raise not_found(request.params["roleAssignmentId"], "RoleAssignment")
        return Response(204)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_user(self, login: str, email: str | None = None, *, first_name: str = "Test",
                 last_name: str = "User", status: str = "ACTIVE") -> str:
        """Create a user and return its id (`00u` + 17 characters, in creation order)."""
        now = datetime.now(UTC)
        with self.lock:
            user_id = "00u" + base62(next(self._serial), 17)
            self.users[user_id] = User(user_id, login, email or login, first_name, last_name,
                                       status, now, now)
        return user_id

    def rename_user(self, login: str, new_login: str, email: str | None = None) -> None:
        """An administrator changes the user's `profile.login` (and, if given, email): the user
        keeps its id, so group memberships follow it, and the old login is free."""
        with self.lock:
            user = self._user(login, by_login=True)
            wanted = new_login.casefold()
            taken = next((u for u in self.users.values() if u.login.casefold() == wanted), None)
            if taken is not None and taken is not user:
                raise ValueError(f"login {new_login!r} is taken")
            user.login = new_login
            if email is not None:
                user.email = email
            user.last_updated = datetime.now(UTC)

    def add_group(self, name: str, description: str = "", *, group_type: str = "OKTA_GROUP"
                  ) -> str:
        """Create a group and return its id (`00g` + 17 characters)."""
        now = datetime.now(UTC)
        with self.lock:
            group_id = "00g" + base62(next(self._serial), 17)
            self.groups[group_id] = Group(group_id, name, description, group_type, now, now, now)
        return group_id

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self._group(group_id).members.add(self._user(user_id, by_login=False).id)

    def member_logins(self, group_id: str) -> set[str]:
        with self.lock:
            return {self.users[uid].login for uid in self._group(group_id).members}

    def user_id(self, login: str) -> str:
        with self.lock:
            return self._user(login, by_login=True).id
