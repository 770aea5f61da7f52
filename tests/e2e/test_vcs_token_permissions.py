"""The VCS token's permissions, checked once at the start of a run, naming what is missing.

`ACCESSCTL_VCS_TOKEN` replaces the workflow token for every VCS call. A token set up as the old
docs said (GitHub: Members read only; GitLab: `read_api` where the engine comments) must stop
the run with one line naming the permission, not fail half-way on a bare 403. The emulators
answer as GitHub and GitLab do: on GitHub one GraphQL query, each field the App token may not
read null with a FORBIDDEN error "Resource not accessible by integration"; on GitLab 403
`insufficient_scope` for a `read_api` write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import invoke
from tests.e2e import gitlab_world
from tests.e2e.github_world import REPO, World, hours

FULL = {"contents": "read", "pull_requests": "write", "members": "read"}


def with_token(world: World, permissions: dict[str, str]) -> dict[str, str]:
    world.github.add_token("ghs_app", "helper[bot]", permissions=permissions)
    return {**world.env, "ACCESSCTL_VCS_TOKEN": "ghs_app"}


def approved_and_merged(world: World) -> None:
    _, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)


def test_a_token_with_only_members_read_stops_apply_naming_what_is_missing(world: World) -> None:
    approved_and_merged(world)
    env = with_token(world, {"members": "read"})
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 2, result.err
    assert "Contents: read" in result.err and "Pull requests: read" in result.err
    assert "FORBIDDEN on repository.object" in result.err  # GitHub's own answer, named
    assert "Members: read" not in result.err
    assert "ACCESSCTL_VCS_TOKEN" in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert world.members() == set()


def test_a_token_without_members_read_is_named_when_teams_come_from_the_vcs(
        world: World) -> None:
    approved_and_merged(world)
    env = with_token(world, {"contents": "read", "pull_requests": "write"})
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 2, result.err
    assert "Members: read" in result.err and "organization.team" in result.err
    assert "Contents" not in result.err


def test_issues_read_is_checked_only_where_request_bots_are_declared(world: World) -> None:
    # A request a declared bot opened from an issue is judged by who opened the issue: with
    # request_bots in identities.yaml, a token that cannot read issues stops the run up front.
    approved_and_merged(world)
    env = with_token(world, FULL)
    assert "Issues" not in invoke(
        "apply", "--repo", str(world.workspace), "--audit-file",
        str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1)).err
    identities = world.workspace / "policies" / "identities.yaml"
    world.github.push_direct(REPO, {"policies/identities.yaml": identities.read_text()
                                    + 'request_bots: ["requests[bot]"]\n'}, author="dave")
    world.sync()
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 2, result.err
    assert "Issues: read" in result.err and "FORBIDDEN on repository.issues" in result.err
    assert "Contents" not in result.err and "Pull requests" not in result.err
    assert world.members() == set()
    granted = with_token(world, {**FULL, "issues": "read"})
    again = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                   str(world.workspace.parent / "audit.jsonl"), environ=granted, now=hours(1))
    assert again.code == 0, again.err
    assert world.members() == {"alice"}


def test_the_documented_permissions_are_enough(world: World) -> None:
    approved_and_merged(world)
    env = with_token(world, FULL)
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_an_expired_token_is_named_as_such(world: World) -> None:
    approved_and_merged(world)
    env = {**world.env, "ACCESSCTL_VCS_TOKEN": "ghs_expired_an_hour_ago"}
    # Building the client reads the default branch first: pass it, as CI may.
    env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 2, result.err
    assert "401" in result.err and "expires an hour after" in result.err


def test_the_sweep_warns_and_still_revokes(world: World) -> None:
    approved_and_merged(world)
    assert world.apply(hours(1)).code == 0
    assert world.members() == {"alice"}
    env = with_token(world, {"members": "read"})
    result = invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(4))
    assert result.code == 0, result.err
    assert "warning:" in result.err and "Contents: read" in result.err
    assert world.members() == set()


@pytest.fixture
def gitlab(tmp_path: Path, aws_endpoint: str) -> Iterator[gitlab_world.World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        yield gitlab_world.World.build(emulator, aws_endpoint, tmp_path)


def gitlab_event(world: gitlab_world.World, iid: int) -> Path:
    event = world.workspace.parent / "event.json"
    event.write_text(f'{{"object_kind": "merge_request", "object_attributes": {{"iid": {iid}}}}}')
    return event


def test_a_read_api_token_cannot_comment_and_validate_says_so(
        gitlab: gitlab_world.World) -> None:
    _, iid = gitlab.ask("alice")
    gitlab.sync(f"change-{gitlab.branches}")
    gitlab.gitlab.add_token("glpat-reader", gitlab_world.ENGINE, scopes=["read_api"])
    env = {**gitlab.env, "ACCESSCTL_VCS_TOKEN": "glpat-reader"}
    result = invoke("validate", "--repo", str(gitlab.workspace), "--vcs", "gitlab", "--event",
                    str(gitlab_event(gitlab, iid)), environ=env, now=gitlab_world.hours(0.1))
    assert result.code == 2, result.err
    assert "`api` scope" in result.err and "read_api" in result.err
    assert "Traceback" not in result.err
    # Without the comment it only reads, and read_api is the least that does.
    quiet = invoke("validate", "--repo", str(gitlab.workspace), "--vcs", "gitlab", "--event",
                   str(gitlab_event(gitlab, iid)), "--no-comment", environ=env,
                   now=gitlab_world.hours(0.1))
    assert quiet.code == 0, quiet.err


def test_a_token_with_api_passes_the_check(gitlab: gitlab_world.World) -> None:
    _, iid = gitlab.ask("alice")
    gitlab.approve(iid, "carol")
    gitlab.merge(iid)
    result = gitlab.apply()
    assert result.code == 0, result.err
    assert gitlab.members() == {"alice"}


def test_an_outage_during_the_check_is_left_to_the_run(world: World) -> None:
    """A 5xx answers nothing about permissions: the check passes it by (no exit 3), and the
    run's own calls meet the platform as usual."""
    approved_and_merged(world)
    # A known default branch: the check's query is the run's first call.
    env = {**with_token(world, FULL), "ACCESSCTL_DEFAULT_BRANCH": "main"}
    world.github.faults.script = ["500"]
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(1))
    assert result.code == 0, result.err
    assert "internal error" not in result.err
    assert world.members() == {"alice"}
