"""Invariant 13 with approvals read from the VCS: the GitHub emulator fails the call made for
one request with an answer the engine does not expect (a 400: not a 5xx or a limit, which the
VCS transport retries or defers, see test_vcs_rate_limits.py); that request is a finding and grants
nothing, and every other one is still judged and granted. Before, the run stopped with exit 3
and granted nobody."""

from __future__ import annotations

import json

from tests.e2e.github_world import IDENTITIES as PEOPLE_ONLY
from tests.e2e.github_world import REPO, World, hours

WITH_TEAMS = PEOPLE_ONLY + """\
teams:
  "@acme/sre": [alice, bob]
  "@acme/security": [carol, dave]
  "@acme/admins": [dave]
"""
ALICE = "access-requests/prod-admin/alice-x.yaml"


def two_approved_requests(world: World) -> None:
    # Known default branch: the first API call of the run is one made for a request.
    world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    for requester in ("alice", "bob"):
        _path, number = world.ask(requester)
        world.approve(number, "carol")
        world.merge(number)


def fail_next_call(world: World) -> None:
    """Fail the first call the run makes for a request: after the start-up check of the VCS
    token's permissions (approval/vcs/access.py), one GraphQL query."""
    world.github.faults.script = ["", "400"]


def test_a_failed_approval_look_up_is_a_finding_against_that_file_only(world: World) -> None:
    # Teams in identities.yaml: no team look-up, so the failed call is alice's verification.
    world.github.push_direct(REPO, {"policies/identities.yaml": WITH_TEAMS}, author="dave")
    world.sync()
    two_approved_requests(world)
    fail_next_call(world)
    result = world.apply()
    assert result.code == 1, result.err
    assert "internal error" not in result.err
    assert world.members() == {"bob"}
    skipped = [line for line in result.err.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and ALICE in skipped[0], result.err
    assert "verifying its approval" in skipped[0] and "report this as a bug" in skipped[0]
    outcomes = {(e["action"], e["outcome"], e.get("request")) for e in result.events()}
    assert ("deny", "invalid", ALICE) in outcomes
    # The next run, with the VCS answering again, grants alice.
    again = world.apply()
    assert again.code == 0, again.err
    assert world.members() == {"alice", "bob"}


def test_a_failed_team_look_up_is_a_finding_against_that_file_only(world: World) -> None:
    # Teams only on GitHub: the failed call is the eligibility look-up while judging alice's
    # file, in the judging that comes before any approval is verified.
    two_approved_requests(world)
    fail_next_call(world)
    result = world.apply()
    assert result.code == 1, result.err
    assert "internal error" not in result.err
    assert world.members() == {"bob"}
    skipped = [line for line in result.err.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 1 and ALICE in skipped[0], result.err


def test_report_lists_every_request_when_one_cannot_be_verified(world: World) -> None:
    two_approved_requests(world)
    fail_next_call(world)
    from tests.cli_runner import invoke

    result = invoke("report", "--repo", str(world.workspace), "--format", "json",
                    environ=world.env, now=hours(1))
    assert result.code == 1, result.err
    assert "internal error" not in result.err
    rows = {r["request"]: r for r in json.loads(result.out)["requests"]}
    assert set(rows) == {ALICE, "access-requests/prod-admin/bob-x.yaml"}
    assert rows["access-requests/prod-admin/bob-x.yaml"]["state"] == "active"
    assert rows[ALICE]["state"] == "rejected"
    assert ALICE in result.err and "report this as a bug" in result.err
