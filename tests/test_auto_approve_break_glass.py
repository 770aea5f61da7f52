"""Auto-approval rules and break-glass in the pure judges, as tables.

Everything is built here: policies from YAML in memory, the pull request and its reviews, the
time. The same controls run end to end in tests/e2e/test_auto_approval.py and
tests/e2e/test_break_glass.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest
from accessctl.approval.approval import Verdict, judge_approval
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.pull_review import PullReview, bot_approval, render_comment
from accessctl.approval.ratification import candidates
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.change.notify import Kind, break_glass_used, payload
from accessctl.core.model import (
    AutoApproveRule,
    BusinessHours,
    Location,
    Policies,
    Request,
    Rotation,
    Schedule,
    Shift,
)
from accessctl.judge.auto_approve import inside_hours, judge_rule, on_call
from accessctl.judge.break_glass import earliest_deadline
from accessctl.read.load import MemorySource, load_policies, load_request

from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, request

MONDAY = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 10:30 in Berlin
HEAD = "a" * 40
WHERE = Location("policies/entitlements/prod-admin.yaml")
RULES = """\
auto_approve:
  - name: on-call-short
    max_duration: 1h
    requester_on_call: sre-primary
    business_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00",
                     timezone: Europe/Berlin}
  - name: tiny
    max_duration: 15m
"""
GLASS = "break_glass: {max_duration: 2h, review_within: 1h}\n"
SCHEDULE = """\
name: sre-primary
rotation: {members: [bob, carol], start: "2026-11-16T09:00:00+01:00", length: 7d}
shifts:
  - {who: alice, start: "2026-11-23T07:00:00+01:00", end: "2026-11-23T19:00:00+01:00"}
"""
OWNERS = CodeOwners.parse("* @acme/security\n", gitlab=False)
TEAMS = {"@acme/security": frozenset({"carol", "dave"}), "@acme/sre": frozenset({"alice", "bob"})}


def policies(extra: str = RULES, files: dict[str, str] | None = None) -> Policies:
    entitlement = ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false") + extra
    loaded, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES,
        "policies/entitlements/prod-admin.yaml": entitlement,
        "policies/schedules/sre-primary.yaml": SCHEDULE,
        **(files or {}),
    }))
    assert loaded is not None and not findings, findings
    return loaded


def the_request(requester: str = "alice", minutes: int = 45,
                starts: datetime | None = None) -> Request:
    path = f"access-requests/prod-admin/{requester}-x.yaml"
    expires = (starts or MONDAY) + timedelta(minutes=minutes)
    text = request(requester, "prod-admin", f"{expires:%Y-%m-%dT%H:%M:%SZ}",
                   starts=f"{starts:%Y-%m-%dT%H:%M:%SZ}" if starts else None)
    loaded, findings = load_request(MemorySource({path: text}), path)
    assert loaded is not None, findings
    return loaded


def pull(merged: datetime = MONDAY, author: str = "alice", added: bool = True) -> PullRequest:
    path = f"access-requests/prod-admin/{author}-x.yaml"
    return PullRequest(7, "https://example.test/pull/7", author, False, HEAD, "main", "b" * 40,
                       True, merged, "c" * 40, (path,), (path,) if added else ())


def judge(req: Request, base: Policies, reviews: list[Review] = (),  # type: ignore[assignment]
          merged: datetime = MONDAY, now: datetime | None = None) -> Verdict:
    return judge_approval(req, pull(merged, req.requester), list(reviews), base, OWNERS,
                          lambda name: TEAMS.get(name.casefold()), "main", now=now)


# -- schedules and hours ------------------------------------------------------------------------
SCHEDULE_MODEL = Schedule("s", WHERE, (Shift("dave", datetime(2026, 11, 23, 20, tzinfo=UTC),
                                             datetime(2026, 11, 24, 6, tzinfo=UTC)),),
                          Rotation(("bob", "carol"), datetime(2026, 11, 16, 8, tzinfo=UTC),
                                   timedelta(days=7)))


@pytest.mark.parametrize(("login", "at", "expected"), [
    ("bob", datetime(2026, 11, 16, 8, tzinfo=UTC), True),        # the rotation's first turn
    ("bob", datetime(2026, 11, 16, 7, 59, tzinfo=UTC), False),   # before the rotation starts
    ("carol", datetime(2026, 11, 23, 8, tzinfo=UTC), True),      # the second turn
    ("BOB", datetime(2026, 11, 30, 9, tzinfo=UTC), True),        # it cycles; logins ignore case
    ("dave", datetime(2026, 11, 23, 20, tzinfo=UTC), True),      # a shift, start inclusive
    ("dave", datetime(2026, 11, 24, 6, tzinfo=UTC), False),      # end exclusive
    ("alice", datetime(2026, 11, 23, 21, tzinfo=UTC), False),
])
def test_on_call(login: str, at: datetime, expected: bool) -> None:
    assert on_call(SCHEDULE_MODEL, login, at) is expected


BERLIN = BusinessHours(frozenset({1, 2, 3, 4, 5}), time(8), time(18), "Europe/Berlin")


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(2026, 11, 23, 7, 0, tzinfo=UTC), True),     # Monday 08:00 CET: start inclusive
    (datetime(2026, 11, 23, 6, 59, tzinfo=UTC), False),
    (datetime(2026, 11, 23, 17, 0, tzinfo=UTC), False),   # 18:00 CET: end exclusive
    (datetime(2026, 11, 28, 10, 0, tzinfo=UTC), False),   # Saturday
    (datetime(2026, 7, 6, 6, 30, tzinfo=UTC), True),      # 08:30 CEST: summer time followed
    (datetime(2026, 7, 6, 16, 30, tzinfo=UTC), False),    # 18:30 CEST
])
def test_business_hours_in_the_zones_wall_clock(at: datetime, expected: bool) -> None:
    assert inside_hours(BERLIN, at) is expected


# -- one rule -----------------------------------------------------------------------------------
RULE = AutoApproveRule("r", timedelta(hours=1), WHERE, "s", BERLIN)


@pytest.mark.parametrize(("requester", "minutes", "starts", "merged", "failure"), [
    ("carol", 60, None, datetime(2026, 11, 23, 9, tzinfo=UTC), None),
    ("carol", 61, None, datetime(2026, 11, 23, 9, tzinfo=UTC), "longer than the rule's 1h"),
    ("bob", 30, None, datetime(2026, 11, 23, 9, tzinfo=UTC), "bob is not on call in s"),
    ("carol", 30, datetime(2026, 11, 23, 12, tzinfo=UTC), datetime(2026, 11, 23, 9, tzinfo=UTC),
     "auto-approval is for access needed now"),
    ("dave", 30, None, datetime(2026, 11, 23, 21, tzinfo=UTC), "outside business hours"),
])
def test_a_rule_and_why_it_does_not_apply(requester: str, minutes: int, starts: datetime | None,
                                          merged: datetime, failure: str | None) -> None:
    begin = starts or merged
    req = dataclasses.replace(the_request(requester), starts_at=starts,
                              expires_at=begin + timedelta(minutes=minutes))
    result = judge_rule(RULE, req, merged, {"s": SCHEDULE_MODEL})
    if failure is None:
        assert result.applies, result.failed
    else:
        assert any(failure in f for f in result.failed), result.failed


def test_a_rule_naming_a_missing_schedule_approves_nobody() -> None:
    result = judge_rule(RULE, the_request("carol"), MONDAY, {})
    assert result.failed == ("schedule 's' does not exist in policies/schedules/",)


# -- the approval judge with rules --------------------------------------------------------------
@pytest.mark.parametrize(("requester", "minutes", "merged", "rule"), [
    ("alice", 45, MONDAY, "on-call-short"),                        # on call, short, in hours
    ("bob", 10, MONDAY, "tiny"),                                   # not on call, but tiny
    ("bob", 45, MONDAY, None),                                     # neither
    ("alice", 90, MONDAY, None),                                   # too long for both
    ("alice", 45, datetime(2026, 11, 23, 17, 30, tzinfo=UTC), None),  # 18:30 Berlin
])
def test_the_first_rule_that_holds_approves(requester: str, minutes: int, merged: datetime,
                                            rule: str | None) -> None:
    req = dataclasses.replace(the_request(requester),
                              expires_at=merged + timedelta(minutes=minutes))
    verdict = judge(req, policies(), merged=merged)
    assert (verdict.approved, verdict.approved_by_rule) == (rule is not None, rule)
    if rule is None:
        assert any("auto-approval rule on-call-short does not apply" in r
                   for r in verdict.reasons), verdict.reasons


def test_a_rule_does_not_lift_eligibility_or_the_window() -> None:
    carol = dataclasses.replace(the_request("carol"), expires_at=MONDAY + timedelta(minutes=10))
    verdict = judge(carol, policies())
    assert not verdict.approved and "not eligible" in verdict.reasons[0]


def test_human_approval_comes_first_and_the_rule_is_not_named() -> None:
    verdict = judge(the_request("alice"), policies(),
                    [Review("carol", ReviewState.APPROVED, HEAD, MONDAY)])
    assert verdict.approved and verdict.approvers == ("carol",)
    assert verdict.approved_by_rule is None


def test_the_rule_comes_from_the_base_commits_policies() -> None:
    # A base without the rule: whatever the head proposes, nothing approves.
    verdict = judge(the_request("alice"), policies(extra=""))
    assert not verdict.approved and verdict.approved_by_rule is None


# -- break-glass --------------------------------------------------------------------------------
DUE = MONDAY + timedelta(hours=1)


def approval(login: str, at: datetime, commit: str = HEAD, bot: bool = False) -> Review:
    return Review(login, ReviewState.APPROVED, commit, at, bot)


@pytest.mark.parametrize(("reviews", "now", "approved", "state", "why"), [
    ([], MONDAY + timedelta(minutes=5), True, "awaiting", None),
    ([], DUE, False, "not-ratified", "break-glass not ratified"),
    ([approval("carol", MONDAY + timedelta(minutes=40))], DUE + timedelta(minutes=5), True,
     "ratified", None),
    ([approval("carol", DUE + timedelta(minutes=1))], DUE + timedelta(minutes=5), False,
     "not-ratified", "after the break-glass review deadline"),
    ([approval("alice", MONDAY + timedelta(minutes=5))], DUE, False, "not-ratified",
     "the requester cannot approve"),
    ([approval("bob", MONDAY + timedelta(minutes=5))], DUE, False, "not-ratified",
     "not a code owner"),
    ([approval("dave[bot]", MONDAY + timedelta(minutes=5), bot=True)], DUE, False,
     "not-ratified", "bots do not approve"),
    ([approval("carol", MONDAY + timedelta(minutes=5), commit="f" * 40)], DUE, False,
     "not-ratified", "earlier commit"),
    ([approval("carol", MONDAY + timedelta(minutes=5)),
      Review("carol", ReviewState.DISMISSED, HEAD, MONDAY + timedelta(minutes=9))], DUE, False,
     "not-ratified", "latest review is DISMISSED"),
    ([approval("carol", MONDAY - timedelta(minutes=5))], DUE, True, None, None),  # ordinary
])
def test_break_glass_ratification(reviews: list[Review], now: datetime, approved: bool,
                                  state: str | None, why: str | None) -> None:
    verdict = judge(the_request("alice", minutes=90), policies(GLASS), reviews, now=now)
    assert (verdict.approved, verdict.break_glass) == (approved, state), verdict.reasons
    if why is not None:
        assert any(why in r for r in verdict.reasons), verdict.reasons
    if state is not None:
        assert verdict.deadline == DUE


def test_break_glass_does_not_extend_an_existing_request() -> None:
    # The pull request changed a request already on the branch: an extension needs approval.
    req = the_request("alice", minutes=30)
    verdict = judge_approval(req, pull(added=False), [], policies(GLASS), OWNERS,
                             lambda n: TEAMS.get(n.casefold()), "main", now=MONDAY)
    assert not verdict.approved and verdict.break_glass is None
    assert "needs 1 more approval" in verdict.reasons[0]
    unknown = dataclasses.replace(pull(), added_files=None)  # not known: fail closed
    assert not judge_approval(req, unknown, [], policies(GLASS), OWNERS,
                              lambda n: TEAMS.get(n.casefold()), "main", now=MONDAY).approved


def test_break_glass_beyond_its_window_needs_prior_approval() -> None:
    # 3h: within the entitlement's 4h, beyond break-glass's 2h.
    verdict = judge(the_request("alice", minutes=180), policies(GLASS),
                    now=MONDAY + timedelta(minutes=1))
    assert not verdict.approved and verdict.break_glass is None
    assert "needs 1 more approval" in verdict.reasons[0]


def test_break_glass_keeps_eligibility_and_the_pull_request_rules() -> None:
    carol = the_request("carol", minutes=30)
    assert not judge(carol, policies(GLASS)).approved
    alice = the_request("alice", minutes=30)
    by_bob = judge_approval(alice, pull(author="bob"), [], policies(GLASS), OWNERS,
                            lambda n: TEAMS.get(n.casefold()), "main", now=MONDAY)
    assert not by_bob.approved and "opened by bob" in by_bob.reasons[0]
    pushed = judge_approval(alice, None, [], policies(GLASS), OWNERS, lambda n: None, "main",
                            now=MONDAY)
    assert not pushed.approved and "direct push" in pushed.reasons[0]


def test_earliest_deadline_bounds_the_sweeps_look_ups() -> None:
    base = policies(GLASS)
    entitlement = base.entitlements["prod-admin"]
    req = the_request("alice", minutes=90)  # expires at 11:00; merged no earlier than 09:00
    assert earliest_deadline(entitlement, req) == req.expires_at - timedelta(hours=1)
    assert candidates(base, [req], MONDAY, timedelta(minutes=15)) == []
    later = req.expires_at - timedelta(minutes=30)
    assert candidates(base, [req], later, timedelta(minutes=15)) == [req]
    # Long expired and long overdue: nothing left to revoke or to announce.
    assert candidates(base, [req], req.expires_at + timedelta(hours=2),
                      timedelta(minutes=15)) == []


# -- loading ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "files", "code"), [
    (RULES.replace("sre-primary", "sre-primray"), {}, "unknown-schedule"),
    (RULES.replace("Europe/Berlin", "Europe/Atlantis"), {}, "bad-timezone"),
    (RULES.replace('end: "18:00"', 'end: "07:00"'), {}, "hours-order"),
    (RULES.replace("name: tiny", "name: on-call-short"), {}, "duplicate-rule"),
    (RULES.replace("max_duration: 15m", "max_duration: 0m"), {}, "bad-duration"),
    ("break_glass: {max_duration: 5h, review_within: 1h}\n", {}, "break-glass-window"),
    ("break_glass: {max_duration: 1h}\n", {}, "schema-entitlement"),
    (RULES.replace("days: [mon,", "days: [monday,"), {}, "schema-entitlement"),
    ("", {"policies/schedules/other.yaml": "name: nope\nshifts: []\n"}, "schema-schedule"),
    ("", {"policies/schedules/other.yaml": "name: nope\nrotation: {members: [a], start: "
          "'2026-11-23T00:00:00Z', length: 1d}\n"}, "schedule-name"),
    ("", {"policies/schedules/other.yaml": "name: other\n"}, "schedule-empty"),
    ("", {"policies/schedules/other.yaml": "name: other\nshifts:\n  - {who: a, start: "
          "'2026-11-23T10:00:00Z', end: '2026-11-23T09:00:00Z'}\n"}, "shift-order"),
    ("", {"policies/schedules/other.yaml": "name: other\nshifts:\n  - {who: a, start: "
          "'2026-11-23T10:00:00', end: '2026-11-23T19:00:00Z'}\n"}, "schema-schedule"),
])
def test_broken_controls_are_reported_with_file_and_line(extra: str, files: dict[str, str],
                                                         code: str) -> None:
    entitlement = ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false") + extra
    loaded, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES,
        "policies/entitlements/prod-admin.yaml": entitlement,
        "policies/schedules/sre-primary.yaml": SCHEDULE,
        **files,
    }))
    assert code in [f.code for f in findings], findings
    finding = next(f for f in findings if f.code == code)
    assert finding.location.path.startswith("policies/") and finding.location.line >= 1
    if code not in ("schema-schedule", "schedule-name", "schedule-empty", "shift-order"):
        # A broken control never loads on a looser reading: the entitlement is left out.
        assert loaded is not None and "prod-admin" not in loaded.entitlements


def test_the_loaded_shapes() -> None:
    base = policies(RULES + GLASS)
    entitlement = base.entitlements["prod-admin"]
    first, second = entitlement.auto_approve
    assert (first.name, first.max_duration, first.requester_on_call) == (
        "on-call-short", timedelta(hours=1), "sre-primary")
    assert first.business_hours == BERLIN
    assert (second.name, second.requester_on_call, second.business_hours) == ("tiny", None, None)
    assert entitlement.break_glass is not None
    assert entitlement.break_glass.review_within == timedelta(hours=1)
    schedule = base.schedules["sre-primary"]
    assert schedule.rotation is not None and schedule.rotation.members == ("bob", "carol")
    assert schedule.shifts[0].start == datetime(2026, 11, 23, 6, tzinfo=UTC)


# -- what people see ----------------------------------------------------------------------------
def review_of(verdict: Verdict, req: Request) -> PullReview:
    return PullReview(pull(), [], [req], {req.path: verdict}, [])


def test_the_bot_approves_only_a_clean_pull_request_a_rule_approves() -> None:
    req = the_request("alice")
    ruled = judge(req, policies())
    assert ruled.approved_by_rule == "on-call-short"
    body = bot_approval(review_of(ruled, req))
    assert body is not None and "on-call-short" in body
    assert "auto-approved by rule `on-call-short`" in render_comment(review_of(ruled, req))
    assert "if the rule still holds then" in render_comment(review_of(ruled, req))
    human = judge(req, policies(), [Review("carol", ReviewState.APPROVED, HEAD, MONDAY)])
    assert bot_approval(review_of(human, req)) is None
    glass = judge(the_request("alice", minutes=90), policies(GLASS))
    assert bot_approval(review_of(glass, req)) is None
    assert "**break-glass**" in render_comment(review_of(glass, req))
    assert "within 1h of the merge" in render_comment(review_of(glass, req))
    assert "granted on merge; the code owners must then approve" in render_comment(
        review_of(glass, req))


def test_the_break_glass_alert() -> None:
    notice = break_glass_used("access-requests/prod-admin/alice-x.yaml", "prod-admin", "alice",
                              DUE, ["@acme/security"], "https://example.test/pull/7")
    body = payload(notice)
    assert notice.kind is Kind.BREAK_GLASS
    assert body["accessctl"]["event"] == "break_glass"
    assert body["accessctl"]["deadline"] == "2026-11-23T10:30:00Z"
    assert "BREAK-GLASS" in body["text"] and "@acme/security" in body["text"]
