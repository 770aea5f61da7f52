"""Auto-approval rules on PagerDuty on-call, in the pure judges, as tables: the facts (who
PagerDuty had on call at the merge) come in; nothing here asks PagerDuty. End to end:
tests/e2e/test_pagerduty_on_call.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from accessctl.approval.approval import Verdict, judge_approval
from accessctl.approval.pull_review import PullReview, bot_approval, render_comment
from accessctl.core.model import PagerDutyOnCall, Policies, Request
from accessctl.judge.auto_approve import OnCallAnswer, OnCallUser, judge_rules
from accessctl.judge.controls import describe
from accessctl.read.load import MemorySource, load_policies

from tests.repo_fixture import ENTITLEMENT, PROVIDERS
from tests.test_auto_approve_break_glass import MONDAY, OWNERS, TEAMS, pull, the_request

RULE = """\
auto_approve:
  - name: pd-on-call
    max_duration: 1h
    requester_on_call:
      pagerduty: {schedule_ids: [PSRE001, PSRE002]}
"""
IDENTITIES = """\
people:
  alice: {aws: alice, pagerduty: PALICE1}
  bob: {aws: bob}
  carol: {aws: carol}
teams:
  "@acme/sre": [alice, bob]
  "@acme/security": [carol]
admins: ["@acme/security"]
"""
WHERE = PagerDutyOnCall(schedule_ids=("PSRE001", "PSRE002"))
ALICE = OnCallUser("PALICE1", "Alice")
CAROL = OnCallUser("PCAROL1", "Carol")


def load(rule: str = RULE) -> tuple[Policies | None, list[str]]:
    loaded, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES,
        "policies/entitlements/prod-admin.yaml":
            ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false") + rule,
    }))
    return loaded, [f"{f.code}: {f.location.line}: {f.message}" for f in findings]


def policies() -> Policies:
    loaded, findings = load()
    assert loaded is not None and not findings, findings
    return loaded


def test_the_rule_loads_with_its_pagerduty_ids() -> None:
    [rule] = policies().entitlements["prod-admin"].auto_approve
    assert rule.on_call_pagerduty == WHERE and rule.requester_on_call is None
    [line] = describe(policies().entitlements["prod-admin"])
    assert "requester on call in PagerDuty schedule PSRE001, PSRE002 (asked at apply)" in line


@pytest.mark.parametrize(("rule", "code"), [
    (RULE.replace("{schedule_ids: [PSRE001, PSRE002]}", "{}"), "pagerduty-on-call"),
    (RULE.replace("PSRE001", "psre-lower"), "schema-entitlement"),
    (RULE.replace("schedule_ids", "schedules"), "schema-entitlement"),
    (RULE.replace("pagerduty:", "opsgenie:"), "schema-entitlement"),
])
def test_a_broken_pagerduty_condition_is_reported_and_the_entitlement_left_out(
        rule: str, code: str) -> None:
    loaded, findings = load(rule)
    assert any(f.startswith(code) for f in findings), findings
    assert loaded is not None and "prod-admin" not in loaded.entitlements


@pytest.mark.parametrize(("requester", "facts", "applies", "pending", "why"), [
    ("alice", None, False, True, "asked by apply, which holds the PagerDuty token"),
    ("alice", {WHERE: OnCallAnswer(MONDAY, (ALICE, CAROL))}, True, False, ""),
    ("alice", {WHERE: OnCallAnswer(MONDAY, (CAROL,))}, False, False,
     "alice (PALICE1) is not on call in PagerDuty schedule PSRE001, PSRE002 at "
     "2026-11-23T09:30:00Z (on call: Carol (PCAROL1))"),
    ("alice", {WHERE: OnCallAnswer(MONDAY, error="PagerDuty unreachable or refused: boom")},
     False, False, "could not be read (PagerDuty unreachable or refused: boom): not approved"),
    # An answer for another instant is no answer for the merge.
    ("alice", {WHERE: OnCallAnswer(MONDAY + timedelta(hours=1), (ALICE,))}, False, True,
     "asked by apply"),
    # bob has no pagerduty identity: nobody on call can be him.
    ("bob", {WHERE: OnCallAnswer(MONDAY, (ALICE, OnCallUser("PBOB001", "bob")))}, False,
     False, "bob has no pagerduty identity"),
])
def test_the_condition_from_the_facts(requester: str, facts: dict[PagerDutyOnCall, OnCallAnswer]
                                      | None, applies: bool, pending: bool, why: str) -> None:
    base = policies()
    [result] = judge_rules(base.entitlements["prod-admin"], the_request(requester), MONDAY,
                           base.schedules, people=base.people, pagerduty=facts)
    assert (result.applies, result.pending) == (applies, pending)
    assert why in "; ".join(result.failed + result.unknown)


def verdict(requester: str, facts: dict[PagerDutyOnCall, OnCallAnswer] | None = None,
            merged: datetime = MONDAY) -> tuple[Request, Verdict]:
    req = the_request(requester)
    return req, judge_approval(req, pull(merged, requester), [], policies(), OWNERS,
                               lambda name: TEAMS.get(name.casefold()), "main",
                               pagerduty=facts)


def test_the_verdict_records_who_was_on_call() -> None:
    _, approved = verdict("alice", {WHERE: OnCallAnswer(MONDAY, (ALICE, CAROL))})
    assert approved.approved and approved.approved_by_rule == "pd-on-call"
    assert approved.on_call == ("Alice (PALICE1)", "Carol (PCAROL1)")
    assert approved.how == "auto-approved by rule pd-on-call (on call: Alice (PALICE1), " \
                           "Carol (PCAROL1))"


def test_without_the_facts_the_pull_request_says_if_still_on_call_at_merge() -> None:
    req, pending = verdict("alice")
    assert not pending.approved and pending.pending_rule == "pd-on-call"
    review = PullReview(pull(), [], [req], {req.path: pending}, [])
    comment = render_comment(review)
    assert "approved by rule `pd-on-call` if still on call at merge" in comment
    assert bot_approval(review) is None, "no approving review on a fact the job cannot know"


def test_an_unreadable_pagerduty_is_no_settled_denial() -> None:
    _, down = verdict("alice", {WHERE: OnCallAnswer(MONDAY, error="unreachable")})
    assert not down.approved and not down.lacked_approvals
    _, off = verdict("alice", {WHERE: OnCallAnswer(MONDAY, (CAROL,))})
    assert not off.approved and off.lacked_approvals, "off call is a fact: remembered"
