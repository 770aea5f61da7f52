"""What a pull request's edit of an existing request does to the access it backed. Pure.

Ending access early needs nobody's approval, so an edit that stops a file from backing its grant
is allowed; the pull request still says plainly what it does, so that nobody is surprised when
the next revoke run takes the access away (invariant 12: a grant no valid request backs ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from accessctl.core.model import Finding, Location, Request, Severity, isoformat

CODE = "ends-access"


def _ends(before: Request, why: str, at: Location) -> Finding:
    return Finding(
        at, CODE,
        f"this edit ends {before.requester}'s access to {before.entitlement} at the next "
        f"revoke run ({why}), unless another approved request backs it",
        Severity.NOTICE,
    )


def edit_effects(path: str, before: Request | None, after: Request | None,
                 after_findings: Sequence[Finding], now: datetime) -> list[Finding]:
    """Notices for one changed request file: `before` as the default branch holds it (None when
    it is new there or did not load), `after` as the pull request leaves it (None when deleted
    or unloadable), with the errors found in it."""
    if before is None or before.expires_at <= now:
        return []  # nothing was backed, or it has ended anyway
    if after is None:
        if any(f.location.path == path for f in after_findings):
            return [_ends(before, "the file no longer loads, so it backs nothing",
                          Location(path))]
        return [_ends(before, "the file is deleted", Location(path))]
    if (after.requester.casefold(), after.entitlement) != (before.requester.casefold(),
                                                           before.entitlement):
        return [_ends(before, f"the file now asks for {after.entitlement} for "
                      f"{after.requester}, which needs its own approval",
                      after.line_of("entitlement"))]
    if any(f.severity is Severity.ERROR and f.location.path == path for f in after_findings):
        return [_ends(before, "the file is no longer a valid request", after.location)]
    if after.expires_at < before.expires_at:
        return [Finding(
            after.line_of("expires_at"), CODE,
            f"this edit ends {after.requester}'s access to {after.entitlement} at "
            f"{isoformat(max(after.expires_at, now))} instead of {isoformat(before.expires_at)}",
            Severity.NOTICE,
        )]
    return []
