"""Break-glass: grant on merge without prior approval, then code owners ratify or it ends. Pure.

A break-glass request is still a merged pull request by its eligible requester, judged by the
base commit's policies at the merge (invariants 1, 2, 5, 6). What it skips is the wait for an
approval: its window (from the merge) must fit the entitlement's short `break_glass.max_duration`,
and the code owners must approve the pull request, by the ordinary rules, within `review_within`
of the merge. An approval given after that deadline does not count, so access revoked for want
of ratification never comes back on a late review.
"""

from __future__ import annotations

from datetime import datetime

from accessctl.core.model import Entitlement, Request
from accessctl.core.timestamps import saturating_add
from accessctl.judge.auto_approve import window_from


def qualifies(entitlement: Entitlement, request: Request, merged_at: datetime) -> bool:
    """Whether the request may use the entitlement's break-glass path (window short enough)."""
    glass = entitlement.break_glass
    return glass is not None and window_from(request, merged_at) <= glass.max_duration


def deadline(entitlement: Entitlement, merged_at: datetime) -> datetime | None:
    """When the code owners' ratification is due (None: not a break-glass entitlement)."""
    glass = entitlement.break_glass
    return None if glass is None else saturating_add(merged_at, glass.review_within)


def earliest_deadline(entitlement: Entitlement, request: Request) -> datetime | None:
    """The earliest the deadline of a break-glass grant of `request` can be, from the file alone.

    A break-glass window fits max_duration from the merge, so the merge was no earlier than
    expires_at - max_duration. Before this instant no break-glass grant of the request can be
    overdue, and the scheduled sweep need not ask the VCS about it. Saturating: a time at the
    ends of the calendar is "long ago" or "never", not an OverflowError that stops the sweep.
    """
    glass = entitlement.break_glass
    if glass is None:
        return None
    return saturating_add(saturating_add(request.expires_at, -glass.max_duration),
                          glass.review_within)
