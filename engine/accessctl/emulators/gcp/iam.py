"""Resource Manager v3 IAM policies on projects, folders and organizations: etags that change
on every write (a stale one is 409 ABORTED), conditional bindings that need policy version 3,
update masks, and 403 for resources that do not exist."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from accessctl.emulators.gcp.server import GcpServer
from accessctl.emulators.gcp.state import Policy
from accessctl.emulators.gcp.wire import (
    MEMBER_PREFIXES,
    POLICY_FIELDS,
    RESOURCE_KINDS,
    fail,
    int_field,
    json_object,
)
from accessctl.emulators.http import JSON, Handler, Request


class Iam(GcpServer):
    def _iam_routes(self) -> list[tuple[str, str, Handler]]:
        routes: list[tuple[str, str, Handler]] = []
        for kind in RESOURCE_KINDS:
            routes += [("POST", f"/v3/{kind}/{{rid}}:getIamPolicy", self._get_iam_policy),
                       ("POST", f"/v3/{kind}/{{rid}}:setIamPolicy", self._set_iam_policy)]
        return routes

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
            raise fail(403, f"The caller does not have permission on {resource}",
                        reason="IAM_PERMISSION_DENIED")
        return policy

    def _resource(self, request: Request) -> str:
        kind = request.path.split("/")[2]
        return f"{kind}/{request.params['rid']}"

    # -- handlers ----------------------------------------------------------------------------------
    def _get_iam_policy(self, request: Request) -> JSON:
        body = json_object(request)
        options = body.get("options") or {}
        requested = int_field(options.get("requestedPolicyVersion", 0), "requestedPolicyVersion")
        if requested not in (0, 1, 3):
            raise fail(400, f"Invalid requested policy version {requested}: use 0, 1 or 3.")
        with self.lock:
            policy = self._policy(self._resource(request))
            if policy.conditional and requested < 3:
                raise fail(
                    400,
                    "The policy contains conditional role bindings: request policy version 3 "
                    "(options.requestedPolicyVersion) to read it.",
                )
            return policy.as_json()

    def _set_iam_policy(self, request: Request) -> JSON:
        body = json_object(request)
        wanted = body.get("policy")
        if not isinstance(wanted, dict):
            raise fail(400, "Request is missing required field policy.")
        mask = _update_mask(body.get("updateMask"))
        version = int_field(wanted.get("version", 0), "policy.version")
        if version not in (0, 1, 3):
            raise fail(400, f"Invalid policy version {version}: use 0, 1 or 3.")
        bindings = wanted.get("bindings", [])
        if not isinstance(bindings, list):
            raise fail(400, "policy.bindings must be a list.")
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
                raise fail(409, "There were concurrent policy changes. Please retry the whole "
                                 "read-modify-write with exponential backoff.", "ABORTED")
            new_bindings = _merge(checked) if "bindings" in mask else current.bindings
            conditional = any("condition" in b for b in new_bindings)
            if version < 3 and (conditional or (current.conditional and etag is not None)):
                raise fail(400, "Policies with conditional role bindings must be written with "
                                 "policy version 3.")
            known = {m for b in current.bindings for m in b["members"]}
            for binding in new_bindings:
                for member in binding["members"]:
                    kind, _, who = member.partition(":")
                    if kind == "user" and member not in known and who.lower() not in self.users:
                        raise fail(400, f"User {who} does not exist.")
            if "bindings" in mask:
                current.bindings = new_bindings
            if "auditConfigs" in mask:
                audit = wanted.get("auditConfigs", [])
                current.audit_configs = audit if isinstance(audit, list) else []
            current.etag = self._new_etag(resource)
            return current.as_json()

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_project(self, project_id: str) -> str:
        return self._add_resource(f"projects/{project_id}")

    def add_folder(self, folder_id: str) -> str:
        return self._add_resource(f"folders/{folder_id}")

    def add_organization(self, organization_id: str) -> str:
        return self._add_resource(f"organizations/{organization_id}")

    def add_binding(self, resource: str, role: str, member: str,
                    condition: dict[str, str] | None = None) -> None:
        """Add `member` to the binding for (role, condition), as another tool or a person would."""
        with self.lock:
            policy = self._policy(resource)
            bindings = [*policy.bindings, _binding(role, [member], condition)]
            policy.bindings = _merge(bindings)
            policy.etag = self._new_etag(resource)

    def policy(self, resource: str) -> dict[str, Any]:
        with self.lock:
            return self._policy(resource).as_json()

    def inject_etag_conflicts(self, count: int) -> None:
        """Make the next `count` setIamPolicy calls lose a race with another writer."""
        with self.lock:
            self.pending_etag_conflicts = count


# -- request checking helpers -------------------------------------------------------------------
def _update_mask(value: Any) -> set[str]:
    if value is None or value == "":
        return {"bindings", "etag"}
    if not isinstance(value, str):
        raise fail(400, "updateMask must be a string.")
    paths = {part.strip() for part in value.split(",") if part.strip()}
    unknown = paths - set(POLICY_FIELDS) - {"audit_configs"}
    if unknown:
        raise fail(400, f"Invalid updateMask paths: {', '.join(sorted(unknown))}.")
    return {"auditConfigs" if p == "audit_configs" else p for p in paths}


def _binding(role: str, members: list[str], condition: dict[str, str] | None) -> dict[str, Any]:
    binding: dict[str, Any] = {"role": role, "members": list(members)}
    if condition is not None:
        binding["condition"] = dict(condition)
    return binding


def _checked_binding(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise fail(400, "Each binding must be an object.")
    role, members, condition = raw.get("role"), raw.get("members"), raw.get("condition")
    if not isinstance(role, str) or not role.startswith(("roles/", "projects/", "organizations/")):
        raise fail(400, f"Role {role!r} is not a valid role name.")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise fail(400, f"Binding for {role} has no valid members list.")
    for member in members:
        kind, sep, who = member.partition(":")
        if member not in ("allUsers", "allAuthenticatedUsers") and (
            not sep or not who or kind not in MEMBER_PREFIXES
        ):
            raise fail(400, f"Invalid member '{member}': policy members must be of the form "
                             "\"<type>:<value>\".")
    if condition is not None:
        if not isinstance(condition, dict) or not isinstance(condition.get("expression"), str) \
                or not condition["expression"].strip():
            raise fail(400, f"Condition on {role} needs an expression.")
        if not isinstance(condition.get("title"), str) or not condition["title"]:
            raise fail(400, f"Condition on {role} needs a title.")
        if len(condition["title"]) > 100 or len(condition.get("description", "")) > 256:
            raise fail(400, "Condition title is limited to 100 characters, description to 256.")
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
