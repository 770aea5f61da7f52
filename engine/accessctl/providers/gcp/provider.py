"""The GCP provider: its two target kinds behind the engine's one `Provider` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accessctl.core.model import Change, Outcome, ProviderInstance, Target
from accessctl.providers.base import ProviderError
from accessctl.providers.gcp.groups import GroupMemberships
from accessctl.providers.gcp.iam import IamBindings
from accessctl.providers.gcp.schema import TARGET_SCHEMAS


class GcpProvider(IamBindings, GroupMemberships):
    def native_expiry(self, target: Target) -> bool:
        if target.kind == "group_membership":
            return self._membership_expiry
        return target.kind == "iam_binding"

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result: dict[Target, frozenset[str]] = {}
        policies: dict[str, dict[str, Any]] = {}
        for target in targets:
            if target.kind == "iam_binding":
                result[target] = self._binding_holders(target, policies)
            elif target.kind == "group_membership":
                result[target] = self._membership_holders(target)
            else:
                _kind(target)
        return result

    def grant(self, change: Change) -> Outcome:
        if change.expires_at is None:
            raise ProviderError(f"{change.target.display}: a GCP grant needs an expiry time")
        if _kind(change.target) == "iam_binding":
            return self._grant_binding(change)
        return self._grant_membership(change)

    def revoke(self, change: Change) -> Outcome:
        if _kind(change.target) == "iam_binding":
            return self._revoke_binding(change)
        return self._revoke_membership(change)


def _kind(target: Target) -> str:
    if target.kind not in TARGET_SCHEMAS:
        raise ProviderError(f"{target.display}: gcp has no target kind {target.kind!r}; "
                            f"known: {', '.join(sorted(TARGET_SCHEMAS))}")
    return target.kind


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> GcpProvider:
    return GcpProvider(instance, environ)
