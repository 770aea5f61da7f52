"""Which break-glass requests the scheduled sweep must stop honouring: their code owners did not
ratify them in time.

The sweep otherwise never asks the VCS anything (it only ends what expired). Break-glass is the
exception: a grant made without prior approval stands only until its review deadline unless the
code owners approve. So for break-glass requests alone, and only those whose deadline may have
passed (see `break_glass.earliest_deadline`), the sweep reads the merged pull request and judges
it. When the VCS cannot answer, it fails safe: the grant is taken back, and the reason says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from accessctl.approval.verify import Verifier
from accessctl.core.model import Finding, Policies, Request, isoformat
from accessctl.core.timestamps import saturating_add
from accessctl.judge import break_glass
from accessctl.judge.isolation import internal_error


@dataclass(frozen=True)
class Overdue:
    request: Request
    why: str
    deadline: datetime | None
    """None when the deadline could not be read (the VCS was unreachable)."""


@dataclass
class Sweep:
    withdrawn: list[Overdue]
    """Unexpired break-glass requests that back nothing any more."""
    newly_overdue: list[Overdue]
    """Requests whose deadline passed since the previous run: announced once."""
    findings: list[Finding] = field(default_factory=list)
    """Requests that could not be judged (invariant 13): withdrawn too, to be safe."""


def candidates(policies: Policies, requests: Sequence[Request], now: datetime,
               every: timedelta) -> list[Request]:
    """Break-glass requests whose deadline may have passed and that still matter: unexpired, or
    whose deadline may have fallen within the last run interval."""
    return [r for r in requests if _may_be_due(policies, r, now, every)]


def _may_be_due(policies: Policies, request: Request, now: datetime, every: timedelta) -> bool:
    entitlement = policies.entitlements.get(request.entitlement)
    if entitlement is None or entitlement.break_glass is None:
        return False
    earliest = break_glass.earliest_deadline(entitlement, request)
    if earliest is None or earliest > now:
        return False
    latest = saturating_add(request.expires_at, entitlement.break_glass.review_within)
    return request.expires_at > now or latest > saturating_add(now, -every)


def sweep(policies: Policies, requests: Sequence[Request], now: datetime, every: timedelta,
          verifier: Callable[[], Verifier]) -> Sweep:
    """Judge the candidates' ratification at `now` through `verifier` (built on first need).

    A request that cannot be judged at all is a finding and is withdrawn, like one whose
    ratification the VCS cannot tell (fail safe); the others are judged as usual.
    """
    result = Sweep([], [])
    checker: Verifier | None = None
    unreachable: str | None = None
    for request in requests:
        try:
            if not _may_be_due(policies, request, now, every):
                continue
            if checker is None and unreachable is None:
                try:
                    checker = verifier()
                except Exception as error:  # no VCS configured, or unreachable: fail safe
                    unreachable = f"{type(error).__name__}: {error}"
            if checker is None:
                result.withdrawn += _unknown([request], now, unreachable or "").withdrawn
                continue
            _judge(checker, request, now, every, result)
        except Exception as error:  # one request never stops the run
            result.findings.append(internal_error(
                request, "checking whether its break-glass grant was ratified", error))
            result.withdrawn.append(Overdue(request, "break-glass ratification could not be "
                                            "judged; revoked to be safe", None))
    return result


def _judge(checker: Verifier, request: Request, now: datetime, every: timedelta,
           result: Sweep) -> None:
    try:
        verdict = checker.verify(request, now)
    except Exception as error:  # the VCS could not answer for this one: fail safe
        result.withdrawn += _unknown([request], now, f"{type(error).__name__}: {error}"
                                     ).withdrawn
        return
    if verdict.break_glass != "not-ratified":
        return
    overdue = Overdue(request, "; ".join(verdict.reasons[:1]), verdict.deadline)
    if request.expires_at > now:
        result.withdrawn.append(overdue)
    if verdict.deadline is not None \
            and saturating_add(now, -every) < verdict.deadline <= now:
        result.newly_overdue.append(overdue)


def _unknown(requests: Sequence[Request], now: datetime, error: str) -> Sweep:
    why = ("break-glass not ratified as far as can be told: the VCS could not be asked whether "
           f"the code owners approved ({error}); revoked to be safe, and granted again by the "
           "next apply if they did")
    return Sweep([Overdue(r, why, None) for r in requests if r.expires_at > now], [])


def describe(overdue: Overdue) -> str:
    due = f" (deadline {isoformat(overdue.deadline)})" if overdue.deadline else ""
    return f"{overdue.request.path}: {overdue.why}{due}"
