"""Judge requests against policies at a given time. Pure: no I/O, no clock, no SDK.

Everything that varies is passed in: `now`, how teams resolve, and (once verified) which requests
are approved. The result is findings per request, each request's state, and the grants the
engine wants to exist now.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from engine.durations import format_duration
from engine.model import (
    Entitlement,
    Finding,
    Grant,
    Location,
    Policies,
    Request,
    Severity,
    Target,
)
from engine.providers.base import principal_key

TeamLookup = Callable[[str], frozenset[str] | None]
"""'@org/team' -> casefolded member logins, or None when the team is unknown."""


class State(enum.StrEnum):
    INVALID = "invalid"
    PENDING = "pending"
    """Valid, starts later."""
    ACTIVE = "active"
    EXPIRED = "expired"
    UNAPPROVED = "unapproved"


@dataclass(frozen=True)
class Judgement:
    request: Request
    state: State
    findings: tuple[Finding, ...]
    target: Target | None
    principal: str | None


@dataclass
class Evaluation:
    judgements: dict[str, Judgement] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    managed: set[tuple[Target, str]] = field(default_factory=set)
    """Every (target, principal key) some request names, in any state: the engine's own."""
    unexpired: set[tuple[Target, str]] = field(default_factory=set)
    """Pairs some not-yet-expired request names, valid or not. The revoke sweep keeps these:
    it ends access that expired, and leaves judging approval and policy to apply."""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]


def target_of(entitlement: Entitlement, policies: Policies) -> Target | None:
    instance = policies.providers.get(entitlement.provider)
    if instance is None:
        return None
    return Target.build(
        instance.name, instance.platform, entitlement.target_kind, entitlement.target_params
    )


def is_member(login: str, names: Iterable[str], teams: TeamLookup) -> bool | None:
    """Whether `login` is one of `names` (logins or @org/team). None: a team could not be read."""
    folded = login.casefold()
    unknown = False
    for name in names:
        if not name.startswith("@"):
            if name.casefold() == folded:
                return True
            continue
        members = teams(name)
        if members is None:
            unknown = True
        elif folded in members:
            return True
    return None if unknown else False


def static_teams(policies: Policies) -> TeamLookup:
    """Team look-up from identities.yaml alone."""
    return lambda name: policies.teams.get(name.casefold())


def _window_findings(
    request: Request, entitlement: Entitlement, now: datetime, fresh: bool
) -> list[Finding]:
    found = []
    start = request.starts_at
    if start is not None and start >= request.expires_at:
        found.append(Finding(
            request.line_of("expires_at"), "window-order",
            "expires_at must be after starts_at",
        ))
        return found
    if fresh and request.expires_at <= now:
        found.append(Finding(
            request.line_of("expires_at"), "already-expired",
            f"expires_at {request.expires_at:%Y-%m-%dT%H:%M:%SZ} is in the past: choose a time "
            "after now",
        ))
    begin = max(now, start) if start is not None else now
    window = request.expires_at - begin
    if window > entitlement.max_duration:
        found.append(Finding(
            request.line_of("expires_at"), "window-too-long",
            f"the window is {format_duration(window)} but {entitlement.name} allows at most "
            f"{format_duration(entitlement.max_duration)}: move expires_at earlier",
        ))
    return found


def _content_findings(
    request: Request, entitlement: Entitlement, policies: Policies, teams: TeamLookup
) -> list[Finding]:
    found = []
    person = policies.people.get(request.requester.casefold())
    if person is None:
        found.append(Finding(
            request.line_of("requester"), "unknown-requester",
            f"{request.requester!r} is not in policies/identities.yaml: ask an admin to add you",
        ))
    else:
        eligible = is_member(request.requester, entitlement.eligible, teams)
        if eligible is False:
            found.append(Finding(
                request.line_of("requester"), "not-eligible",
                f"{request.requester} is not eligible for {entitlement.name} "
                f"(eligible: {', '.join(entitlement.eligible)})",
            ))
        elif eligible is None:
            found.append(Finding(
                request.line_of("requester"), "eligibility-unknown",
                f"could not read team membership for {', '.join(entitlement.eligible)}",
            ))
        instance = policies.providers.get(entitlement.provider)
        if instance is not None and person.account_for(instance) is None:
            found.append(Finding(
                request.line_of("requester"), "no-identity",
                f"{request.requester} has no {instance.platform} identity in "
                f"policies/identities.yaml (add '{instance.platform}: <account>' under them)",
            ))
    if entitlement.require_reason and not request.reason:
        found.append(Finding(request.line_of("reason"), "reason-required",
                             f"{entitlement.name} requires a reason: say why you need it"))
    if entitlement.require_ticket and not request.ticket:
        found.append(Finding(request.line_of("ticket"), "ticket-required",
                             f"{entitlement.name} requires a ticket"))
    if request.ticket and entitlement.ticket_pattern and not re.fullmatch(
        entitlement.ticket_pattern, request.ticket
    ):
        found.append(Finding(
            request.line_of("ticket"), "ticket-pattern",
            f"ticket {request.ticket!r} does not match {entitlement.ticket_pattern}",
        ))
    return found


def _path_findings(request: Request) -> list[Finding]:
    found = []
    pure = PurePosixPath(request.path)
    if pure.parent.name != request.entitlement:
        found.append(Finding(
            request.line_of("entitlement"), "wrong-directory",
            f"entitlement {request.entitlement!r} must equal the directory name "
            f"{pure.parent.name!r}: move the file to access-requests/{request.entitlement}/",
        ))
    if not pure.stem.casefold().startswith(request.requester.casefold() + "-"):
        found.append(Finding(
            request.line_of("requester"), "file-name",
            f"the file name must start with the requester: {request.requester}-<slug>.yaml",
        ))
    return found


def evaluate(
    policies: Policies,
    requests: Iterable[Request],
    now: datetime,
    *,
    teams: TeamLookup | None = None,
    fresh: Iterable[str] = (),
    approved: Mapping[str, bool] | None = None,
    ended: Iterable[Request] = (),
) -> Evaluation:
    """Judge every request at `now`.

    `fresh` names the files being proposed (a pull request's changes): for them the expiry must
    still lie ahead. `approved` maps request paths to their verified approval; when it is None
    approval is not part of the judgement (validate, offline plan). `ended` holds requests whose
    files were deleted: they back nothing, but the pairs they name stay the engine's to revoke.
    """
    lookup = teams or static_teams(policies)
    fresh_paths = set(fresh)
    result = Evaluation()
    seen: dict[tuple[str, str, datetime | None, datetime], str] = {}
    wanted: dict[tuple[Target, str], list[tuple[Request, str]]] = {}
    for request in sorted(requests, key=lambda r: r.path):
        found = _path_findings(request)
        entitlement = policies.entitlements.get(request.entitlement)
        target = None
        principal = None
        if entitlement is None:
            found.append(Finding(
                request.line_of("entitlement"), "unknown-entitlement",
                f"there is no entitlement {request.entitlement!r} in policies/entitlements/",
            ))
        else:
            found += _content_findings(request, entitlement, policies, lookup)
            found += _window_findings(request, entitlement, now, request.path in fresh_paths)
            target = target_of(entitlement, policies)
            person = policies.people.get(request.requester.casefold())
            instance = policies.providers.get(entitlement.provider)
            if person is not None and instance is not None:
                principal = person.account_for(instance)
        key = (request.requester.casefold(), request.entitlement, request.starts_at,
               request.expires_at)
        if key in seen:
            found.append(Finding(
                request.location, "duplicate-request",
                f"the same request as {seen[key]}: delete one of them",
            ))
        else:
            seen[key] = request.path
        state = _state(request, now, found, approved)
        judgement = Judgement(request, state, tuple(found), target, principal)
        result.judgements[request.path] = judgement
        result.findings.extend(found)
        if target is None or principal is None:
            continue
        # Any request names a pair the engine may have granted, whatever its state now.
        result.managed.add((target, principal_key(principal)))
        if request.expires_at > now:
            result.unexpired.add((target, principal_key(principal)))
        if state is State.ACTIVE:
            wanted.setdefault((target, principal), []).append((request, request.requester))
    for request in ended:
        entitlement = policies.entitlements.get(request.entitlement)
        person = policies.people.get(request.requester.casefold())
        if entitlement is None or person is None:
            continue
        instance = policies.providers.get(entitlement.provider)
        target = target_of(entitlement, policies)
        account = person.account_for(instance) if instance else None
        if target is not None and account is not None:
            result.managed.add((target, principal_key(account)))
    for (target, principal), backing in sorted(wanted.items(), key=lambda kv: kv[0][0].display +
                                               kv[0][1]):
        # Overlapping requests never cut each other short: the grant lasts until the last ends.
        starts = [r.starts_at for r, _ in backing]
        result.grants.append(Grant(
            target=target,
            principal=principal,
            person=backing[0][1],
            entitlement=backing[0][0].entitlement,
            starts_at=None if any(s is None for s in starts) else min(s for s in starts if s),
            expires_at=max(r.expires_at for r, _ in backing),
            requests=tuple(r.path for r, _ in backing),
        ))
    return result


def _state(
    request: Request, now: datetime, found: list[Finding], approved: Mapping[str, bool] | None
) -> State:
    if any(f.severity is Severity.ERROR for f in found):
        return State.INVALID
    if request.expires_at <= now:
        return State.EXPIRED
    if approved is not None and not approved.get(request.path, False):
        return State.UNAPPROVED
    if request.starts_at is not None and request.starts_at > now:
        return State.PENDING
    return State.ACTIVE


def location_of(judgement: Judgement) -> Location:
    return judgement.request.location
