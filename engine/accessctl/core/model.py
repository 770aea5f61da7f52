"""The typed model every other module works on: frozen dataclasses, no I/O."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any


@dataclass(frozen=True, order=True)
class Location:
    """Where something was written: a repository-relative path and a 1-based line and column."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Finding:
    """One problem found in the repository, pinned to a file and line, with what to do about it."""

    location: Location
    code: str
    message: str
    severity: Severity = Severity.ERROR

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class Target:
    """Something access is granted on: a group, a role binding, a team, on one provider instance.

    `params` is kept as sorted pairs so that targets hash and compare by value.
    """

    instance: str
    platform: str
    kind: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def build(cls, instance: str, platform: str, kind: str, params: Mapping[str, Any]) -> Target:
        return cls(instance, platform, kind, tuple(sorted((k, str(v)) for k, v in params.items())))

    def param(self, name: str, default: str | None = None) -> str:
        for key, value in self.params:
            if key == name:
                return value
        if default is None:
            raise KeyError(f"target {self.display} has no parameter {name!r}")
        return default

    @property
    def display(self) -> str:
        inner = ",".join(f"{k}={v}" for k, v in self.params)
        return f"{self.instance}:{self.kind}({inner})"


@dataclass(frozen=True)
class ProviderInstance:
    name: str
    platform: str
    settings: Mapping[str, Any]
    location: Location = Location("policies/providers.yaml")
    max_concurrency: int | None = None
    """At most this many changes at once on this instance (None: the run's bound only)."""


@dataclass(frozen=True)
class BusinessHours:
    """Working hours in one time zone: `days` are ISO weekdays (1 Monday .. 7 Sunday)."""

    days: frozenset[int]
    start: time
    end: time
    timezone: str
    """An IANA zone name (zoneinfo), so daylight saving moves the hours with the clock."""


@dataclass(frozen=True)
class PagerDutyOnCall:
    """Where in PagerDuty the requester must be on call: any of these schedules or escalation
    policies (their IDs)."""

    schedule_ids: tuple[str, ...] = ()
    escalation_policy_ids: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.schedule_ids:
            parts.append("schedule " + ", ".join(self.schedule_ids))
        if self.escalation_policy_ids:
            parts.append("escalation policy " + ", ".join(self.escalation_policy_ids))
        return "PagerDuty " + " or ".join(parts)


@dataclass(frozen=True)
class AutoApproveRule:
    """One condition set under which the engine itself approves a request (all must hold)."""

    name: str
    max_duration: timedelta
    location: Location
    requester_on_call: str | None = None
    """The schedule (policies/schedules/<name>.yaml) the requester must be on call in."""
    business_hours: BusinessHours | None = None
    on_call_pagerduty: PagerDutyOnCall | None = None
    """requester_on_call: {pagerduty: ...}: on call in PagerDuty at the merge time (asked by
    apply, passed to the judge as facts)."""


@dataclass(frozen=True)
class BreakGlass:
    """Grant on merge without prior approval, for at most `max_duration`; code owners must
    approve (ratify) within `review_within` of the merge or the grant is revoked."""

    max_duration: timedelta
    review_within: timedelta


@dataclass(frozen=True)
class Shift:
    who: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Rotation:
    """People on call in turn, each for `length`, starting with the first at `start`."""

    members: tuple[str, ...]
    start: datetime
    length: timedelta


@dataclass(frozen=True)
class Schedule:
    """Who is on call when: explicit shifts and an optional rotation (either one counts)."""

    name: str
    location: Location
    shifts: tuple[Shift, ...] = ()
    rotation: Rotation | None = None


@dataclass(frozen=True)
class Entitlement:
    name: str
    description: str
    provider: str
    target_kind: str
    target_params: Mapping[str, Any]
    eligible: tuple[str, ...]
    approvers: tuple[str, ...]
    approvals: int
    max_duration: timedelta
    require_reason: bool
    require_ticket: bool
    ticket_pattern: str | None
    exclusive: bool
    native_expiry: bool
    location: Location
    extra: Mapping[str, Any] = field(default_factory=dict)
    approvers_all_of: tuple[tuple[str, ...], ...] = ()
    """Groups of approvers (logins, @org/teams) that must each give a distinct approver, e.g.
    security and the service's owners, on top of `approvals`."""
    conflicts_with: tuple[str, ...] = ()
    """Entitlements nobody may hold at the same time as this one (separation of duties); the
    relation is read both ways."""
    auto_approve: tuple[AutoApproveRule, ...] = ()
    break_glass: BreakGlass | None = None
    end_sessions: bool = False
    """A revoke also ends the person's sign-in sessions and tokens on the platform (Okta,
    Entra): it signs them out everywhere, not only of what this entitlement gave."""


@dataclass(frozen=True)
class Person:
    login: str
    accounts: Mapping[str, str]
    location: Location

    def account_for(self, instance: ProviderInstance) -> str | None:
        """The person's identity on a provider instance: by instance name first, then platform."""
        return self.accounts.get(instance.name) or self.accounts.get(instance.platform)


@dataclass(frozen=True)
class Request:
    path: str
    requester: str
    entitlement: str
    reason: str
    ticket: str | None
    starts_at: datetime | None
    expires_at: datetime
    location: Location
    lines: Mapping[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> Location:
        return Location(self.path, self.lines.get(key, self.location.line), 1)


@dataclass(frozen=True)
class Policies:
    entitlements: Mapping[str, Entitlement]
    people: Mapping[str, Person]
    teams: Mapping[str, frozenset[str]]
    providers: Mapping[str, ProviderInstance]
    admins: tuple[str, ...]
    """Owners of policies/, schemas/, engine/ and .github/ in CODEOWNERS."""
    max_active_grants: int | None = None
    """identities.yaml `limits.max_active_grants`: how many entitlements one person may hold at
    once (None: no limit)."""
    schedules: Mapping[str, Schedule] = field(default_factory=dict)
    """On-call schedules (policies/schedules/<name>.yaml) auto-approval rules refer to."""
    request_bots: tuple[str, ...] = ()
    """identities.yaml `request_bots`: bot logins that may open a request's pull request for
    the author of the access request issue its branch names (approval/on_behalf.py)."""


@dataclass(frozen=True)
class Grant:
    """One principal's access on one target, as the engine wants it now, and why."""

    target: Target
    principal: str
    person: str
    entitlement: str
    starts_at: datetime | None
    expires_at: datetime
    requests: tuple[str, ...]


class Action(enum.StrEnum):
    GRANT = "grant"
    REVOKE = "revoke"


@dataclass(frozen=True)
class Change:
    action: Action
    target: Target
    principal: str
    entitlement: str
    why: str
    person: str | None = None
    expires_at: datetime | None = None
    requests: tuple[str, ...] = ()
    native_expiry: bool = False
    principal_id: str | None = None
    """The platform's immutable id of the person (GitHub/GitLab user id, Okta user id, Entra
    object id, AD objectGUID, IAM UserId, Identity Center UserId), where the change acts on one
    the engine observed: a revoke removes that id, whatever name it goes by now."""
    restore: tuple[tuple[str, str], ...] = ()
    """Revokes only: the platform state the engine found before its grant raised an existing
    membership (e.g. (("access_level", "30"),)): put it back instead of removing the member."""

    @property
    def pair(self) -> tuple[Target, str]:
        return (self.target, self.principal)


class Status(enum.StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: Status
    detail: str = ""
    native_expiry_set: bool = False
    principal_id: str | None = None
    """The immutable id the platform gave for the principal the change acted on (a grant
    resolves it from the name at the moment it is made)."""
    previous: tuple[tuple[str, str], ...] = ()
    """Grants only: the state of a membership the person already held and the grant raised
    (kept in the ledger, so that the revoke restores it rather than removing the member)."""
    sessions: Status | None = None
    """Revokes on an entitlement with `end_sessions`: whether the person's sessions were
    ended after the removal (None: not asked). A failure here leaves the removal done."""
    sessions_detail: str = ""


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; naive ones are a programming error here."""
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the model")
    from datetime import UTC

    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


ZERO = timedelta(0)


def principal_key(principal: str) -> str:
    """Principals compare case-insensitively: every supported platform treats names that way."""
    return principal.casefold()
