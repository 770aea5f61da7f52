"""The Entra provider: the three target kinds behind the engine's one `Provider` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from accessctl.core.model import Action, Change, Outcome, ProviderInstance, Target
from accessctl.providers.base import ProviderError
from accessctl.providers.entra.groups import GroupMembership
from accessctl.providers.entra.pim import PimSchedules


class EntraProvider(GroupMembership, PimSchedules):
    observe_in_parallel = True
    """Calls from several threads share the provider's one event loop (`BackgroundLoop`): the
    engine may split the targets over threads, and their reads run side by side."""

    # -- public interface ----------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return target.kind in ("pim_group", "directory_role")

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._run(self._observe(target)) for target in targets}

    def prepare(self, changes: Sequence[Change]) -> None:
        """Look up in bulk the users these grants name (observe gave the ids of members, which
        revokes use): a grant is then one write, not a look-up and a write."""
        names = [c.principal for c in changes if c.action is Action.GRANT]
        if names:
            self._run(self._look_up_many(names))

    def member_ids(self, target: Target) -> Mapping[str, str]:
        return self._ids.held(target.display)

    def grant(self, change: Change) -> Outcome:
        kind = change.target.kind
        if kind == "group":
            return self._run(self._grant_group(change))
        if kind in ("pim_group", "directory_role"):
            return self._run(self._grant_schedule(change))
        raise ProviderError(f"entra has no target kind {kind!r}")

    def end_sessions(self, change: Change) -> str:
        """After a revoke: revoke the person's sign-in sessions (sessions.py)."""
        from accessctl.providers.entra import sessions

        return sessions.end_sessions(self, change)

    def revoke(self, change: Change) -> Outcome:
        kind = change.target.kind
        if kind == "group":
            return self._run(self._revoke_group(change))
        if kind in ("pim_group", "directory_role"):
            return self._run(self._revoke_schedule(change))
        raise ProviderError(f"entra has no target kind {kind!r}")

    async def _observe(self, target: Target) -> frozenset[str]:
        if target.kind == "group":
            return await self._observe_group(target)
        return await self._observe_schedules(target)


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> EntraProvider:
    return EntraProvider(instance, environ)
