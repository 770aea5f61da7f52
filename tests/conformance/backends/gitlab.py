"""GitLab groups on the GitLab emulator, reached over HTTP through python-gitlab."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import gitlab

_ids = itertools.count()
TOKEN_ENV = "GITLAB_CONFORMANCE_TOKEN"


class GitLabBackend:
    platform = "gitlab"
    supports_faults = True

    def __init__(self, emulator: GitLabEmulator) -> None:
        self.emulator = emulator
        self.instance = ProviderInstance(
            "gitlab-test", "gitlab", {"url": emulator.base_url, "token_env": TOKEN_ENV}
        )
        emulator.add_group("conformance")

    def provider(self) -> gitlab.GitLabProvider:
        return gitlab.create(self.instance, {TOKEN_ENV: self.emulator.token})

    def new_target(self) -> Target:
        path = f"conformance/team-{next(_ids)}"
        self.emulator.add_group(path)
        return Target.build("gitlab-test", "gitlab", "group",
                            {"group": path, "access_level": "developer"})

    def missing_target(self) -> Target:
        return Target.build("gitlab-test", "gitlab", "group",
                            {"group": "conformance/no-such-group", "access_level": "developer"})

    def new_principal(self) -> str:
        name = f"User.{next(_ids)}"
        self.emulator.add_user(name)
        return name

    def missing_principal(self) -> str:
        return "nobody-here"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed.{next(_ids)}"
        self.emulator.rename_user(principal, new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.emulator.add_member(target.param("group"), principal, 30, kind="groups")

    def members_out_of_band(self, target: Target) -> set[str]:
        members = self.emulator.members(target.param("group"), kind="groups")
        return {principal_key(username) for username in members}

    def page_size(self) -> int:
        return 100  # the provider asks for GitLab's largest page, per_page=100

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=0))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        member = self.emulator.members(target.param("group"), kind="groups").get(principal)
        if member is None or member.expires_at is None:
            return None
        # GitLab ends access on that date: the daily job removes members expiring that day.
        return f"{member.expires_at}T00:00:00Z"


@contextmanager
def backend() -> Iterator[GitLabBackend]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        yield GitLabBackend(emulator)
