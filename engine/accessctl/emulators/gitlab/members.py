"""Groups, projects and their members: direct and inherited memberships, access levels, expiry,
and removal with or without the subgroups and projects below."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from accessctl.emulators.gitlab.server import Routes
from accessctl.emulators.gitlab.state import Group, Member, Project, User
from accessctl.emulators.gitlab.users import Users
from accessctl.emulators.gitlab.wire import (
    ACCESS_LEVELS,
    access_level,
    bad_request,
    expiry,
    form,
    int_param,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, HttpError, Request, Response


class Members(Users):
    def _member_routes(self) -> Routes:
        routes: Routes = [
            ("GET", "/groups/{id}", self._get_group),
            ("GET", "/projects/{id}", self._get_project),
        ]
        for kind in ("groups", "projects"):
            members = f"/{kind}/{{id}}/members"
            routes += [
                ("GET", f"{members}/all", self._members_handler(kind, "list_all")),
                ("GET", f"{members}/all/{{user_id}}", self._members_handler(kind, "get_all")),
                ("GET", members, self._members_handler(kind, "list")),
                ("POST", members, self._members_handler(kind, "add")),
                ("GET", f"{members}/{{user_id}}", self._members_handler(kind, "get")),
                ("PUT", f"{members}/{{user_id}}", self._members_handler(kind, "update")),
                ("DELETE", f"{members}/{{user_id}}", self._members_handler(kind, "remove")),
            ]
        return routes

    # -- JSON shapes ------------------------------------------------------------------------------
    def _member_json(self, member: Member) -> JSON:
        body = self._user_basic(member.user_id)
        body.update({
            "access_level": member.access_level,
            "created_at": stamp(member.created_at),
            "created_by": self._user_basic(member.created_by) if member.created_by else None,
            "expires_at": member.expires_at,
            "membership_state": "active",
        })
        return body

    def _group_json(self, group: Group) -> JSON:
        return {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "full_name": group.full_path.replace("/", " / "),
            "full_path": group.full_path,
            "parent_id": group.parent_id,
            "visibility": "private",
            "description": "",
            "web_url": f"{self.base_url}/groups/{group.full_path}",
        }

    def _project_json(self, project: Project) -> JSON:
        namespace = self.groups[project.namespace_id]
        return {
            "id": project.id,
            "name": project.name,
            "path": project.path,
            "path_with_namespace": project.path_with_namespace,
            "name_with_namespace": f"{namespace.full_path.replace('/', ' / ')} / {project.name}",
            "default_branch": project.default_branch,
            "visibility": "private",
            "namespace": {"id": namespace.id, "name": namespace.name, "path": namespace.path,
                          "kind": "group", "full_path": namespace.full_path},
            "web_url": f"{self.base_url}/{project.path_with_namespace}",
            "merge_method": "merge",
            "squash_option": "default_off",
        }

    # -- look-ups ----------------------------------------------------------------------------------
    def _source(self, kind: str, ref: str) -> tuple[dict[int, Member], list[dict[int, Member]]]:
        """The direct members of a group or project, and its ancestors' (nearest first)."""
        if kind == "groups":
            group = self._find_group(ref)
            direct, parent_id = group.members, group.parent_id
        else:
            project = self._find_project(ref)
            direct, parent_id = project.members, project.namespace_id
        inherited = []
        while parent_id is not None:
            parent = self.groups[parent_id]
            inherited.append(parent.members)
            parent_id = parent.parent_id
        return direct, inherited

    def _effective(self, direct: dict[int, Member],
                   inherited: list[dict[int, Member]]) -> dict[int, Member]:
        best: dict[int, Member] = {}
        for members in [direct, *inherited]:
            for user_id, member in members.items():
                if user_id not in best or member.access_level > best[user_id].access_level:
                    best[user_id] = member
        return best

    def _role_on(self, project: Project, user: User) -> int:
        """The user's effective access level on the project (0: none; admins count as Owner)."""
        if user.is_admin:
            return 50
        held = self._effective(*self._source("projects", str(project.id))).get(user.id)
        return held.access_level if held is not None else 0

    def _members_of(self, source: str | int, kind: str | None) -> dict[int, Member]:
        if kind in (None, "projects", "project"):
            try:
                return self._find_project(str(source)).members
            except HttpError:
                if kind is not None:
                    raise
        return self._find_group(str(source)).members

    # -- handlers ----------------------------------------------------------------------------------
    def _get_group(self, request: Request, actor: User) -> JSON:
        return self._group_json(self._find_group(request.params["id"]))

    def _get_project(self, request: Request, actor: User) -> JSON:
        return self._project_json(self._find_project(request.params["id"]))

    def _members_handler(self, kind: str, op: str) -> Callable[[Request, User], Response | JSON]:
        def handle(request: Request, actor: User) -> Response | JSON:
            direct, inherited = self._source(kind, request.params["id"])
            if op in ("list", "list_all"):
                members = direct if op == "list" else self._effective(direct, inherited)
                query = (request.arg("query") or "").casefold()
                shown = self.listing_lag.listed(id(direct), (
                    (m.user_id, m) for m in sorted(members.values(), key=lambda m: m.user_id)))
                rows = [
                    self._member_json(m) for m in shown
                    if not query or query in self.users[m.user_id].username.casefold()
                    or query in self.users[m.user_id].name.casefold()
                ]
                return self._paginate(request, rows)
            if op == "add":
                return self._add_member(request, actor, direct, inherited)
            user_id = int_param(request, "user_id")
            if op == "get_all":
                member = self._effective(direct, inherited).get(user_id)
            else:
                member = direct.get(user_id)
            if member is None:
                raise not_found()
            if op in ("get", "get_all"):
                return self._member_json(member)
            if op == "update":
                data = form(request)
                level = access_level(data.get("access_level"), required=True)
                assert level is not None
                self._check_inherited(user_id, level, inherited)
                member.access_level = level
                if "expires_at" in data:
                    member.expires_at = expiry(data.get("expires_at"), self.clock())
                return self._member_json(member)
            self.listing_lag.wrote(id(direct), user_id, False, direct.pop(user_id))
            skip = (request.arg("skip_subresources") or "false").casefold() in ("true", "1")
            if kind == "groups" and not skip:
                # GitLab's default (skip_subresources=false): the user's direct memberships in
                # the group's subgroups and projects go too.
                self._remove_below(self._find_group(request.params["id"]).id, user_id)
            return Response(204, None)

        return handle

    def _remove_below(self, group_id: int, user_id: int) -> None:
        """Drop `user_id`'s direct memberships in every subgroup and project under the group, as
        GitLab's Members::DestroyService does unless told to skip subresources."""
        below = {group_id}
        grew = True
        while grew:
            more = {g.id for g in self.groups.values() if g.parent_id in below} - below
            below |= more
            grew = bool(more)
        for group in self.groups.values():
            if group.id in below and group.id != group_id:
                group.members.pop(user_id, None)
        for project in self.projects.values():
            if project.namespace_id in below:
                project.members.pop(user_id, None)

    def _add_member(self, request: Request, actor: User, direct: dict[int, Member],
                    inherited: list[dict[int, Member]]) -> Response:
        data = form(request)
        level = access_level(data.get("access_level"), required=True)
        assert level is not None
        raw_user = data.get("user_id", data.get("username"))
        if raw_user is None or raw_user == "":
            raise bad_request("user_id, username are missing, exactly one parameter must be "
                               "provided")
        user = self._find_user(raw_user if "user_id" in data else str(raw_user))
        if user.id in direct:
            raise HttpError(409, {"message": "Member already exists"})
        self._check_inherited(user.id, level, inherited)
        expires_at = expiry(data.get("expires_at"), self.clock())
        member = Member(user.id, level, expires_at, self.clock(), actor.id)
        direct[user.id] = member
        self.listing_lag.wrote(id(direct), user.id, True)
        return Response(201, self._member_json(member))

    def _check_inherited(self, user_id: int, level: int,
                         inherited: list[dict[int, Member]]) -> None:
        """GitLab refuses a direct membership below the level the user inherits from a parent
        group, with a validation message naming that level."""
        for members in inherited:
            held = members.get(user_id)
            if held is not None and held.access_level > level:
                role = ACCESS_LEVELS[held.access_level]
                raise HttpError(400, {"message": {"access_level": [
                    f"should be greater than or equal to {role} inherited membership"
                ]}})

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def project_id(self, path_with_namespace: str) -> int:
        with self.lock:
            return self._find_project(path_with_namespace).id

    def add_group(self, full_path: str, name: str | None = None) -> int:
        """A group; a path with slashes is a subgroup of the existing parent group."""
        with self.lock:
            parent_id = None
            if "/" in full_path:
                parent_id = self._find_group(full_path.rsplit("/", 1)[0]).id
            group_id = next(self._ids)
            self.groups[group_id] = Group(group_id, full_path,
                                          name or full_path.rsplit("/", 1)[-1], parent_id)
            return group_id

    def add_member(self, source: str | int, username: str, access_level: int = 30,
                   expires_at: str | None = None, *, kind: str | None = None) -> None:
        """Make `username` a direct member of a group or project (named by path or id)."""
        with self.lock:
            members = self._members_of(source, kind)
            user = self._find_user(username)
            members[user.id] = Member(user.id, access_level, expires_at, self.clock(), None)

    def members(self, source: str | int, *, kind: str | None = None) -> dict[str, Member]:
        """Direct members by username, for checks from outside the API."""
        with self.lock:
            return {self.users[uid].username: m
                    for uid, m in self._members_of(source, kind).items()}

    def remove_expired_members(self, today: date | None = None,
                               skip_subresources: bool = True) -> list[str]:
        """GitLab's daily job: drop memberships whose `expires_at` is today or earlier. Current
        GitLab skips subresources; `skip_subresources=False` plays the versions whose job took
        an expired group member's direct memberships in its subgroups and projects with it
        (gitlab-org/gitlab#471051)."""
        today = today or self.clock().date()
        removed = []
        with self.lock:
            sources: list[tuple[int | None, dict[int, Member]]] = [
                (g.id, g.members) for g in self.groups.values()]
            sources += [(None, p.members) for p in self.projects.values()]
            for group_id, members in sources:
                for user_id, member in list(members.items()):
                    if member.expires_at and date.fromisoformat(member.expires_at) <= today:
                        del members[user_id]
                        removed.append(self.users[user_id].username)
                        if group_id is not None and not skip_subresources:
                            self._remove_below(group_id, user_id)
        return removed
