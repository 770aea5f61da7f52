"""How late access ended: each revocation's lag behind the expiry written in its file. Pure.

The scheduled sweep is the only thing that ends access on platforms without native expiry, and
GitHub delays and sometimes drops scheduled runs. So every revoke records when the access was
due to end and how long after that it really ended; the run's worst and 95th-percentile lag are
shown, and `revoke --max-lag` turns a late run red even when every change succeeded.

"Due" is the latest `expires_at` among the request files that still name the pair (capped at
now: a request edited to end early is due now). A pair that no current file names (deleted,
moved, broken: found in git history) has no written expiry to measure against: no lag is
recorded for it rather than a made-up one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from accessctl.core.model import Action, Change, Outcome, Request, Status, Target, principal_key

Pair = tuple[Target, str]


def due_times(named: Mapping[Pair, Sequence[str]], current: Iterable[Request],
              now: datetime) -> dict[Pair, datetime]:
    """(target, principal key) -> when its access was due to end, from the current files."""
    expiry = {r.path: r.expires_at for r in current}
    due: dict[Pair, datetime] = {}
    for (target, key), paths in named.items():
        times = [expiry[p] for p in paths if p in expiry]
        if times:
            due[(target, principal_key(key))] = min(max(times), now)
    return due


def with_due(changes: Sequence[Change], due: Mapping[Pair, datetime]) -> list[Change]:
    """Revoke changes carry their due time in `expires_at` (grants carry their expiry there)."""
    return [replace(c, expires_at=due.get((c.target, principal_key(c.principal))))
            if c.action is Action.REVOKE else c for c in changes]


def lag(change: Change, ended_at: datetime) -> timedelta | None:
    if change.action is not Action.REVOKE or change.expires_at is None:
        return None
    return max(ended_at - change.expires_at, timedelta(0))


def lags(outcomes: Iterable[Outcome], ended_at: datetime) -> list[timedelta]:
    """The lag of every revocation that took effect in this run."""
    found = []
    for outcome in outcomes:
        if outcome.status is Status.DONE and (late := lag(outcome.change, ended_at)) is not None:
            found.append(late)
    return sorted(found)


def percentile(values: Sequence[timedelta], fraction: float) -> timedelta:
    """Nearest-rank percentile of sorted `values` (which must not be empty)."""
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def too_late(values: Sequence[timedelta], limit: timedelta | None) -> list[timedelta]:
    return [] if limit is None else [v for v in values if v > limit]
