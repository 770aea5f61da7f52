"""GCP target kind `iam_binding`: a conditional binding `request.time < timestamp("<expires_at>")`
for the member, written with a read-modify-write on the resource's IAM policy (policy version 3,
guarded by the etag). The engine's bindings carry a condition title starting with "accessctl:";
only those are the engine's. Unconditional bindings, and conditional bindings another tool
wrote, are never read as the engine's grants and never removed. An expired condition stops
working on time but the binding stays in the policy until the revoke job removes it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from accessctl.core.model import Change, Outcome, Status, Target, isoformat
from accessctl.providers.base import ProviderError, principal_key
from accessctl.providers.gcp.client import EtagConflict, GcpClient, errors, expiry_of
from accessctl.providers.gcp.schema import RESOURCE

TITLE_PREFIX = "accessctl:"
"""Condition titles of the engine's own bindings start with this; nothing else is touched."""

ETAG_ATTEMPTS = 5
"""Read-modify-write rounds before an etag race is handed to the engine's retry loop."""

_EXPRESSION = re.compile(r'^request\.time < timestamp\("([^"]+)"\)$')
_TITLE_MAX, _DESCRIPTION_MAX = 100, 256


class IamBindings(GcpClient):
    """Observe, grant and revoke the engine's conditional bindings of a role."""

    def _binding_holders(self, target: Target, policies: dict[str, dict[str, Any]]
                         ) -> frozenset[str]:
        """Who holds the role through the engine's bindings; `policies` keeps each resource's
        policy read once for all of a run's targets on it."""
        resource = _resource(target)
        if resource not in policies:
            policies[resource] = self._get_policy(resource)
        role = target.param("role")
        return frozenset(
            principal_key(_principal(member))
            for binding in _ours(policies[resource], role)
            for member in binding.get("members", [])
        )

    def _get_policy(self, resource: str) -> dict[str, Any]:
        with errors(resource):
            policy: dict[str, Any] = _collection(self.crm, resource).getIamPolicy(
                resource=resource, body={"options": {"requestedPolicyVersion": 3}}
            ).execute(num_retries=0)
        return policy

    def _set_policy(self, resource: str, policy: dict[str, Any], subject: str) -> None:
        body = {"policy": {**policy, "version": 3}, "updateMask": "bindings,etag,version"}
        with errors(subject, resource):
            _collection(self.crm, resource).setIamPolicy(resource=resource, body=body).execute(
                num_retries=0
            )

    def _read_modify_write(
        self, change: Change, edit: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> bool:
        """Apply `edit` to the current policy and write it back with its etag, re-reading on a
        concurrent change. `edit` returns None when nothing needs writing. True if written."""
        resource = _resource(change.target)
        for _ in range(ETAG_ATTEMPTS):
            policy = self._get_policy(resource)
            edited = edit(policy)
            if edited is None:
                return False
            try:
                self._set_policy(resource, edited, f"member {_member(change.principal)}")
            except EtagConflict:
                continue
            return True
        raise ProviderError(
            f"{resource}: the IAM policy kept changing under us ({ETAG_ATTEMPTS} etag conflicts)",
            retryable=True,
        )

    def _grant_binding(self, change: Change) -> Outcome:
        role, member = change.target.param("role"), _member(change.principal)
        wanted = _condition(change)

        def edit(policy: dict[str, Any]) -> dict[str, Any] | None:
            bindings = policy.get("bindings", [])
            mine = [b for b in _ours(policy, role) if _holds(b, member)]
            if (len(mine) == 1 and mine[0].get("members") == [member]
                    and mine[0]["condition"].get("expression") == wanted["expression"]):
                return None
            kept = _without(bindings, role, member)
            kept.append({"role": role, "members": [member], "condition": wanted})
            return {"bindings": kept, "etag": policy.get("etag")}

        resource = _resource(change.target)
        if not self._read_modify_write(change, edit):
            return Outcome(change, Status.UNCHANGED, f"{role} on {resource} already held until "
                           f"{isoformat(expiry_of(change))}", native_expiry_set=True)
        return Outcome(change, Status.DONE, f"granted {role} on {resource} until "
                       f"{isoformat(expiry_of(change))}", native_expiry_set=True)

    def _revoke_binding(self, change: Change) -> Outcome:
        role, member = change.target.param("role"), _member(change.principal)

        def edit(policy: dict[str, Any]) -> dict[str, Any] | None:
            if not any(_holds(b, member) for b in _ours(policy, role)):
                return None
            return {"bindings": _without(policy.get("bindings", []), role, member),
                    "etag": policy.get("etag")}

        resource = _resource(change.target)
        if not self._read_modify_write(change, edit):
            return Outcome(change, Status.UNCHANGED, f"no accessctl binding of {role} on "
                           f"{resource}")
        return Outcome(change, Status.DONE, f"removed the accessctl binding of {role} on "
                       f"{resource}")


def _collection(crm: Any, resource: str) -> Any:
    kind = resource.split("/", 1)[0]
    return {"projects": crm.projects, "folders": crm.folders,
            "organizations": crm.organizations}[kind]()


def _resource(target: Target) -> str:
    resource = target.param("resource")
    if not RESOURCE.match(resource):
        raise ProviderError(f"{target.display}: {resource!r} is not projects/ID, folders/ID or "
                            "organizations/ID")
    return resource


def _member(principal: str) -> str:
    """IAM member for a principal: a bare email is a user; `serviceAccount:...` etc. pass."""
    principal = principal.strip()
    return principal if ":" in principal else f"user:{principal.lower()}"


def _principal(member: str) -> str:
    return member.removeprefix("user:")



def _condition(change: Change) -> dict[str, str]:
    who = change.person or change.principal
    title = f"{TITLE_PREFIX} {change.entitlement} for {who}"
    requests = ", ".join(change.requests) or "no request file"
    description = f"Just-in-time access granted by accessctl for {requests}"
    return {
        "title": title[:_TITLE_MAX],
        "description": description[:_DESCRIPTION_MAX],
        "expression": f'request.time < timestamp("{isoformat(expiry_of(change))}")',
    }


def is_engine_binding(binding: Mapping[str, Any]) -> bool:
    condition = binding.get("condition")
    return isinstance(condition, Mapping) and str(condition.get("title", "")).startswith(
        TITLE_PREFIX
    )


def condition_expiry(binding: Mapping[str, Any]) -> str | None:
    """The RFC 3339 time in an engine binding's condition, or None."""
    condition = binding.get("condition") or {}
    match = _EXPRESSION.match(str(condition.get("expression", "")))
    return match.group(1) if match else None


def _ours(policy: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    return [b for b in policy.get("bindings", []) if b.get("role") == role and is_engine_binding(b)]


def _holds(binding: Mapping[str, Any], member: str) -> bool:
    return any(m.casefold() == member.casefold() for m in binding.get("members", []))


def _without(bindings: list[dict[str, Any]], role: str, member: str) -> list[dict[str, Any]]:
    """`bindings` minus `member` in the engine's bindings for `role`; everything else as read."""
    kept = []
    for binding in bindings:
        if binding.get("role") == role and is_engine_binding(binding) and _holds(binding, member):
            members = [m for m in binding["members"] if m.casefold() != member.casefold()]
            if not members:
                continue
            binding = {**binding, "members": members}
        kept.append(binding)
    return kept
