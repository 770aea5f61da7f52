"""Judge requests against policies at a given time. Pure: no I/O, no clock, no SDK.

Everything that varies is passed in: `now`, how teams resolve, and (once verified) which requests
are approved. The result is findings per request, each request's state, and the grants the
engine wants to exist now.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accessctl.core.durations import format_duration
from accessctl.core.model import (
    Entitlement,
    Finding,
    Grant,
    Location,
    Policies,
    Request,
    Severity,
    Target,
    principal_key,
)
from accessctl.judge.isolation import internal_error, is_internal
from accessctl.judge.request_path import path_findings

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
    managed: dict[tuple[Target, str], list[str]] = field(default_factory=dict)
    """Every (target, principal key) some request names, in any state (the engine's own), and
    the paths of those requests (a revoke's audit line names them)."""
    unexpired: set[tuple[Target, str]] = field(default_factory=set)
    """Pairs some not-yet-expired request names that may back them: valid, or invalid only for
    reasons that need the VCS to settle. The revoke sweep keeps these: it ends access that
    expired or that no request can back, and leaves judging approval to apply."""

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
            f"the window is {format_duration(window, to_minute=True)} but {entitlement.name} "
            "allows at most "
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


def evaluate(
    policies: Policies,
    requests: Iterable[Request],
    now: datetime,
    *,
    teams: TeamLookup | None = None,
    fresh: Iterable[str] = (),
    approved: Mapping[str, bool] | None = None,
    ended: Iterable[Request] = (),
    failed: Mapping[str, Finding] | None = None,
) -> Evaluation:
    """Judge every request at `now`.

    `fresh` names the files being proposed (a pull request's changes): for them the expiry must
    still lie ahead. `approved` maps request paths to their verified approval; when it is None
    approval is not part of the judgement (validate, offline plan). `ended` holds requests whose
    files were deleted: they back nothing, but the pairs they name stay the engine's to revoke.
    Rules about what one person holds at once (conflicts_with, limits.max_active_grants) look at
    all `requests` together: pass every request on the branch, not only the one being judged.
    An error while judging one request is an internal-error finding against it (invariant 13):
    it is INVALID and backs nothing, its pair stays managed. `failed` holds such findings from
    outside (its approval could not be verified).
    """
    lookup = teams or static_teams(policies)
    fresh_paths = set(fresh)
    result = Evaluation()
    wanted: dict[tuple[Target, str], list[tuple[Request, str]]] = {}
    ordered = sorted(requests, key=lambda r: r.path)
    own = _own_findings(policies, ordered, now, lookup, fresh_paths)
    holding = _holding_findings(policies, ordered, own, now, fresh_paths, approved)
    targets: dict[str, Target | None] = {}  # one Target per entitlement, not one per request
    for request in ordered:
        found = own[request.path] + holding.get(request.path, [])
        if failed and request.path in failed:
            found.append(failed[request.path])
        try:
            target, principal = _pair(request, policies, targets)
        except Exception as error:  # it names no pair that can be told: it backs nothing
            target = principal = None
            found.append(internal_error(request, "finding what it grants", error))
        try:
            state = _state(request, now, found, approved)
            ahead = request.expires_at > now
        except Exception as error:  # one request never stops the run: it backs nothing
            if not any(is_internal(f) for f in found):
                found.append(internal_error(request, "judging it", error))
            state, ahead = State.INVALID, False
        judgement = Judgement(request, state, tuple(found), target, principal)
        result.judgements[request.path] = judgement
        result.findings.extend(found)
        if target is None or principal is None:
            continue
        # Any request names a pair the engine may have granted, whatever its state now.
        result.managed.setdefault((target, principal_key(principal)), []).append(request.path)
        if ahead and _may_back(state, found):
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
            result.managed.setdefault((target, principal_key(account)), []).append(request.path)
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


def _pair(request: Request, policies: Policies,
          targets: dict[str, Target | None]) -> tuple[Target | None, str | None]:
    """The target and principal a request names (None where it names none), one Target per
    entitlement in `targets`."""
    entitlement = policies.entitlements.get(request.entitlement)
    if entitlement is None:
        return None, None
    if entitlement.name not in targets:
        targets[entitlement.name] = target_of(entitlement, policies)
    person = policies.people.get(request.requester.casefold())
    instance = policies.providers.get(entitlement.provider)
    if person is None or instance is None:
        return targets[entitlement.name], None
    return targets[entitlement.name], person.account_for(instance)


def _own_findings(
    policies: Policies, ordered: list[Request], now: datetime, lookup: TeamLookup,
    fresh: set[str],
) -> dict[str, list[Finding]]:
    """What each request gets wrong on its own (and duplicates), before looking at the others."""
    own: dict[str, list[Finding]] = {}
    seen: dict[tuple[str, str, datetime | None, datetime], str] = {}
    for request in ordered:
        try:
            found = path_findings(request, policies.entitlements)
            entitlement = policies.entitlements.get(request.entitlement)
            if entitlement is None:
                close = difflib.get_close_matches(request.entitlement, policies.entitlements,
                                                  n=1)
                found.append(Finding(
                    request.line_of("entitlement"), "unknown-entitlement",
                    f"there is no entitlement {request.entitlement!r} in policies/entitlements/"
                    + (f": did you mean {close[0]!r}?" if close else ""),
                ))
            else:
                found += _content_findings(request, entitlement, policies, lookup)
                found += _window_findings(request, entitlement, now, request.path in fresh)
            key = (request.requester.casefold(), request.entitlement, request.starts_at,
                   request.expires_at)
            if key in seen:
                found.append(Finding(
                    request.location, "duplicate-request",
                    f"the same request as {seen[key]}: delete one of them",
                ))
            else:
                seen[key] = request.path
        except Exception as error:  # one request never stops the run
            found = [internal_error(request, "judging it", error)]
        own[request.path] = found
    return own


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def conflicting(policies: Policies, name: str) -> frozenset[str]:
    """The entitlements that may not be held together with `name`: conflicts_with, both ways."""
    entitlement = policies.entitlements.get(name)
    mine = set(entitlement.conflicts_with) if entitlement else set()
    theirs = {e.name for e in policies.entitlements.values() if name in e.conflicts_with}
    return frozenset((mine | theirs) - {name})


def _span(request: Request, now: datetime) -> tuple[datetime, datetime]:
    """The part of a request's window still ahead: holding both at once is judged from now on."""
    start = request.starts_at if request.starts_at is not None else now
    return max(start, now), request.expires_at


def _overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def peak_holding(spans: list[tuple[str, tuple[datetime, datetime]]],
                 within: tuple[datetime, datetime]) -> tuple[int, list[str]]:
    """The most distinct entitlements held at one instant inside `within`, and which ones.

    Overlapping requests for the same entitlement are one grant, so they count once.
    """
    best: tuple[int, list[str]] = (0, [])
    # The count only rises where some window starts: checking those instants is enough.
    instants = {within[0]} | {s for _, (s, _e) in spans if within[0] <= s < within[1]}
    for instant in sorted(instants):
        names = sorted({name for name, (s, e) in spans if s <= instant < e})
        if len(names) > best[0]:
            best = (len(names), names)
    return best


def _holding_findings(
    policies: Policies,
    ordered: list[Request],
    own: Mapping[str, list[Finding]],
    now: datetime,
    fresh: set[str],
    approved: Mapping[str, bool] | None,
) -> dict[str, list[Finding]]:
    """Separation of duties and the per-person limit: rules about what a person holds at once.

    Requests are taken in the order they arrived, as far as the files tell: those already on the
    branch before those proposed (`fresh`), then by start. The later one is refused, so that a
    new request never takes away access granted before it. When two cannot be told apart, both
    are refused: fail closed. Only valid, unexpired requests (approved, when approval is judged)
    count as held.
    """
    # Errors first: a request that could not be judged on its own is not compared with others.
    live = [r for r in ordered
            if not any(f.severity is Severity.ERROR for f in own[r.path])
            and r.expires_at > now and r.entitlement in policies.entitlements]
    limit = policies.max_active_grants
    held: dict[str, list[Request]] = {}
    result: dict[str, list[Finding]] = {}

    def arrival(request: Request) -> tuple[bool, datetime]:
        return (request.path in fresh, request.starts_at or _EARLIEST)

    batches: dict[tuple[bool, datetime], list[Request]] = {}
    for request in live:
        batches.setdefault(arrival(request), []).append(request)
    # Per entitlement once, not per request: `conflicting` reads every entitlement.
    forbidden: dict[str, frozenset[str]] = {}
    for key in sorted(batches):
        batch = batches[key]
        # One pass per batch, not one per request: a batch (say, every request without a start)
        # can hold thousands.
        in_batch: dict[str, list[Request]] = {}
        for request in batch:
            in_batch.setdefault(request.requester.casefold(), []).append(request)
        accepted = []
        for request in batch:
            person = request.requester.casefold()
            others = held.get(person, []) + [r for r in in_batch[person] if r is not request]
            try:
                if request.entitlement not in forbidden:
                    forbidden[request.entitlement] = conflicting(policies, request.entitlement)
                found = _conflict_findings(request, others, now, forbidden[request.entitlement])
                if not found and limit is not None:
                    found = _limit_findings(request, others, now, limit)
            except Exception as error:  # one request never stops the run
                found = [internal_error(request, "comparing it with the requester's others",
                                        error)]
            if found:
                result[request.path] = found
            elif approved is None or approved.get(request.path, False):
                accepted.append(request)
        for request in accepted:
            held.setdefault(request.requester.casefold(), []).append(request)
    return result


def _conflict_findings(
    request: Request, others: list[Request], now: datetime, forbidden: frozenset[str]
) -> list[Finding]:
    if not forbidden:
        return []
    mine = _span(request, now)
    for other in others:
        if other.entitlement in forbidden and _overlaps(mine, _span(other, now)):
            return [Finding(
                request.line_of("entitlement"), "conflicting-access",
                f"{request.requester} would hold {request.entitlement} and {other.entitlement} "
                f"at the same time ({other.path} runs until "
                f"{other.expires_at:%Y-%m-%dT%H:%M:%SZ}); separation of duties forbids it: "
                f"end that request first or start this one after it",
            )]
    return []


def _limit_findings(
    request: Request, others: list[Request], now: datetime, limit: int
) -> list[Finding]:
    mine = _span(request, now)
    spans = [(r.entitlement, _span(r, now)) for r in [*others, request]]
    count, names = peak_holding(spans, mine)
    if count <= limit:
        return []
    return [Finding(
        request.line_of("expires_at"), "too-many-grants",
        f"{request.requester} would hold {count} entitlements at once ({', '.join(names)}) but "
        f"policies/identities.yaml allows {limit} (limits.max_active_grants): end one of them "
        "first or choose a window after one ends",
    )]


UNCERTAIN_WITHOUT_APPROVALS = frozenset({"eligibility-unknown", "conflicting-access",
                                        "too-many-grants"})
"""Findings the revoke sweep cannot settle alone: they depend on team look-ups or on which
other requests were approved, which only apply asks the VCS about."""


def _may_back(state: State, found: list[Finding]) -> bool:
    """Whether the sweep must keep what this unexpired request names. A request that is invalid
    for certain (does not load as written, wrong directory, window too long, unknown person...)
    backs nothing, so an edit that breaks a granted request ends the grant at the next sweep,
    not only at the next apply (invariant 12)."""
    if state is not State.INVALID:
        return True
    return all(f.code in UNCERTAIN_WITHOUT_APPROVALS
               for f in found if f.severity is Severity.ERROR)


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
