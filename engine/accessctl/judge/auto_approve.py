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
    Request,
    Schedule,
    isoformat,
)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class RuleResult:
    rule: AutoApproveRule
    failed: tuple[str, ...]
    """Why the rule does not apply, one sentence per condition (empty: it applies)."""

    @property
    def applies(self) -> bool:
        return not self.failed


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
               schedules: Mapping[str, Schedule]) -> RuleResult:
    """Every condition of `rule` for `request` merged at `merged_at`."""
    failed: list[str] = []
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
    if rule.business_hours is not None:
        try:
            inside = inside_hours(rule.business_hours, merged_at)
        except ZoneInfoNotFoundError:
            inside = False
        if not inside:
            failed.append(f"{isoformat(merged_at)} is outside business hours "
                          f"({describe_hours(rule.business_hours)})")
    return RuleResult(rule, tuple(failed))


def judge_rules(entitlement: Entitlement, request: Request, merged_at: datetime,
                schedules: Mapping[str, Schedule]) -> list[RuleResult]:
    return [judge_rule(rule, request, merged_at, schedules) for rule in entitlement.auto_approve]


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
