"""What a run costs in VCS API calls: counted by the GitHub emulator, which sees every request.

GitHub gives a workflow's token 1,000 requests per hour per repository, and apply runs on every
push to main besides the schedules: a run must cost a handful of calls whatever the number of
live grants. These are counts, not timings: each test states a number of calls that does not
grow with the number of grants.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.github import GitHubEmulator

from tests.cli_runner import invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.repo_fixture import request

STEADY = 5
"""A steady-state apply (nothing to grant), the issue's goal: the repository (its default
branch), the token's permission check (one GraphQL query that reads one item behind each of
Contents, Pull requests and Members: approval/vcs/access.py), and the members of the eligible
team @acme/sre for every request's eligibility. None of it grows with the number of active
grants."""

CHECK = "POST /api/graphql"
"""The token's permission check: one query per run, paid from GraphQL's rate limit, which is
separate from the REST one (GitHub: rate limits for the REST API)."""


@pytest.fixture
def crowd(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitHubEmulator() as github:
        yield World.build(github, aws_endpoint, tmp_path, crowd=20)


def calls(world: World) -> list[str]:
    """The requests the emulator saw since the last call (and clears the log)."""
    with world.github.lock:
        seen = [f"{e.method} {e.path}" for e in world.github.log]
        world.github.log.clear()
    return seen


def approved(world: World, people: list[str], expires: float = 3) -> None:
    for person in people:
        _path, number = world.ask(person, hours_from_t0=expires)
        world.approve(number, "carol")
        world.github.merge_pull(REPO, number, "squash", merged_by="dave", at=hours(0.5))
    world.sync()


def applied(world: World, at: float = 1) -> list[str]:
    calls(world)
    result = world.apply(hours(at))
    assert result.code == 0, result.err
    return calls(world)


def test_a_steady_state_apply_costs_the_same_for_5_and_for_20_grants(crowd: World) -> None:
    people = [f"p{i:03}" for i in range(20)]
    approved(crowd, people[:5])
    applied(crowd)
    assert len(crowd.members()) == 5
    five = applied(crowd, 1.1)
    approved(crowd, people[5:])
    applied(crowd, 1.2)
    assert len(crowd.members()) == 20
    twenty = applied(crowd, 1.3)
    assert len(twenty) == len(five) <= STEADY, (five, twenty)
    assert twenty.count(CHECK) == 1, twenty
    # No fact about any one request: no pull request, review, commit or file is asked about.
    assert not any(re.search(r"/pulls/\d|/commits/[0-9a-f]{7}|/contents", c) for c in twenty), \
        twenty


def test_one_newly_merged_request_costs_at_most_four_calls(crowd: World) -> None:
    approved(crowd, ["p000", "p001", "p002"])
    applied(crowd)
    steady = applied(crowd, 1.1)
    approved(crowd, ["p003"])
    one = applied(crowd, 1.2)
    assert crowd.members() == {"p000", "p001", "p002", "p003"}
    assert len(one) - len(steady) <= 4, one  # recent merges, files, reviews, @acme/security


def test_a_request_denied_for_good_costs_no_call_on_later_runs(world: World) -> None:
    _path, number = world.ask("alice")
    world.approve(number, "mallory")  # not a code owner: denied, and no later review helps
    world.merge(number)
    calls(world)
    first = world.apply()
    assert first.code == 1 and "not a code owner" in first.err
    assert any("/pulls" in c for c in calls(world))  # judged once, through the API
    again = world.apply(hours(1.5))
    assert again.code == 1 and "denied at" in again.err, again.err
    later = calls(world)
    assert not any(re.search(r"/pulls/\d|/commits/[0-9a-f]{7}", c) for c in later), later
    assert len(later) <= STEADY


def test_a_present_member_the_ledger_does_not_know_is_verified(world: World) -> None:
    """Someone put alice in the group by hand and pushed a request file without review: the
    member is present, so nothing would be granted, but her request is still verified before it
    counts as backing her."""
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="alice")
    path = "access-requests/prod-admin/alice-x.yaml"
    world.github.push_direct(REPO, {path: request("alice", "prod-admin", stamp(hours(3)))},
                             author="alice")
    world.sync()
    result = world.apply()
    assert result.code == 1
    assert "direct push" in result.err
    assert world.members() == set()


def test_reconcile_verifies_the_requests_behind_exclusive_members(world: World) -> None:
    """On an exclusive entitlement a member stays only when an approved request backs it: bob's
    grant, made by apply for his approved request, stays (trusted from the ledger, no call);
    alice, added by hand behind a request file pushed without review, is removed."""
    policy = "policies/entitlements/break-glass.yaml"
    text = world.github.file_at(REPO, "refs/heads/main", policy)
    assert text is not None
    world.github.push_direct(REPO, {policy: text.decode().replace("exclusive: false",
                                                                  "exclusive: true")})
    _path, number = world.ask("bob", entitlement="break-glass")
    world.approve(number, "carol")
    world.merge(number)
    assert world.apply().code == 0
    path = "access-requests/break-glass/alice-x.yaml"
    world.github.push_direct(REPO, {path: request("alice", "break-glass", stamp(hours(3)))},
                             author="alice")
    world.sync()
    world.iam.add_user_to_group(GroupName="break-glass", UserName="alice")
    calls(world)
    result = invoke("reconcile", "--repo", str(world.workspace), "--confirm", "--removal-cap",
                    "1", "--audit-file", str(world.workspace.parent / "audit.jsonl"),
                    environ=world.env, now=hours(1))
    assert "direct push" in result.err, result.err
    assert world.members("break-glass") == {"bob"}
    assert not any(c.endswith("/pulls/1/reviews") for c in calls(world))  # bob's: trusted
