"""Google Cloud emulator: Resource Manager v3 IAM policies and Cloud Identity v1 memberships.

Paths, bodies and error shapes follow the discovery documents shipped in google-api-python-client
(`cloudresourcemanager.v3.json`, `cloudidentity.v1.json`): the client builds
`v3/{+resource}:getIamPolicy` and `v1/{+parent}/memberships`, where `{+...}` is a reserved
expansion, so `projects/p1` arrives with its slash intact. Errors use Google's JSON body
`{"error": {"code", "message", "status", "details"}}`.

Behaviour kept from the real services because the engine depends on it:
- IAM: an etag per policy that changes on every write; a stale etag on setIamPolicy answers
  409 ABORTED; conditional bindings need policy version 3 on write and on read (reading a
  conditional policy with a lower requested version answers 400 INVALID_ARGUMENT); the update
  mask defaults to "bindings,etag"; unknown resources answer 403 PERMISSION_DENIED (Google does
  not say whether a resource exists to a caller without access); a `user:` member that is not
  a known account answers 400 "User ... does not exist.". Conditions are stored, not evaluated:
  an expired conditional binding stays in the policy, as on Google Cloud.
- Cloud Identity: memberships with a MEMBER role `expiryDetail.expireTime` disappear once that
  time has passed (the emulator's `clock` is injectable); a duplicate create answers 409
  ALREADY_EXISTS; unknown groups answer 403 "(or it may not exist)"; the member listing pages
  with pageSize and nextPageToken.
- Membership expiry is a Cloud Identity Premium / Google Workspace Enterprise feature: with
  `membership_expiry = False` (another edition) a create or update that sets
  `expiryDetail` is refused with 400 FAILED_PRECONDITION. Google documents the edition
  requirement, not the error it answers: the status and wording are the emulator's.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_RESOURCE_KINDS = ("projects", "folders", "organizations")
_POLICY_FIELDS = ("auditConfigs", "bindings", "etag", "version")
_MEMBER_ROLES = ("MEMBER", "MANAGER", "OWNER")
_EXPIRY_MASKS = ("expiryDetail.expireTime", "expiry_detail.expire_time")
_MEMBER_PREFIXES = ("user", "serviceAccount", "group", "domain", "principal", "principalSet",
                    "deleted")
_MEMBERSHIP_TYPE = "type.googleapis.com/google.apps.cloudidentity.groups.v1.Membership"
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
_FULL_PAGE_DEFAULT, _FULL_PAGE_MAX = 50, 500
_BASIC_PAGE_DEFAULT, _BASIC_PAGE_MAX = 200, 1000


def google_error(status: int, message: str, code_name: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> JSON:
    """Google's JSON error body (google.rpc.Status wrapped in "error")."""
    return {
        "error": {
            "code": status,
            "message": message,
            "status": code_name or _STATUS_NAMES.get(status, "UNKNOWN"),
            "details": details or [],
        }
    }


def _fail(status: int, message: str, code_name: str | None = None, reason: str | None = None,
          ) -> HttpError:
    details = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com"})
    return HttpError(status, google_error(status, message, code_name, details))


def rfc3339(value: datetime) -> str:
    """Google's output form: "Z", and fractional seconds only when there are any."""
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Google's `google-datetime`: RFC 3339, "Z" or an offset, up to nine fractional digits."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", text
    )
    if not match:
        raise ValueError(text)
    whole, fraction, offset = match.groups()
    micros = (fraction or "0").ljust(6, "0")[:6]
    zone = "+00:00" if offset == "Z" else offset
    return datetime.fromisoformat(f"{whole}.{micros}{zone}").astimezone(UTC)


@dataclass
class Policy:
    bindings: list[dict[str, Any]] = field(default_factory=list)
    audit_configs: list[dict[str, Any]] = field(default_factory=list)
    etag: str = ""

    @property
    def conditional(self) -> bool:
        return any("condition" in binding for binding in self.bindings)

    @property
    def version(self) -> int:
        return 3 if self.conditional else 1

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "etag": self.etag}
        # Google leaves empty repeated fields out of the JSON.
        if self.bindings:
            body["bindings"] = json.loads(json.dumps(self.bindings))
        if self.audit_configs:
            body["auditConfigs"] = json.loads(json.dumps(self.audit_configs))
        return body


@dataclass
class Membership:
    name: str
    member: str
    member_type: str
    roles: list[dict[str, Any]]
    created: datetime
    updated: datetime

    def member_expiry(self) -> datetime | None:
        for role in self.roles:
            if role.get("name") == "MEMBER" and "expiryDetail" in role:
                return parse_rfc3339(role["expiryDetail"]["expireTime"])
        return None

    def as_json(self, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "preferredMemberKey": {"id": self.member},
            "roles": [
                role if full else {"name": role["name"]}
                for role in json.loads(json.dumps(self.roles))
            ],
        }
        if full:
            body["type"] = self.member_type
            body["createTime"] = rfc3339(self.created)
            body["updateTime"] = rfc3339(self.updated)
            body["deliverySetting"] = "ALL_MAIL"
        return body


@dataclass
class Group:
    name: str
    email: str
    memberships: dict[str, Membership] = field(default_factory=dict)
    """Keyed by membership id."""


@dataclass
class LoggedResponse:
    method: str
    path: str
    status: int
    body: JSON


class GcpEmulator(Emulator):
    name = "gcp"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.policies: dict[str, Policy] = {}
        self.users: set[str] = set()
        self.groups: dict[str, Group] = {}
        """Keyed by group id (the part after "groups/")."""
        self.responses: list[LoggedResponse] = []
        """Every answer the routes gave, so tests can check bodies against the discovery docs."""
        self.max_page_size: int | None = None
        """Lower the membership page cap (tests use it to force paging)."""
        self.pending_etag_conflicts = 0
        self.membership_expiry = True
        """False plays an account without Cloud Identity Premium or Workspace Enterprise."""
        self._serial = itertools.count(1)

        for kind in _RESOURCE_KINDS:
            self.route("POST", f"/v3/{kind}/{{rid}}:getIamPolicy", self._get_iam_policy)
            self.route("POST", f"/v3/{kind}/{{rid}}:setIamPolicy", self._set_iam_policy)
        self.route("GET", "/v1/groups:lookup", self._lookup_group)
        self.route("GET", "/v1/groups/{gid}/memberships:lookup", self._lookup_membership)
        self.route("POST", "/v1/groups/{gid}/memberships/{mid}:modifyMembershipRoles",
                   self._modify_roles)
        self.route("POST", "/v1/groups/{gid}/memberships", self._create_membership)
        self.route("GET", "/v1/groups/{gid}/memberships", self._list_memberships)
        self.route("GET", "/v1/groups/{gid}/memberships/{mid}", self._get_membership)
        self.route("DELETE", "/v1/groups/{gid}/memberships/{mid}", self._delete_membership)

    # -- wire format ---------------------------------------------------------------------------
    def error_body(self, status: int, message: str) -> JSON:
        return google_error(status, message)

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        with self.lock:
            self.responses.append(
                LoggedResponse(request.method, request.path, response.status, response.body)
            )
        return response

    # -- seeding helpers (tests and the demo) --------------------------------------------------
    def add_project(self, project_id: str) -> str:
        return self._add_resource(f"projects/{project_id}")

    def add_folder(self, folder_id: str) -> str:
        return self._add_resource(f"folders/{folder_id}")

    def add_organization(self, organization_id: str) -> str:
        return self._add_resource(f"organizations/{organization_id}")

    def add_user(self, email: str) -> str:
        with self.lock:
            self.users.add(email.lower())
        return email

    def add_group(self, email: str) -> str:
        """Create a Cloud Identity group; returns its resource name "groups/<id>"."""
        with self.lock:
            for group in self.groups.values():
                if group.email == email.lower():
                    return group.name
            group_id = f"0{next(self._serial):015x}"
            self.groups[group_id] = Group(f"groups/{group_id}", email.lower())
            return f"groups/{group_id}"

    def add_binding(self, resource: str, role: str, member: str,
                    condition: dict[str, str] | None = None) -> None:
        """Add `member` to the binding for (role, condition), as another tool or a person would."""
        with self.lock:
            policy = self._policy(resource)
            bindings = [*policy.bindings, _binding(role, [member], condition)]
            policy.bindings = _merge(bindings)
            policy.etag = self._new_etag(resource)

    def add_membership(self, group_email: str, member: str,
                       expire_time: datetime | None = None, roles: tuple[str, ...] = ("MEMBER",),
                       ) -> str:
        with self.lock:
            group = self._group_by_email(group_email)
            assert group is not None, f"no group {group_email}"
            made = self._new_membership(group, member, _roles(roles, expire_time))
            return made.name

    def policy(self, resource: str) -> dict[str, Any]:
        with self.lock:
            return self._policy(resource).as_json()

    def memberships(self, group_email: str) -> list[dict[str, Any]]:
        with self.lock:
            group = self._group_by_email(group_email)
            assert group is not None, f"no group {group_email}"
            self._expire(group)
            return [m.as_json() for m in group.memberships.values()]

    def inject_etag_conflicts(self, count: int) -> None:
        """Make the next `count` setIamPolicy calls lose a race with another writer."""
        with self.lock:
            self.pending_etag_conflicts = count

    # -- Resource Manager: IAM -----------------------------------------------------------------
    def _add_resource(self, resource: str) -> str:
        with self.lock:
            if resource not in self.policies:
                self.policies[resource] = Policy(etag=self._new_etag(resource))
        return resource

    def _new_etag(self, resource: str) -> str:
        digest = hashlib.sha256(f"{resource}#{next(self._serial)}".encode()).digest()
        return base64.b64encode(b"\x07" + digest[:7]).decode()

    def _policy(self, resource: str) -> Policy:
        policy = self.policies.get(resource)
        if policy is None:
            # Google answers 403 for resources that do not exist, so existence does not leak.
            raise _fail(403, f"The caller does not have permission on {resource}",
                        reason="IAM_PERMISSION_DENIED")
        return policy

    def _resource(self, request: Request) -> str:
        kind = request.path.split("/")[2]
        return f"{kind}/{request.params['rid']}"

    def _get_iam_policy(self, request: Request) -> JSON:
        body = _object(request)
        options = body.get("options") or {}
        requested = _int(options.get("requestedPolicyVersion", 0), "requestedPolicyVersion")
        if requested not in (0, 1, 3):
            raise _fail(400, f"Invalid requested policy version {requested}: use 0, 1 or 3.")
        with self.lock:
            policy = self._policy(self._resource(request))
            if policy.conditional and requested < 3:
                raise _fail(
                    400,
                    "The policy contains conditional role bindings: request policy version 3 "
                    "(options.requestedPolicyVersion) to read it.",
                )
            return policy.as_json()

    def _set_iam_policy(self, request: Request) -> JSON:
        body = _object(request)
        wanted = body.get("policy")
        if not isinstance(wanted, dict):
            raise _fail(400, "Request is missing required field policy.")
        mask = _update_mask(body.get("updateMask"))
        version = _int(wanted.get("version", 0), "policy.version")
        if version not in (0, 1, 3):
            raise _fail(400, f"Invalid policy version {version}: use 0, 1 or 3.")
        bindings = wanted.get("bindings", [])
        if not isinstance(bindings, list):
            raise _fail(400, "policy.bindings must be a list.")
        checked = [_checked_binding(b) for b in bindings]
        resource = self._resource(request)
        with self.lock:
            current = self._policy(resource)
            if self.pending_etag_conflicts > 0:
                # Another writer got there first: the stored policy moves on under us.
                self.pending_etag_conflicts -= 1
                current.etag = self._new_etag(resource)
            etag = wanted.get("etag")
            if etag is not None and etag != current.etag:
                raise _fail(409, "There were concurrent policy changes. Please retry the whole "
                                 "read-modify-write with exponential backoff.", "ABORTED")
            new_bindings = _merge(checked) if "bindings" in mask else current.bindings
            conditional = any("condition" in b for b in new_bindings)
            if version < 3 and (conditional or (current.conditional and etag is not None)):
                raise _fail(400, "Policies with conditional role bindings must be written with "
                                 "policy version 3.")
            known = {m for b in current.bindings for m in b["members"]}
            for binding in new_bindings:
                for member in binding["members"]:
                    kind, _, who = member.partition(":")
                    if kind == "user" and member not in known and who.lower() not in self.users:
                        raise _fail(400, f"User {who} does not exist.")
            if "bindings" in mask:
                current.bindings = new_bindings
            if "auditConfigs" in mask:
                audit = wanted.get("auditConfigs", [])
                current.audit_configs = audit if isinstance(audit, list) else []
            current.etag = self._new_etag(resource)
            return current.as_json()

    # -- Cloud Identity: groups and memberships ------------------------------------------------
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
            raise _fail(404, f"Membership {group.name}/memberships/{membership_id} not found.")
        return found

    def _new_membership(self, group: Group, member: str, roles: list[dict[str, Any]],
                        ) -> Membership:
        member = member.lower()
        if any(m.member == member for m in group.memberships.values()):
            raise _fail(409, f"Error(4003): Cannot create membership '{member}' in "
                             f"'{group.name}' because it already exists.", "ALREADY_EXISTS")
        member_type = "GROUP" if self._group_by_email(member) else "USER"
        if member_type == "USER" and member not in self.users:
            raise _fail(404, f"Error(4003): Member {member} not found.")
        now = self.clock()
        membership_id = f"1{next(self._serial):015x}"
        made = Membership(f"{group.name}/memberships/{membership_id}", member, member_type,
                          roles, now, now)
        group.memberships[membership_id] = made
        return made

    def _lookup_group(self, request: Request) -> JSON:
        key = request.arg("groupKey.id")
        if not key:
            raise _fail(400, "Request is missing required field group_key.id.")
        with self.lock:
            group = self._group_by_email(key)
            if group is None:
                raise _denied(f"groups/{key}")
            return {"name": group.name}

    def _lookup_membership(self, request: Request) -> JSON:
        key = request.arg("memberKey.id")
        if not key:
            raise _fail(400, "Request is missing required field member_key.id.")
        with self.lock:
            group = self._group(request.params["gid"])
            for membership in group.memberships.values():
                if membership.member == key.lower():
                    return {"name": membership.name}
            raise _fail(404, f"Error(4003): Membership of {key} in {group.name} not found.")

    def _create_membership(self, request: Request) -> JSON:
        body = _object(request)
        key = body.get("preferredMemberKey")
        member = key.get("id") if isinstance(key, dict) else None
        if not isinstance(member, str) or not member:
            raise _fail(400, "Request is missing required field preferred_member_key.id.")
        roles = body.get("roles")
        if not isinstance(roles, list) or not roles:
            raise _fail(400, "Request is missing required field roles.")
        with self.lock:
            checked = self._checked_roles(roles)
            group = self._group(request.params["gid"])
            made = self._new_membership(group, member, checked)
            return {"done": True, "response": {"@type": _MEMBERSHIP_TYPE, **made.as_json()}}

    def _expiry_allowed(self) -> None:
        if not self.membership_expiry:
            raise _fail(400, "Membership expiration is not available for this customer: it "
                             "needs Cloud Identity Premium or Google Workspace Enterprise.",
                        "FAILED_PRECONDITION")

    def _checked_roles(self, roles: list[Any]) -> list[dict[str, Any]]:
        names = [r.get("name") if isinstance(r, dict) else None for r in roles]
        if "MEMBER" not in names:
            raise _fail(400, "Every membership must hold the MEMBER role.")
        if len(set(names)) != len(names) or any(n not in _MEMBER_ROLES for n in names):
            raise _fail(400, f"Invalid membership roles {names}.")
        checked: list[dict[str, Any]] = []
        for role in roles:
            entry: dict[str, Any] = {"name": role["name"]}
            if "expiryDetail" in role:
                if role["name"] != "MEMBER":
                    raise _fail(400, "Expiry can be set only on the MEMBER role.")
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
            raise _fail(400, f"Invalid expireTime {text!r}.")
        if when <= self.clock():
            raise _fail(400, f"expireTime {text} is in the past.")
        return rfc3339(when)

    def _list_memberships(self, request: Request) -> JSON:
        view = request.arg("view", "BASIC")
        if view not in ("BASIC", "FULL", "VIEW_UNSPECIFIED"):
            raise _fail(400, f"Invalid view {view}.")
        full = view == "FULL"
        default, ceiling = ((_FULL_PAGE_DEFAULT, _FULL_PAGE_MAX) if full
                            else (_BASIC_PAGE_DEFAULT, _BASIC_PAGE_MAX))
        size = _int(request.arg("pageSize") or 0, "pageSize") or default
        if size < 0 or size > ceiling:
            raise _fail(400, f"pageSize must be at most {ceiling} for view {view}.")
        if self.max_page_size is not None:
            size = min(size, self.max_page_size)
        start = _page_token(request.arg("pageToken"))
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
        body = _object(request)
        with self.lock:
            group = self._group(request.params["gid"])
            membership = self._membership(group, request.params["mid"])
            roles = {r["name"]: dict(r) for r in membership.roles}
            adds = body.get("addRoles") or []
            removes = body.get("removeRoles") or []
            updates = body.get("updateRolesParams") or []
            if not (adds or removes or updates):
                raise _fail(400, "Nothing to modify: give addRoles, removeRoles or "
                                 "updateRolesParams.")
            for name in removes:
                if name == "MEMBER":
                    raise _fail(400, "The MEMBER role cannot be removed; delete the membership.")
                roles.pop(name, None)
            for added in self._checked_roles([{"name": "MEMBER"}, *adds])[1:]:
                roles[added["name"]] = added
            for update in updates:
                mask = update.get("fieldMask") if isinstance(update, dict) else None
                role = update.get("membershipRole") if isinstance(update, dict) else None
                if mask not in _EXPIRY_MASKS or not isinstance(role, dict):
                    raise _fail(400, f"fieldMask may only contain expiry_detail.expire_time, "
                                     f"not {mask!r}.")
                name = role.get("name")
                if name not in roles:
                    raise _fail(400, f"The membership does not hold role {name!r}.")
                if name != "MEMBER":
                    raise _fail(400, "Expiry can be set only on the MEMBER role.")
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
            return {"done": True, "response": {"@type": _EMPTY_TYPE}}


# -- request checking helpers ------------------------------------------------------------------
def _denied(resource: str) -> HttpError:
    message = f"Error(2028): Permission denied for resource {resource} (or it may not exist)."
    return HttpError(403, google_error(403, message, details=[{
        "@type": "type.googleapis.com/google.rpc.ResourceInfo",
        "resourceName": resource,
        "resourceType": "cloudidentity.googleapis.com/Group",
        "owner": "domain:cloudidentity.googleapis.com",
        "description": message,
    }]))


def _object(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _fail(400, "Invalid JSON payload received.") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _fail(400, "Invalid JSON payload received: expected an object.")
    return body


def _int(value: Any, name: str) -> int:
    # proto3 JSON accepts int32 as a number or a decimal string.
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _fail(400, f"Invalid value for {name}: {value!r}") from None


def _update_mask(value: Any) -> set[str]:
    if value is None or value == "":
        return {"bindings", "etag"}
    if not isinstance(value, str):
        raise _fail(400, "updateMask must be a string.")
    paths = {part.strip() for part in value.split(",") if part.strip()}
    unknown = paths - set(_POLICY_FIELDS) - {"audit_configs"}
    if unknown:
        raise _fail(400, f"Invalid updateMask paths: {', '.join(sorted(unknown))}.")
    return {"auditConfigs" if p == "audit_configs" else p for p in paths}


def _page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if not text.startswith("offset:"):
            raise ValueError(text)
        return int(text.removeprefix("offset:"))
    except ValueError:
        raise _fail(400, "Invalid page token.") from None


def _binding(role: str, members: list[str], condition: dict[str, str] | None) -> dict[str, Any]:
    binding: dict[str, Any] = {"role": role, "members": list(members)}
    if condition is not None:
        binding["condition"] = dict(condition)
    return binding


def _checked_binding(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(400, "Each binding must be an object.")
    role, members, condition = raw.get("role"), raw.get("members"), raw.get("condition")
    if not isinstance(role, str) or not role.startswith(("roles/", "projects/", "organizations/")):
        raise _fail(400, f"Role {role!r} is not a valid role name.")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise _fail(400, f"Binding for {role} has no valid members list.")
    for member in members:
        kind, sep, who = member.partition(":")
        if member not in ("allUsers", "allAuthenticatedUsers") and (
            not sep or not who or kind not in _MEMBER_PREFIXES
        ):
            raise _fail(400, f"Invalid member '{member}': policy members must be of the form "
                             "\"<type>:<value>\".")
    if condition is not None:
        if not isinstance(condition, dict) or not isinstance(condition.get("expression"), str) \
                or not condition["expression"].strip():
            raise _fail(400, f"Condition on {role} needs an expression.")
        if not isinstance(condition.get("title"), str) or not condition["title"]:
            raise _fail(400, f"Condition on {role} needs a title.")
        if len(condition["title"]) > 100 or len(condition.get("description", "")) > 256:
            raise _fail(400, "Condition title is limited to 100 characters, description to 256.")
    return _binding(role, members, condition)


def _merge(bindings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One binding per (role, condition), members deduplicated, empty bindings dropped."""
    merged: dict[str, dict[str, Any]] = {}
    for binding in bindings:
        key = json.dumps([binding["role"], binding.get("condition")], sort_keys=True)
        into = merged.setdefault(key, _binding(binding["role"], [], binding.get("condition")))
        for member in binding["members"]:
            if member not in into["members"]:
                into["members"].append(member)
    return [b for b in merged.values() if b["members"]]


def _roles(names: tuple[str, ...], expire_time: datetime | None) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = []
    for name in names:
        role: dict[str, Any] = {"name": name}
        if name == "MEMBER" and expire_time is not None:
            role["expiryDetail"] = {"expireTime": rfc3339(expire_time)}
        roles.append(role)
    return roles
