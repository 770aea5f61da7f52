"""Cloud Identity v1 groups and memberships: look-ups, roles, MEMBER role expiry (which only
some editions have, and which drops the membership once it passes), and paged listings."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from accessctl.emulators.gcp.server import GcpServer
from accessctl.emulators.gcp.state import Group, Membership
from accessctl.emulators.gcp.wire import (
    BASIC_PAGE_DEFAULT,
    BASIC_PAGE_MAX,
    EMPTY_TYPE,
    EXPIRY_MASKS,
    FULL_PAGE_DEFAULT,
    FULL_PAGE_MAX,
    MEMBER_ROLES,
    MEMBERSHIP_TYPE,
    fail,
    google_error,
    int_field,
    json_object,
    page_token,
    parse_rfc3339,
    rfc3339,
)
from accessctl.emulators.http import JSON, Handler, HttpError, Request


class Identity(GcpServer):
    def _identity_routes(self) -> list[tuple[str, str, Handler]]:
        memberships = "/v1/groups/{gid}/memberships"
        return [
            ("GET", "/v1/groups:lookup", self._lookup_group),
            ("GET", f"{memberships}:lookup", self._lookup_membership),
            ("POST", f"{memberships}/{{mid}}:modifyMembershipRoles", self._modify_roles),
            ("POST", memberships, self._create_membership),
            ("GET", memberships, self._list_memberships),
            ("GET", f"{memberships}/{{mid}}", self._get_membership),
            ("DELETE", f"{memberships}/{{mid}}", self._delete_membership),
        ]

    # -- look-ups ---------------------------------------------------------------------------------
    def _group_by_email(self, email: str) -> Group | None:
        for group in self.groups.values():
            if group.email == email.lower():
                return group
        return None

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise _denied(f"groups/{group_id}")
        self._expire(group)
        return group

    def _expire(self, group: Group) -> None:
        """Drop memberships whose MEMBER role expiry has passed, as Cloud Identity does."""
        now = self.clock()
        for key, membership in list(group.memberships.items()):
            expiry = membership.member_expiry()
            if expiry is not None and expiry <= now:
                del group.memberships[key]

    def _membership(self, group: Group, membership_id: str) -> Membership:
        found = group.memberships.get(membership_id)
        if found is None:
            raise fail(404, f"Membership {group.name}/memberships/{membership_id} not found.")
        return found

    def _new_membership(self, group: Group, member: str, roles: list[dict[str, Any]],
                        ) -> Membership:
        member = member.lower()
        if any(m.member == member for m in group.memberships.values()):
            raise fail(409, f"Error(4003): Cannot create membership '{member}' in "
                             f"'{group.name}' because it already exists.", "ALREADY_EXISTS")
        member_type = "GROUP" if self._group_by_email(member) else "USER"
        if member_type == "USER" and member not in self.users:
            raise fail(404, f"Error(4003): Member {member} not found.")
        now = self.clock()
        membership_id = f"1{next(self._serial):015x}"
        made = Membership(f"{group.name}/memberships/{membership_id}", member, member_type,
                          roles, now, now)
        group.memberships[membership_id] = made
        return made

    def _expiry_allowed(self) -> None:
        if not self.membership_expiry:
            raise fail(400, "Membership expiration is not available for this customer: it "
                             "needs Cloud Identity Premium or Google Workspace Enterprise.",
                        "FAILED_PRECONDITION")

    def _checked_roles(self, roles: list[Any]) -> list[dict[str, Any]]:
        names = [r.get("name") if isinstance(r, dict) else None for r in roles]
        if "MEMBER" not in names:
            raise fail(400, "Every membership must hold the MEMBER role.")
        if len(set(names)) != len(names) or any(n not in MEMBER_ROLES for n in names):
            raise fail(400, f"Invalid membership roles {names}.")
        checked: list[dict[str, Any]] = []
        for role in roles:
            entry: dict[str, Any] = {"name": role["name"]}
            if "expiryDetail" in role:
                if role["name"] != "MEMBER":
                    raise fail(400, "Expiry can be set only on the MEMBER role.")
                self._expiry_allowed()
                entry["expiryDetail"] = {"expireTime": self._future(role["expiryDetail"])}
            checked.append(entry)
        return checked

    def _future(self, detail: Any) -> str:
        text = detail.get("expireTime") if isinstance(detail, dict) else None
        try:
            when = parse_rfc3339(text) if isinstance(text, str) else None
        except ValueError:
            when = None
        if when is None:
            raise fail(400, f"Invalid expireTime {text!r}.")
        if when <= self.clock():
            raise fail(400, f"expireTime {text} is in the past.")
        return rfc3339(when)

    # -- handlers ----------------------------------------------------------------------------------
    def _lookup_group(self, request: Request) -> JSON:
        key = request.arg("groupKey.id")
        if not key:
            raise fail(400, "Request is missing required field group_key.id.")
        with self.lock:
            group = self._group_by_email(key)
            if group is None:
                raise _denied(f"groups/{key}")
            return {"name": group.name}

    def _lookup_membership(self, request: Request) -> JSON:
        key = request.arg("memberKey.id")
        if not key:
            raise fail(400, "Request is missing required field member_key.id.")
        with self.lock:
            group = self._group(request.params["gid"])
            for membership in group.memberships.values():
                if membership.member == key.lower():
                    return {"name": membership.name}
            raise fail(404, f"Error(4003): Membership of {key} in {group.name} not found.")

    def _create_membership(self, request: Request) -> JSON:
        body = json_object(request)
        key = body.get("preferredMemberKey")
        member = key.get("id") if isinstance(key, dict) else None
        if not isinstance(member, str) or not member:
            raise fail(400, "Request is missing required field preferred_member_key.id.")
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles:
            raise fail(400, "Request is missing required field roles.")
        with self.lock:
            checked = self._checked_roles(roles)
            group = self._group(request.params["gid"])
            made = self._new_membership(group, member, checked)
            return {"done": True, "response": {"@type": MEMBERSHIP_TYPE, **made.as_json()}}

    def _list_memberships(self, request: Request) -> JSON:
        view = request.arg("view", "BASIC")
        if view not in ("BASIC", "FULL", "VIEW_UNSPECIFIED"):
            raise fail(400, f"Invalid view {view}.")
        full = view == "FULL"
        default, ceiling = ((FULL_PAGE_DEFAULT, FULL_PAGE_MAX) if full
                            else (BASIC_PAGE_DEFAULT, BASIC_PAGE_MAX))
        size = int_field(request.arg("pageSize") or 0, "pageSize") or default
        if size < 0 or size > ceiling:
            raise fail(400, f"pageSize must be at most {ceiling} for view {view}.")
        if self.max_page_size is not None:
            size = min(size, self.max_page_size)
        start = page_token(request.arg("pageToken"))
        with self.lock:
            group = self._group(request.params["gid"])
            members = sorted(group.memberships.values(), key=lambda m: m.name)
            page = members[start:start + size]
            body: dict[str, Any] = {"memberships": [m.as_json(full) for m in page]}
            if start + size < len(members):
                body["nextPageToken"] = base64.urlsafe_b64encode(
                    f"offset:{start + size}".encode()
                ).decode()
            return body

    def _get_membership(self, request: Request) -> JSON:
        with self.lock:
            group = self._group(request.params["gid"])
            return self._membership(group, request.params["mid"]).as_json()

    def _modify_roles(self, request: Request) -> JSON:
        body = json_object(request)
        with self.lock:
            group = self._group(request.params["gid"])
            membership = self._membership(group, request.params["mid"])
            roles = {r["name"]: dict(r) for r in membership.roles}
            adds = body.get("addRoles") or []
            removes = body.get("removeRoles") or []
            updates = body.get("updateRolesParams") or []
            if not (adds or removes or updates):
                raise fail(400, "Nothing to modify: give addRoles, removeRoles or "
                                 "updateRolesParams.")
            for name in removes:
                if name == "MEMBER":
                    raise fail(400, "The MEMBER role cannot be removed; delete the membership.")
                roles.pop(name, None)
            for added in self._checked_roles([{"name": "MEMBER"}, *adds])[1:]:
                roles[added["name"]] = added
            for update in updates:
                mask = update.get("fieldMask") if isinstance(update, dict) else None
                role = update.get("membershipRole") if isinstance(update, dict) else None
                if mask not in EXPIRY_MASKS or not isinstance(role, dict):
                    raise fail(400, f"fieldMask may only contain expiry_detail.expire_time, "
                                     f"not {mask!r}.")
                name = role.get("name")
                if name not in roles:
                    raise fail(400, f"The membership does not hold role {name!r}.")
                if name != "MEMBER":
                    raise fail(400, "Expiry can be set only on the MEMBER role.")
                if "expiryDetail" in role:
                    self._expiry_allowed()
                    roles[name]["expiryDetail"] = {"expireTime": self._future(role["expiryDetail"])}
                else:
                    roles[name].pop("expiryDetail", None)
            membership.roles = list(roles.values())
            membership.updated = self.clock()
            return {"membership": membership.as_json()}

    def _delete_membership(self, request: Request) -> JSON:
        with self.lock:
            group = self._group(request.params["gid"])
            self._membership(group, request.params["mid"])
            del group.memberships[request.params["mid"]]
            return {"done": True, "response": {"@type": EMPTY_TYPE}}

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_group(self, email: str) -> str:
        """Create a Cloud Identity group; returns its resource name "groups/<id>"."""
        with self.lock:
            for group in self.groups.values():
                if group.email == email.lower():
                    return group.name
            group_id = f"0{next(self._serial):015x}"
            self.groups[group_id] = Group(f"groups/{group_id}", email.lower())
            return f"groups/{group_id}"

    def add_membership(self, group_email: str, member: str,
                       expire_time: datetime | None = None, roles: tuple[str, ...] = ("MEMBER",),
                       ) -> str:
        with self.lock:
            group = self._group_by_email(group_email)
            assert group is not None, f"no group {group_email}"
            made = self._new_membership(group, member, _roles(roles, expire_time))
            return made.name

    def memberships(self, group_email: str) -> list[dict[str, Any]]:
        with self.lock:
            group = self._group_by_email(group_email)
            assert group is not None, f"no group {group_email}"
            self._expire(group)
            return [m.as_json() for m in group.memberships.values()]


def _denied(resource: str) -> HttpError:
    message = f"Error(2028): Permission denied for resource {resource} (or it may not exist)."
    return HttpError(403, google_error(403, message, details=[{
        "@type": "type.googleapis.com/google.rpc.ResourceInfo",
        "resourceName": resource,
        "resourceType": "cloudidentity.googleapis.com/Group",
        "owner": "domain:cloudidentity.googleapis.com",
        "description": message,
    }]))


def _roles(names: tuple[str, ...], expire_time: datetime | None) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = []
    for name in names:
        role: dict[str, Any] = {"name": name}
        if name == "MEMBER" and expire_time is not None:
            role["expiryDetail"] = {"expireTime": rfc3339(expire_time)}
        roles.append(role)
    return roles
