"""Auto-approval end to end: GitHub emulator through PyGithub, AWS on moto.

prod-admin gets a rule: at most 1h, the requester on call in sre-primary, inside Berlin business
hours. T0 is Monday 2026-11-23 09:00 UTC (10:00 in Berlin); world.merge merges at T0 + 30 min.
The engine's token belongs to a bot, as GitHub Actions' does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.e2e.test_workflow_commands import head_tree, payload
from tests.repo_fixture import request

RULE = """\
auto_approve:
  - name: on-call-short
    max_duration: 1h
    requester_on_call: sre-primary
    business_hours:
      days: [mon, tue, wed, thu, fri]
      start: "08:00"
      end: "18:00"
      timezone: Europe/Berlin
"""
SCHEDULE = """\
name: sre-primary
rotation:
  members: [carol, bob]
  start: 2026-11-09T09:00:00+01:00
  length: 7d
"""
"""Weekly turns: carol from 2026-11-09, bob from 11-16, carol again from 11-23 09:00 Berlin. alice
is on call on Monday 11-23 by an explicit shift (07:00-19:00 Berlin), so bob is not on call."""
SHIFT = """\
shifts:
  - who: alice
    start: 2026-11-23T07:00:00+01:00
    end: 2026-11-23T19:00:00+01:00
"""
BOT_TOKEN = "ghs_accessctlbottoken000000000000000000"


@pytest.fixture
def ruled(world: World) -> World:
    policy = world.workspace / "policies/entitlements/prod-admin.yaml"
    world.github.push_direct(REPO, {
        "policies/entitlements/prod-admin.yaml": policy.read_text() + RULE,
        "policies/schedules/sre-primary.yaml": SCHEDULE + SHIFT,
    }, author="dave")
    world.sync()
    world.github.add_bot("accessctl[bot]")
    world.github.add_token(BOT_TOKEN, "accessctl[bot]")
    world.env["GITHUB_TOKEN"] = BOT_TOKEN
    return world


def short(world: World, requester: str, until: float = 1.05, **extra: str) -> tuple[str, int]:
    """A request expiring at T0 + `until` hours: within the hour from validation and merge."""
    return world.ask(requester, hours_from_t0=until, **extra)


def validate(world: World, number: int, tmp: Path, at: float = 0.1) -> Result:
    return invoke("validate", "--repo", str(head_tree(world, number, tmp)), "--event",
                  str(payload("pull_request.opened", tmp, number=number)), "--comment",
                  environ=world.env, now=hours(at))


def denied(world: World, result: Result, path: str, reason: str) -> None:
    assert result.code == 1, result.err
    events = [e for e in result.events() if e["action"] == "deny"]
    assert [e["request"] for e in events] == [path], result.err
    assert reason in events[0]["error"], events[0]["error"]
    assert not [e for e in result.events() if e["action"] == "approve"]
    assert world.members() == set()


def test_a_request_a_rule_approves_is_granted_with_the_rule_on_record(
        ruled: World, tmp_path: Path) -> None:
    path, number = short(ruled, "alice")
    checked = validate(ruled, number, tmp_path)
    assert checked.code == 0, checked.out + checked.err
    # The bot's approving review is a visible trace, naming the rule; so does the comment.
    reviews = ruled.github.repo(REPO).pulls[number].reviews
    assert [(r.user, r.state) for r in reviews] == [("accessctl[bot]", "APPROVED")]
    assert "on-call-short" in reviews[0].body
    [comment] = ruled.github.comments(REPO, number)
    assert "auto-approved by rule `on-call-short`" in comment
    # Validating again does not approve twice.
    assert validate(ruled, number, tmp_path).code == 0
    assert len(ruled.github.repo(REPO).pulls[number].reviews) == 1

    ruled.merge(number)
    result = ruled.apply()
    assert result.code == 0, result.err
    approve, grant = result.events()
    assert (approve["action"], approve["outcome"], approve["request"],
            approve["approved_by_rule"]) == ("approve", "auto-approved", path, "on-call-short")
    assert (grant["action"], grant["outcome"]) == ("grant", "done")
    assert ruled.members() == {"alice"}
    audit = (ruled.workspace.parent / "audit.jsonl").read_text().splitlines()
    assert json.loads(audit[0])["approved_by_rule"] == "on-call-short"
    report = invoke("report", "--repo", str(ruled.workspace), "--format", "json",
                    environ=ruled.env, now=hours(0.6))
    [row] = [r for r in report.json()["requests"] if r["request"] == path]
    assert (row["state"], row["approval"]) == ("active", "auto-approved by rule on-call-short")


def test_the_bots_review_alone_grants_nothing_when_no_rule_holds(ruled: World) -> None:
    # bob is not on call; the engine's own account approved anyway (a forged trace).
    path, number = short(ruled, "bob")
    ruled.github.submit_review(REPO, number, "accessctl[bot]", "APPROVED",
                               body="<!-- accessctl:auto-approval -->")
    ruled.merge(number)
    result = ruled.apply()
    denied(ruled, result, path, "bots do not approve")


def test_a_forged_approval_from_another_bot_grants_nothing(ruled: World) -> None:
    # alice is on call, but asks for 3 hours: longer than the rule's hour.
    path, number = short(ruled, "alice", until=3.5)
    ruled.github.add_team("acme", "bots", ["helper[bot]"])
    ruled.approve(number, "helper[bot]")
    ruled.merge(number)
    denied(ruled, ruled.apply(), path, "needs 1 more approval")


def test_validate_does_not_approve_what_no_rule_covers(ruled: World, tmp_path: Path) -> None:
    _path, number = short(ruled, "bob")
    assert validate(ruled, number, tmp_path).code == 0
    assert ruled.github.repo(REPO).pulls[number].reviews == []
    [comment] = ruled.github.comments(REPO, number)
    assert "auto-approved" not in comment


def test_outside_business_hours(ruled: World) -> None:
    # Merged at 19:30 Berlin (18:30 UTC): alice's shift runs until 19:00 Berlin too, so move
    # it to show the hours alone refusing.
    ruled.github.push_direct(REPO, {"policies/schedules/sre-primary.yaml": SCHEDULE + SHIFT
                                    .replace("19:00:00", "23:00:00")}, author="dave")
    ruled.sync()
    path = "access-requests/prod-admin/alice-x.yaml"
    number = ruled.propose("alice", {path: request("alice", "prod-admin", stamp(hours(10)))})
    ruled.merge(number, at=hours(9.5))
    denied(ruled, ruled.apply(hours(9.6)), path, "outside business hours")


def test_someone_not_on_call(ruled: World) -> None:
    path, number = short(ruled, "bob")
    ruled.merge(number)
    denied(ruled, ruled.apply(), path, "bob is not on call in sre-primary")


def test_a_schedule_changed_in_the_same_pull_request(ruled: World) -> None:
    path = "access-requests/prod-admin/bob-x.yaml"
    number = ruled.propose("bob", {
        path: request("bob", "prod-admin", stamp(hours(1.4))),
        "policies/schedules/sre-primary.yaml": SCHEDULE + SHIFT.replace("alice", "bob"),
    })
    ruled.merge(number)
    denied(ruled, ruled.apply(), path, "separate pull requests")


def test_the_rule_is_judged_at_merge_not_at_review(ruled: World, tmp_path: Path) -> None:
    # The bot approved at 17:30 Berlin; the pull request merged at 18:12, after hours.
    path, number = short(ruled, "alice", until=8.3)
    assert validate(ruled, number, tmp_path, at=7.5).code == 0
    assert ruled.github.repo(REPO).pulls[number].reviews
    ruled.merge(number, at=hours(8.2))
    denied(ruled, ruled.apply(hours(8.25)), path, "outside business hours")
