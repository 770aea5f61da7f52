"""Ending a GitLab group grant must not end the person's direct memberships below that group.

GitLab's `DELETE /groups/:id/members/:user_id` also removes the user's direct memberships in the
group's subgroups and projects unless `skip_subresources=true` (GitLab: members API), and the
daily expiry job did the same on the versions of gitlab-org/gitlab#471051. A standing direct
membership on a project under a JIT-managed group is not the engine's to end (invariant 8).
Everything here goes through python-gitlab over HTTP to the GitLab emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.providers import gitlab as gitlab_provider

TOKEN_ENV = "GITLAB_TEST_TOKEN"
NOW = datetime.now(UTC)


@pytest.fixture
def emulator() -> Iterator[GitLabEmulator]:
    with GitLabEmulator() as running:
        assert isinstance(running, GitLabEmulator)
        running.add_group("acme")
        running.add_group("acme/platform")
        running.add_group("acme/platform/tools")
        running.add_project("acme/platform/infra", {"README.md": "infra\n"})
        running.add_user("alice")
        # Standing access nobody asked the engine for: maintainer on a project and a subgroup.
        running.add_member("acme/platform/infra", "alice", 40, kind="projects")
        running.add_member("acme/platform/tools", "alice", 40, kind="groups")
        yield running


def provider(emulator: GitLabEmulator) -> gitlab_provider.GitLabProvider:
    instance = ProviderInstance("gitlab-test", "gitlab",
                                {"url": emulator.base_url, "token_env": TOKEN_ENV})
    return gitlab_provider.create(instance, {TOKEN_ENV: emulator.token})


def group_target() -> Target:
    return Target.build("gitlab-test", "gitlab", "group",
                        {"group": "acme/platform", "access_level": "developer"})


def change(action: Action) -> Change:
    return Change(action, group_target(), "alice", "gitlab-platform-dev", "test", "alice",
                  NOW + timedelta(hours=2))


def standing(emulator: GitLabEmulator) -> tuple[set[str], set[str]]:
    return (set(emulator.members("acme/platform/infra", kind="projects")),
            set(emulator.members("acme/platform/tools", kind="groups")))


def test_revoking_a_group_grant_keeps_direct_memberships_below_it(
        emulator: GitLabEmulator) -> None:
    engine = provider(emulator)
    assert engine.grant(change(Action.GRANT)).status is Status.DONE
    assert engine.revoke(change(Action.REVOKE)).status is Status.DONE
    assert "alice" not in emulator.members("acme/platform", kind="groups")
    assert standing(emulator) == ({"alice"}, {"alice"})
    deletes = [e for e in emulator.log if e.method == "DELETE"]
    assert deletes and all("skip_subresources=true" in e.query for e in deletes)


def test_the_emulator_removes_subresources_by_default_as_gitlab_does(
        emulator: GitLabEmulator) -> None:
    import gitlab

    client = gitlab.Gitlab(emulator.base_url, private_token=emulator.token)
    group = client.groups.get("acme/platform")
    group.members.create({"user_id": emulator.user_id("alice"), "access_level": 30})
    group.members.delete(emulator.user_id("alice"))
    assert standing(emulator) == (set(), set())


def test_the_expiry_job_of_affected_versions_takes_direct_memberships_along(
        emulator: GitLabEmulator) -> None:
    """Why the backstop matters only when the revoke job is down: the engine's revoke runs on
    time (with skip_subresources), the backstop date is the next day, and only a job that
    missed that whole day leaves the membership to GitLab's expiry job."""
    engine = provider(emulator)
    assert engine.grant(change(Action.GRANT)).native_expiry_set
    held = emulator.members("acme/platform", kind="groups")["alice"].expires_at
    assert held is not None
    day = date.fromisoformat(held)
    assert emulator.remove_expired_members(day, skip_subresources=True) == ["alice"]
    assert standing(emulator) == ({"alice"}, {"alice"})  # current GitLab
    assert engine.grant(change(Action.GRANT)).status is Status.DONE
    emulator.remove_expired_members(day, skip_subresources=False)
    assert standing(emulator) == (set(), set())  # gitlab-org/gitlab#471051
