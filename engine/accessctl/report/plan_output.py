"""What `plan` prints: a summary by default, every row with --verbose, everything as JSON.

A plan over 10,000 requests used to print a 10,000-row request table and a table of every
desired grant; laying those out took most of the command's time and nobody reads them. The
default now counts requests by entitlement and state, says how many grants are wanted, and
lists the changes in full (those are what a reviewer acts on). `--verbose` prints every row as
before; `--format json` holds everything: {"requests", "grants", "changes", "summary"}.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from accessctl.core.console import escape
from accessctl.core.model import Change, Grant, isoformat
from accessctl.judge.evaluate import Evaluation, State
from accessctl.report.render import expiry_note

if TYPE_CHECKING:
    from accessctl.report.access_end import Ends

STATES = [s.value for s in State]


def summary(evaluation: Evaluation, changes: Sequence[Change] | None,
            unreachable: Mapping[str, str] | None = None,
            standing: Sequence[Grant] = ()) -> dict[str, Any]:
    """Counts: requests by state and by entitlement and state, grants wanted, changes by
    action (None offline: the platforms were not asked)."""
    by_state: Counter[str] = Counter()
    by_entitlement: dict[str, Counter[str]] = {}
    for judgement in evaluation.judgements.values():
        state = judgement.state.value
        by_state[state] += 1
        by_entitlement.setdefault(judgement.request.entitlement, Counter())[state] += 1
    for grant in evaluation.grants:
        by_entitlement.setdefault(grant.entitlement, Counter())["grants"] += 1
    return {
        "requests": len(evaluation.judgements),
        "by_state": {s: by_state[s] for s in STATES if by_state[s]},
        "by_entitlement": {name: dict(sorted(counts.items()))
                           for name, counts in sorted(by_entitlement.items())},
        "grants": len(evaluation.grants),
        "changes": None if changes is None else dict(sorted(
            Counter(c.action.value for c in changes).items())),
        "offline": changes is None,
        "unreachable": dict(sorted((unreachable or {}).items())),
        "standing": [{"person": g.person, "entitlement": g.entitlement,
                      "target": g.target.display} for g in standing],
    }


def as_json(evaluation: Evaluation, changes: Sequence[Change] | None,
            counts: Mapping[str, Any], ends: Ends | None = None,
            now: datetime | None = None) -> str:
    """`ends`: each grant and change also says when its access fully ends (`fully_ends_by`)
    and what outlives the revoke (`residual`)."""
    requests = [{
        "file": path, "requester": j.request.requester, "entitlement": j.request.entitlement,
        "state": j.state.value,
        "starts_at": isoformat(j.request.starts_at) if j.request.starts_at else None,
        "expires_at": isoformat(j.request.expires_at),
        "findings": [f.message for f in j.findings if f.severity.value == "error"],
    } for path, j in sorted(evaluation.judgements.items())]
    grants = [{
        "entitlement": g.entitlement, "person": g.person, "principal": g.principal,
        "target": g.target.display,
        "starts_at": isoformat(g.starts_at) if g.starts_at else None,
        "expires_at": isoformat(g.expires_at), "requests": list(g.requests),
        **(ends.of_grant(g) if ends is not None else {}),
    } for g in evaluation.grants]
    listed = [{
        "action": c.action.value, "target": c.target.display, "principal": c.principal,
        "entitlement": c.entitlement,
        "expires_at": isoformat(c.expires_at) if c.expires_at else None,
        "expiry": expiry_note(c) or None, "why": c.why, "requests": list(c.requests),
        **(ends.of_change(c, now) if ends is not None else {}),
    } for c in changes or ()]
    body = {"requests": requests, "grants": grants, "changes": listed, "summary": counts}
    return json.dumps(body) + "\n"


def print_summary(stream: TextIO, counts: Mapping[str, Any]) -> None:
    """Requests by state, then a line per entitlement with its counts (plain aligned text:
    hundreds of entitlements lay out in a millisecond)."""
    states = counts["by_state"]
    overall = ", ".join(f"{n} {s}" for s, n in states.items())
    stream.write(f"Requests: {counts['requests']}" + (f" ({overall})" if overall else "") + "\n")
    entitlements: dict[str, dict[str, int]] = counts["by_entitlement"]
    if entitlements:
        columns = [s for s in STATES if s in states] + ["grants"]
        width = max(len("entitlement"), *(len(escape(n)) for n in entitlements))
        stream.write(f"\nBy entitlement ({len(entitlements)})\n")
        stream.write("  " + "entitlement".ljust(width)
                     + "".join(f"  {c:>10}" for c in columns) + "\n")
        lines = []
        for name, row in entitlements.items():
            lines.append("  " + escape(name).ljust(width)
                         + "".join(f"  {row.get(c, 0):>10}" for c in columns))
        stream.write("\n".join(lines) + "\n")
    stream.write(f"\nDesired grants now: {counts['grants']} (every request and grant: "
                 "--verbose, or --format json)\n")
