"""Auto-approval by PagerDuty on-call, end to end: GitHub emulator through PyGithub, AWS on moto,
PagerDuty's emulator through PagerDuty's client library (over HTTPS).

prod-admin gets a rule: at most 1h, the requester on call in PagerDuty schedule PSRE001 at the
merge. alice is on call 08:00-12:00 UTC, bob from 10:00; world.merge merges at T0 + 30 min
(09:30 UTC). Only apply holds PAGERDUTY_TOKEN; validate (the pull request) never does.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.pagerduty import PagerDutyEmulator

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours
from tests.e2e.test_workflow_commands import head_tree, payload

RULE = """\
auto_approve:
  - name: pd-on-call
    max_duration: 1h
    requester_on_call:
      pagerduty:
        schedule_ids: [PSRE001]
"""
IDENTITIES = """\
people:
  alice: {aws: alice, pagerduty: PALICE1}
  bob: {aws: bob, pagerduty: PBOB001}
  carol: {aws: carol}
  dave: {aws: dave}
  mallory: {aws: mallory}
admins: ["@acme/admins"]
"""
BOT_TOKEN = "ghs_accessctlbottoken000000000000000000"
PD_TOKEN = "pd-apply-job-token"


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyEmulator]:
    with PagerDutyEmulator(token=PD_TOKEN) as server:
        assert isinstance(server, PagerDutyEmulator)
        server.add_user("PALICE1", "Alice")
        server.add_user("PBOB001", "Bob")
        server.add_escalation_policy("PEPPROD", "Production")
        server.add_schedule("PSRE001", "SRE primary", "PEPPROD")
        server.add_shift("PSRE001", "PALICE1", hours(-1), hours(3))
        server.add_shift("PSRE001", "PBOB001", hours(1), hours(5))
        yield server


@pytest.fixture
def ruled(world: World) -> World:
    policy = world.workspace / "policies/entitlements/prod-admin.yaml"
    world.github.push_direct(REPO, {
        "policies/entitlements/prod-admin.yaml": policy.read_text() + RULE,
        "policies/identities.yaml": IDENTITIES,
    }, author="dave")
    world.sync()
    world.github.add_bot("accessctl[bot]")
    world.github.add_token(BOT_TOKEN, "accessctl[bot]")
    world.env["GITHUB_TOKEN"] = BOT_TOKEN
    return world


def apply(world: World, pagerduty: PagerDutyEmulator, url: str | None = None,
          at: float = 1) -> Result:
    """apply as the apply job runs it: with the PagerDuty token."""
    env = {**world.env, "PAGERDUTY_TOKEN": PD_TOKEN,
           "PAGERDUTY_API_URL": url or pagerduty.base_url, "SSL_CERT_FILE": pagerduty.ca_file}
    return invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"), environ=env, now=hours(at))


def validate(world: World, number: int, tmp: Path) -> Result:
    return invoke("validate", "--repo", str(head_tree(world, number, tmp)), "--event",
                  str(payload("pull_request.opened", tmp, number=number)), "--comment",
                  environ=world.env, now=hours(0.1))


def short(world: World, requester: str) -> tuple[str, int]:
    return world.ask(requester, hours_from_t0=1.05)


def denial(result: Result, path: str) -> str:
    assert result.code == 1, result.err
    [event] = [e for e in result.events() if e["action"] == "deny"]
    assert event["request"] == path
    assert not [e for e in result.events() if e["action"] in ("approve", "grant")]
    return str(event["error"])


def test_on_call_at_the_merge_is_granted_by_the_rule_with_the_on_call_list_on_record(
        ruled: World, pagerduty: PagerDutyEmulator, tmp_path: Path) -> None:
    _path, number = short(ruled, "alice")
    checked = validate(ruled, number, tmp_path)
    assert checked.code == 0, checked.err
    [comment] = ruled.github.comments(REPO, number)
    assert "approved by rule `pd-on-call` if still on call at merge" in comment
    assert ruled.github.repo(REPO).pulls[number].reviews == [], \
        "the pull request's job cannot know who is on call: no approving review"
    assert pagerduty.log == [], "validate never asks PagerDuty (it has no token)"

    ruled.merge(number)
    result = apply(ruled, pagerduty)
    assert result.code == 0, result.err
    approve, grant = result.events()
    assert (approve["action"], approve["outcome"], approve["approved_by_rule"]) == (
        "approve", "auto-approved", "pd-on-call")
    assert approve["on_call"] == ["Alice (PALICE1)"]
    assert "on call: Alice (PALICE1)" in approve["detail"]
    assert (grant["action"], grant["outcome"]) == ("grant", "done")
    assert ruled.members() == {"alice"}
    audit = [json.loads(line) for line in
             (ruled.workspace.parent / "audit.jsonl").read_text().splitlines()]
    assert audit[0]["on_call"] == ["Alice (PALICE1)"]
    # Asked once, for the merge instant, and for the rule's schedule only.
    [asked] = pagerduty.log
    assert "since=2026-11-23T09%3A30%3A00Z" in asked.query
    assert "until=2026-11-23T09%3A30%3A00Z" in asked.query
    assert "schedule_ids%5B%5D=PSRE001" in asked.query


def test_off_call_at_the_merge_needs_an_approval(
        ruled: World, pagerduty: PagerDutyEmulator) -> None:
    # bob's shift begins at 10:00; the merge was at 09:30 and apply runs at 10:15, when he is
    # on call: the rule is judged at the merge, not when apply happens to run.
    path, number = ruled.ask("bob", hours_from_t0=1.45)
    ruled.merge(number)
    why = denial(apply(ruled, pagerduty, at=1.25), path)
    assert "needs 1 more approval" in why
    assert "bob (PBOB001) is not on call in PagerDuty schedule PSRE001 at " \
           "2026-11-23T09:30:00Z (on call: Alice (PALICE1))" in why
    assert ruled.members() == set()


def test_pagerduty_unreachable_approves_nobody_and_says_so(
        ruled: World, pagerduty: PagerDutyEmulator) -> None:
    path, number = short(ruled, "alice")
    ruled.merge(number)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}"
    why = denial(apply(ruled, pagerduty, url=closed), path)
    assert "could not be read (PagerDuty unreachable or refused" in why
    assert "not approved by this rule" in why
    assert ruled.members() == set()
    # Not remembered as a denial: once PagerDuty answers, the same merge is judged again.
    again = apply(ruled, pagerduty)
    assert again.code == 0, again.err
    assert ruled.members() == {"alice"}


def test_a_rate_limited_pagerduty_is_waited_for(
        ruled: World, pagerduty: PagerDutyEmulator) -> None:
    from accessctl.emulators.http import Faults

    _path, number = short(ruled, "alice")
    ruled.merge(number)
    pagerduty.set_faults(Faults(script=["429"]))
    result = apply(ruled, pagerduty)
    assert result.code == 0, result.err
    assert [entry.status for entry in pagerduty.log] == [429, 200]
    assert ruled.members() == {"alice"}


def test_without_the_token_apply_approves_nobody_by_the_rule(
        ruled: World, pagerduty: PagerDutyEmulator) -> None:
    path, number = short(ruled, "alice")
    ruled.merge(number)
    result = invoke("apply", "--repo", str(ruled.workspace), "--confirm", "--audit-file",
                    str(ruled.workspace.parent / "audit.jsonl"), environ=ruled.env,
                    now=hours(1))
    why = denial(result, path)
    assert "PAGERDUTY_TOKEN is not set in this job" in why
    assert pagerduty.log == []


def test_a_human_approval_needs_no_pagerduty_question(
        ruled: World, pagerduty: PagerDutyEmulator) -> None:
    _path, number = short(ruled, "bob")
    ruled.approve(number, "carol")
    ruled.merge(number)
    result = apply(ruled, pagerduty)
    assert result.code == 0, result.err
    assert ruled.members() == {"bob"}
    assert pagerduty.log == []
