"""GitHub team membership on the GitHub emulator, reached over HTTP through PyGithub."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import github

_ids = itertools.count()
TOKEN_ENV = "GITHUB_CONFORMANCE_TOKEN"
ORG = "conformance"


class GitHubTeamBackend:
    platform = "github"
    supports_faults = True

    def __init__(self, emulator: GitHubEmulator) -> None:
        self.emulator = emulator
        # write_interval 0: GitHub's one-second pause between writes would only slow the suite.
        self.instance = ProviderInstance("github-test", "github", {
            "base_url": emulator.api, "token_env": TOKEN_ENV, "write_interval": 0})
        emulator.add_org(ORG)

    def provider(self) -> github.GitHubProvider:
        return github.create(self.instance, {TOKEN_ENV: self.emulator.token})

    def new_target(self) -> Target:
        slug = f"team-{next(_ids)}"
        self.emulator.add_team(ORG, slug)
        return Target.build("github-test", "github", "team", {"org": ORG, "team": slug})

    def missing_target(self) -> Target:
        return Target.build("github-test", "github", "team", {"org": ORG, "team": "no-such-team"})

    def new_principal(self) -> str:
        login = f"Member-{next(_ids)}"  # mixed case: GitHub logins compare case-insensitively
        self.emulator.add_user(login)
        self.emulator.add_org_member(ORG, login)
        return login

    def missing_principal(self) -> str:
        return "nobody-here"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed-{next(_ids)}"
        self.emulator.rename_user(principal, new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.emulator.set_team_member(ORG, target.param("team"), principal)

    def members_out_of_band(self, target: Target) -> set[str]:
        slug = target.param("team")
        held = [*self.emulator.team_members(ORG, slug), *self.emulator.team_pending(ORG, slug)]
        return {principal_key(login) for login in held}

    def page_size(self) -> int:
        return 100  # the provider asks for GitHub's largest page, per_page=100

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=0))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # GitHub has no expiry on team membership


@contextmanager
def backend() -> Iterator[GitHubTeamBackend]:
    emulator = GitHubEmulator()
    emulator.start()
    try:
        yield GitHubTeamBackend(emulator)
    finally:
        emulator.stop()
