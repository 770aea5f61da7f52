"""The GitHub provider: its two target kinds behind the engine's one `Provider` interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from accessctl.core.model import Change, Outcome, ProviderInstance, Target
from accessctl.providers.base import ProviderError
from accessctl.providers.github.repositories import RepositoryAccess
from accessctl.providers.github.teams import TeamMembership


class GitHubProvider(TeamMembership, RepositoryAccess):
    # -- the provider interface -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result: dict[Target, frozenset[str]] = {}
        for target in targets:
            if target.kind == "team":
                result[target] = self._team_holders(target)
            elif target.kind == "repository":
                result[target] = self._repository_holders(target)
            else:
                raise _unknown_kind(target)
        return result

    def member_ids(self, target: Target) -> Mapping[str, str]:
        subject = self._team_subject(target) if target.kind == "team" else \
            self._repo_subject(target)
        return self._ids.held(subject)

    def grant(self, change: Change) -> Outcome:
        if change.target.kind == "team":
            return self._grant_team(change)
        if change.target.kind == "repository":
            return self._grant_repository(change)
        raise _unknown_kind(change.target)

    def revoke(self, change: Change) -> Outcome:
        if change.target.kind == "team":
            return self._revoke_team(change)
        if change.target.kind == "repository":
            return self._revoke_repository(change)
        raise _unknown_kind(change.target)


def _unknown_kind(target: Target) -> ProviderError:
    return ProviderError(f"GitHub has no target kind {target.kind!r}; use team or repository")


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> GitHubProvider:
    return GitHubProvider(instance, environ)
