"""Auto-approval rules: when the engine itself approves a request. Pure: time and schedules in.

A rule approves only what a person would have approved without a second look: a short window
that begins at the merge (access needed now, not booked for later), for a requester who is on
call, inside business hours. Every condition of a rule must hold; any one rule is enough. The
rules are read from the base commit's policies and judged at the merge time, the same way as
the window (invariants 5 and 6), so nothing the pull request itself changes can satisfy them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accessctl.core.durations import format_duration
from accessctl.core.model import (
    AutoApproveRule,
    BusinessHours,
    Entitlement,
    PagerDutyOnCall,
    Person,
    Request,
    Schedule,
    isoformat,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OnCallUser:
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.id})" if self.name else self.id


@dataclass(frozen=True)
class OnCallAnswer:
    """Who PagerDuty says was on call at `at` for one rule's schedules or escalation policies,
    or why it could not be asked (`error`): facts fetched by apply, passed to the pure judge."""

    at: datetime
    users: tuple[OnCallUser, ...] = ()
    error: str | None = None


OnCallFacts = Mapping[PagerDutyOnCall, OnCallAnswer]
PAGERDUTY_IDENTITY = "pagerduty"
"""The key in policies/identities.yaml that holds a person's PagerDuty user ID."""


@dataclass(frozen=True)
class RuleResult:
    rule: AutoApproveRule
    failed: tuple[str, ...]
    """Why the rule does not apply, one sentence per condition (empty: it applies)."""
    unknown: tuple[str, ...] = ()
    """Conditions that need facts this judgement was not given (who PagerDuty has on call at
    the merge): the rule approves only if they hold when apply asks."""
    on_call: tuple[OnCallUser, ...] = ()
    """Who PagerDuty had on call at the merge, for the rule's on-call condition."""

    @property
    def applies(self) -> bool:
        return not self.failed and not self.unknown

    @property
    def pending(self) -> bool:
        """Every condition holds but the ones that need facts not given here."""
        return not self.failed and bool(self.unknown)


def on_call(schedule: Schedule, login: str, at: datetime) -> bool:
    """Whether `login` is on call in `schedule` at `at` (a shift or the rotation's turn)."""
    who = login.casefold()
    for shift in schedule.shifts:
        if shift.who.casefold() == who and shift.start <= at < shift.end:
            return True
    rotation = schedule.rotation
    if rotation is None or at < rotation.start or not rotation.members:
        return False
    turn = int((at - rotation.start) // rotation.length) % len(rotation.members)
    return rotation.members[turn].casefold() == who


def on_call_now(schedule: Schedule, at: datetime) -> list[str]:
    """Everyone on call at `at`, for messages."""
    names = {s.who for s in schedule.shifts if s.start <= at < s.end}
    rotation = schedule.rotation
    if rotation is not None and rotation.members and at >= rotation.start:
        turn = int((at - rotation.start) // rotation.length) % len(rotation.members)
        names.add(rotation.members[turn])
    return sorted(names, key=str.casefold)


def inside_hours(hours: BusinessHours, at: datetime) -> bool:
    """Whether `at` falls on one of the days, between start (inclusive) and end (exclusive),
    on the wall clock of the hours' time zone."""
    local = at.astimezone(ZoneInfo(hours.timezone))
    if local.isoweekday() not in hours.days:
        return False
    return hours.start <= local.time().replace(tzinfo=None) < hours.end


def describe_hours(hours: BusinessHours) -> str:
    days = ", ".join(DAY_NAMES[d - 1] for d in sorted(hours.days))
    return f"{days} {hours.start:%H:%M}-{hours.end:%H:%M} {hours.timezone}"


def judge_rule(rule: AutoApproveRule, request: Request, merged_at: datetime,
               schedules: Mapping[str, Schedule], *, people: Mapping[str, Person] | None = None,
               pagerduty: OnCallFacts | None = None) -> RuleResult:
    """Every condition of `rule` for `request` merged at `merged_at`. A PagerDuty on-call
    condition is judged from `pagerduty` (fetched by apply for the merge time); without that fact
    it is unknown, never assumed."""
    failed: list[str] = []
    unknown: list[str] = []
    users: tuple[OnCallUser, ...] = ()
    if request.starts_at is not None and request.starts_at > merged_at:
        failed.append(f"the window starts at {isoformat(request.starts_at)}, after the merge: "
                      "auto-approval is for access needed now")
    window = window_from(request, merged_at)
    if window > rule.max_duration:
        failed.append(f"the window is {format_duration(window)} from the merge, longer than "
                      f"the rule's {format_duration(rule.max_duration)}")
    if rule.requester_on_call is not None:
        schedule = schedules.get(rule.requester_on_call)
        if schedule is None:
            failed.append(f"schedule {rule.requester_on_call!r} does not exist in "
                          "policies/schedules/")
        elif not on_call(schedule, request.requester, merged_at):
            now_on = ", ".join(on_call_now(schedule, merged_at)) or "nobody"
            failed.append(f"{request.requester} is not on call in {schedule.name} at "
                          f"{isoformat(merged_at)} (on call: {now_on})")
    if rule.on_call_pagerduty is not None:
        why, seen = _pagerduty(rule.on_call_pagerduty, request, merged_at, people or {},
                               pagerduty or {})
        if why is not None:
            (failed if seen is not None else unknown).append(why)
        users = seen or ()
    if rule.business_hours is not None:
        try:
            inside = inside_hours(rule.business_hours, merged_at)
        except ZoneInfoNotFoundError:
            inside = False
        if not inside:
            failed.append(f"{isoformat(merged_at)} is outside business hours "
                          f"({describe_hours(rule.business_hours)})")
    return RuleResult(rule, tuple(failed), tuple(unknown), users)


def _pagerduty(where: PagerDutyOnCall, request: Request, merged_at: datetime,
               people: Mapping[str, Person], facts: OnCallFacts
               ) -> tuple[str | None, tuple[OnCallUser, ...] | None]:
    """(why the condition fails or is unknown, or None; who was on call, None when unknown)."""
    answer = facts.get(where)
    if answer is None or answer.at != merged_at:
        return (f"{request.requester} must be on call in {where.describe()} at the merge "
                f"({isoformat(merged_at)}): asked by apply, which holds the PagerDuty token"), None
    if answer.error is not None:
        # Fail closed: a rule whose on-call cannot be read approves nobody.
        return (f"who was on call in {where.describe()} at {isoformat(merged_at)} could not "
                f"be read ({answer.error}): not approved by this rule"), ()
    person = people.get(request.requester.casefold())
    mine = person.accounts.get(PAGERDUTY_IDENTITY) if person is not None else None
    now_on = ", ".join(str(u) for u in answer.users) or "nobody"
    if not mine:
        return (f"{request.requester} has no {PAGERDUTY_IDENTITY} identity (their PagerDuty "
                "user ID) in policies/identities.yaml, so cannot be matched with who is on "
                f"call (on call: {now_on})"), answer.users
    if not any(u.id == mine for u in answer.users):
        return (f"{request.requester} ({mine}) is not on call in {where.describe()} at "
                f"{isoformat(merged_at)} (on call: {now_on})"), answer.users
    return None, answer.users


def judge_rules(entitlement: Entitlement, request: Request, merged_at: datetime,
                schedules: Mapping[str, Schedule], *, people: Mapping[str, Person] | None = None,
                pagerduty: OnCallFacts | None = None) -> list[RuleResult]:
    return [judge_rule(rule, request, merged_at, schedules, people=people, pagerduty=pagerduty)
            for rule in entitlement.auto_approve]


def pagerduty_sources(entitlement: Entitlement) -> list[PagerDutyOnCall]:
    """The PagerDuty on-call conditions of the entitlement's rules (what apply must ask)."""
    return list(dict.fromkeys(r.on_call_pagerduty for r in entitlement.auto_approve
                              if r.on_call_pagerduty is not None))


def approving_rule(entitlement: Entitlement, request: Request, merged_at: datetime,
                   schedules: Mapping[str, Schedule]) -> AutoApproveRule | None:
    """The first rule (in the policy's order) that approves the request, if any."""
    for result in judge_rules(entitlement, request, merged_at, schedules):
        if result.applies:
            return result.rule
    return None


def window_from(request: Request, merged_at: datetime) -> timedelta:
    begin = max(merged_at, request.starts_at) if request.starts_at else merged_at
    return request.expires_at - begin
