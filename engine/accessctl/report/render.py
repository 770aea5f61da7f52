"""Human-readable tables (rich is imported only when a table is printed).

Cells hold values from request files and platforms' answers: each is shown as plain text (no
rich markup or emoji codes), its control characters escaped, so it cannot break the table's
lines or start one of its own (engine/accessctl/core/console.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from accessctl.core.console import escape
from accessctl.core.model import Action, Change, Grant, Outcome, Policies, Status, isoformat
from accessctl.judge.access_end import ends_sessions
from accessctl.judge.evaluate import Evaluation


def _console(stream: TextIO) -> object:
    import shutil

    from rich.console import Console

    # The terminal's width on a terminal; piped or captured output is never folded, so that a
    # file name is never cut mid-name for a width nobody has.
    isatty = getattr(stream, "isatty", None)
    width = shutil.get_terminal_size().columns if isatty is not None and isatty() else 1000
    return Console(file=stream, width=width, soft_wrap=False, highlight=False,
                   force_terminal=False, no_color=True)


def _print_table(stream: TextIO, title: str, headers: Sequence[str],
                 rows: Sequence[Sequence[str]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(escape(title)), box=box.SIMPLE, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(Text(escape(cell)) for cell in row))
    _console(stream).print(table)  # type: ignore[attr-defined]


def print_requests(stream: TextIO, evaluation: Evaluation) -> None:
    rows = []
    for path, judgement in sorted(evaluation.judgements.items()):
        request = judgement.request
        rows.append([
            path, request.requester, request.entitlement, judgement.state.value,
            isoformat(request.starts_at) if request.starts_at else "on merge",
            isoformat(request.expires_at),
        ])
    _print_table(stream, "Requests", ["file", "requester", "entitlement", "state", "starts",
                                      "expires"], rows)


def print_controls(stream: TextIO, policies: Policies, evaluation: Evaluation) -> None:
    """Auto-approval and break-glass terms of the entitlements the requests name."""
    from accessctl.judge.controls import describe

    names = sorted({j.request.entitlement for j in evaluation.judgements.values()})
    lines = [f"  {name}: {line}" for name in names if name in policies.entitlements
             for line in describe(policies.entitlements[name])]
    if lines:
        stream.write("Approval controls\n" + "\n".join(escape(line) for line in lines) + "\n")


def print_grants(stream: TextIO, grants: Sequence[Grant]) -> None:
    rows = [[g.entitlement, g.person, g.principal, g.target.display, isoformat(g.expires_at)]
            for g in grants]
    _print_table(stream, f"Desired grants now ({len(grants)})",
                 ["entitlement", "person", "principal", "target", "until"], rows)


def expiry_note(change: Change) -> str:
    if change.action.value != "grant":
        return ""
    if change.native_expiry:
        return "native: the platform removes it at expiry"
    return "scheduled: the revoke job removes it"


def print_changes(stream: TextIO, changes: Sequence[Change], title: str,
                  policies: Policies | None = None) -> None:
    """The changes as a table; with `policies`, a revoke that will also end the person's
    sessions (`end_sessions`, change/sessions.py) says so, since it signs them out everywhere."""

    def why(change: Change) -> str:
        if policies is not None and change.action is Action.REVOKE \
                and ends_sessions(policies, change.target):
            return f"{change.why}; then ends their sessions (end_sessions)"
        return change.why

    rows = [[c.action.value, c.target.display, c.principal,
             isoformat(c.expires_at) if c.expires_at else "", expiry_note(c), why(c)]
            for c in changes]
    _print_table(stream, f"{title} ({len(changes)})",
                 ["action", "target", "principal", "until", "expiry", "why"], rows)


FULL_OUTCOME_TABLE = 50
"""Up to this many outcomes every row is printed; above it only the failed ones and counts (a
1,000-row table costs a second to lay out and nobody reads it: the audit log has every event)."""


def print_outcomes(stream: TextIO, outcomes: Sequence[Outcome]) -> None:
    shown = outcomes
    title = f"Outcomes ({len(outcomes)})"
    if len(outcomes) > FULL_OUTCOME_TABLE:
        counts = Counter(o.status.value for o in outcomes)
        shown = [o for o in outcomes if o.status is Status.FAILED]
        title += ": " + ", ".join(f"{counts[s.value]} {s.value}" for s in Status
                                  if counts[s.value])
        stream.write(f"{title}; only the failed rows are listed, the audit log has all\n")
        if not shown:
            return
        title = f"Failed ({len(shown)})"
    rows = [[o.change.action.value, o.change.target.display, o.change.principal,
             o.status.value, o.detail] for o in shown]
    _print_table(stream, title, ["action", "target", "principal", "outcome", "detail"], rows)
