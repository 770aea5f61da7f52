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
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine import break_glass
from engine.model import Policies, Request, isoformat
from engine.verify import Verifier


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


def candidates(policies: Policies, requests: Sequence[Request], now: datetime,
               every: timedelta) -> list[Request]:
    """Break-glass requests whose deadline may have passed and that still matter: unexpired, or
    whose deadline may have fallen within the last run interval."""
    found = []
    for request in requests:
        entitlement = policies.entitlements.get(request.entitlement)
        if entitlement is None or entitlement.break_glass is None:
            continue
        earliest = break_glass.earliest_deadline(entitlement, request)
        if earliest is None or earliest > now:
            continue
        latest = request.expires_at + entitlement.break_glass.review_within
        if request.expires_at > now or latest > now - every:
            found.append(request)
    return found


def sweep(policies: Policies, requests: Sequence[Request], now: datetime, every: timedelta,
          verifier: Callable[[], Verifier]) -> Sweep:
    """Judge the candidates' ratification at `now` through `verifier` (built on first need)."""
    result = Sweep([], [])
    pending = candidates(policies, requests, now, every)
    if not pending:
        return result
    try:
        checker = verifier()
    except Exception as error:  # no VCS configured, or it cannot be reached: fail safe
        return _unknown(pending, now, f"{type(error).__name__}: {error}")
    for request in pending:
        try:
            verdict = checker.verify(request, now)
        except Exception as error:
            result.withdrawn += _unknown([request], now, f"{type(error).__name__}: {error}"
                                         ).withdrawn
            continue
        if verdict.break_glass != "not-ratified":
            continue
        overdue = Overdue(request, "; ".join(verdict.reasons[:1]), verdict.deadline)
        if request.expires_at > now:
            result.withdrawn.append(overdue)
        if verdict.deadline is not None and now - every < verdict.deadline <= now:
            result.newly_overdue.append(overdue)
    return result


def _unknown(requests: Sequence[Request], now: datetime, error: str) -> Sweep:
    why = ("break-glass not ratified as far as can be told: the VCS could not be asked whether "
           f"the code owners approved ({error}); revoked to be safe, and granted again by the "
           "next apply if they did")
    return Sweep([Overdue(r, why, None) for r in requests if r.expires_at > now], [])


def describe(overdue: Overdue) -> str:
    due = f" (deadline {isoformat(overdue.deadline)})" if overdue.deadline else ""
    return f"{overdue.request.path}: {overdue.why}{due}"
