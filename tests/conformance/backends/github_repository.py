"""GitHub repository collaborators on the GitHub emulator, reached over HTTP through PyGithub.

The principals are outside users, so every grant is an invitation that stays pending (the
emulator, like GitHub, waits for the invitee to accept): the provider must count it as held and
cancel it on revoke.
"""

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
AT_LEAST_PUSH = ("write", "maintain", "admin")


class GitHubRepositoryBackend:
    platform = "github"
    supports_faults = True

    def __init__(self, emulator: GitHubEmulator) -> None:
        self.emulator = emulator
        self.instance = ProviderInstance("github-test", "github", {
            "base_url": emulator.api, "token_env": TOKEN_ENV, "write_interval": 0})
        emulator.add_org(ORG)

    def provider(self) -> github.GitHubProvider:
        return github.create(self.instance, {TOKEN_ENV: self.emulator.token})

    def new_target(self) -> Target:
        name = f"repo-{next(_ids)}"
        self.emulator.add_repo(ORG, name)
        return Target.build("github-test", "github", "repository",
                            {"owner": ORG, "repo": name, "permission": "push"})

    def missing_target(self) -> Target:
        return Target.build("github-test", "github", "repository",
                            {"owner": ORG, "repo": "no-such-repo", "permission": "push"})

    def new_principal(self) -> str:
        login = f"Outside-{next(_ids)}"
        self.emulator.add_user(login)
        return login

    def missing_principal(self) -> str:
        return "nobody-here"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed-{next(_ids)}"
        self.emulator.rename_user(principal, new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.emulator.add_collaborator(self._full(target), principal, "write")

    def members_out_of_band(self, target: Target) -> set[str]:
        full = self._full(target)
        held = [login for login, role in self.emulator.collaborators(full).items()
                if role in AT_LEAST_PUSH]
        held += [login for login, role in self.emulator.pending_invitations(full).items()
                 if role in AT_LEAST_PUSH]
        return {principal_key(login) for login in held}

    def page_size(self) -> int:
        return 100

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=0))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # GitHub has no expiry on collaborators

    @staticmethod
    def _full(target: Target) -> str:
        return f"{target.param('owner')}/{target.param('repo')}"


@contextmanager
def backend() -> Iterator[GitHubRepositoryBackend]:
    emulator = GitHubEmulator()
    emulator.start()
    try:
        yield GitHubRepositoryBackend(emulator)
    finally:
        emulator.stop()
