"""The markdown job summary of an apply or revoke run (GitHub's $GITHUB_STEP_SUMMARY).

Pure: it takes what the run did and returns text; the caller decides where it goes. Every value
that came from a request file is escaped, because a request author controls it and the summary is
rendered as markdown (engine/accessctl/core/markdown.py) and the chart as mermaid on the run's page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from accessctl.change.lateness import lags, percentile
from accessctl.core import markdown
from accessctl.core.durations import format_duration
from accessctl.core.model import Action, Grant, Outcome, Status, isoformat, utc

# GitHub caps a step summary at 1 MiB; a run that touches more than this many rows says so
# instead of being cut off mid-table (the audit log artifact has every row).
MAX_ROWS = 200
MAX_BARS = 60

# Mermaid's gantt grammar ends a task name at ':' and a task's data at '#' or ';', treats a line
# starting with '#' or '%%' as a comment, and reads some leading words as keywords. Look-alike
# characters keep the name readable without breaking the chart.
_MERMAID_REPLACEMENTS = {":": "\u2236", "#": "\uff03", ";": "\uff1b", "%": "\uff05",
                         "\r": " ", "\n": " ", "\t": " "}
_MERMAID_KEYWORDS = ("title", "section", "dateformat", "axisformat", "tickinterval", "excludes",
                     "includes", "todaymarker", "weekday", "weekend", "click", "inclusiveenddates",
                     "topaxis", "accTitle", "accdescr")
_MERMAID_DATE = "%Y-%m-%d %H:%M:%S"


def render_summary(title: str, outcomes: Sequence[Outcome], denied: Sequence[tuple[str, str]],
                   grants: Sequence[Grant], now: datetime) -> str:
    """Heading, counts, a table of what changed or did not, and a chart of active grants."""
    lines = [f"## {markdown.text(title)}", "", _counts(outcomes, denied, now), ""]
    late = lags(outcomes, now)
    if late:
        lines += [f"Revocations ended access {format_duration(late[-1])} after expiry at "
                  f"worst, {format_duration(percentile(late, 0.95))} at the 95th percentile "
                  f"({len(late)} measured).", ""]
    rows = _rows(outcomes, denied)
    if rows:
        lines += ["| Status | Entitlement | Principal | Target | Detail |",
                  "| --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(markdown.text(cell) for cell in row) + " |"
                  for row in rows[:MAX_ROWS]]
        if len(rows) > MAX_ROWS:
            lines.append(f"\n_{len(rows) - MAX_ROWS} more rows are in the audit log._")
    else:
        lines.append("Nothing was granted, revoked, denied or failed.")
    lines.append("")
    lines += _gantt(grants, now)
    return "\n".join(lines) + "\n"


def _counts(outcomes: Sequence[Outcome], denied: Sequence[tuple[str, str]],
            now: datetime) -> str:
    def count(action: Action, status: Status) -> int:
        return sum(1 for o in outcomes if o.change.action is action and o.status is status)

    failed = sum(1 for o in outcomes if o.status is Status.FAILED)
    unchanged = sum(1 for o in outcomes if o.status is Status.UNCHANGED)
    skipped = sum(1 for o in outcomes if o.status is Status.SKIPPED)
    return (f"**{count(Action.GRANT, Status.DONE)} granted, "
            f"{count(Action.REVOKE, Status.DONE)} revoked, {len(denied)} denied, "
            f"{failed} failed**; {unchanged} unchanged, {skipped} skipped "
            f"(as of {isoformat(now)})")


# The order rows appear in: what needs attention first.
_ORDER = {"failed": 0, "denied": 1, "skipped": 2, "granted": 3, "revoked": 4}


def _rows(outcomes: Sequence[Outcome],
          denied: Sequence[tuple[str, str]]) -> list[tuple[str, str, str, str, str]]:
    rows: list[tuple[str, str, str, str, str]] = []
    for outcome in outcomes:
        status = _status(outcome)
        if status is None:
            continue
        change = outcome.change
        rows.append((status, change.entitlement, change.principal, change.target.display,
                     _detail(outcome)))
    for path, reason in denied:
        rows.append(("denied", _entitlement_of(path), "", "", f"{path}: {reason}"))
    return sorted(rows, key=lambda row: (_ORDER[row[0]], row[1], row[2], row[3]))


def _status(outcome: Outcome) -> str | None:
    if outcome.status is Status.DONE:
        return "granted" if outcome.change.action is Action.GRANT else "revoked"
    if outcome.status is Status.FAILED:
        return "failed"
    if outcome.status is Status.SKIPPED:
        return "skipped"
    return None  # unchanged: counted, not listed


def _detail(outcome: Outcome) -> str:
    change = outcome.change
    parts = [change.why] if change.why else []
    if change.action is Action.GRANT and change.expires_at is not None:
        until = f"until {isoformat(change.expires_at)}"
        parts.append(f"{until} (platform expiry)" if outcome.native_expiry_set else until)
    if outcome.detail:
        parts.append(outcome.detail)
    if outcome.sessions is not None:  # end_sessions: the step after the removal
        parts.append(outcome.sessions_detail if outcome.sessions is Status.DONE
                     else f"sessions NOT ended: {outcome.sessions_detail}")
    return "; ".join(parts)


def _entitlement_of(path: str) -> str:
    # Requests live at access-requests/<entitlement>/<name>.yaml.
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "access-requests" else ""


def escape_mermaid(text: str) -> str:
    """A gantt task or section name that cannot end the name, start a comment or a keyword."""
    cleaned = "".join(_MERMAID_REPLACEMENTS.get(c, c) for c in text).strip()
    if not cleaned:
        return "(unnamed)"
    first = cleaned.split(" ", 1)[0].casefold()
    if any(first.startswith(k.casefold()) for k in _MERMAID_KEYWORDS):
        cleaned = "\u200b" + cleaned  # a zero-width space: the line no longer starts with it
    return cleaned


def _gantt(grants: Sequence[Grant], now: datetime) -> list[str]:
    bars = []
    for grant in grants:
        start = utc(grant.starts_at) if grant.starts_at is not None else utc(now)
        start = max(start, utc(now))
        end = utc(grant.expires_at)
        if end > start:
            bars.append((grant.entitlement, end, grant.principal, start))
    if not bars:
        return ["No grants are active."]
    bars.sort()
    lines = ["### Active grants", "", "```mermaid", "gantt",
             f"    title Active grants (UTC, as of {isoformat(now)})",
             "    dateFormat YYYY-MM-DD HH:mm:ss", "    axisFormat %m-%d %H:%M"]
    section = None
    for number, (entitlement, end, principal, start) in enumerate(bars[:MAX_BARS], 1):
        if entitlement != section:
            section = entitlement
            lines.append(f"    section {escape_mermaid(entitlement)}")
        lines.append(f"    {escape_mermaid(principal)} :g{number}, "
                     f"{start.strftime(_MERMAID_DATE)}, {end.strftime(_MERMAID_DATE)}")
    lines.append("```")
    if len(bars) > MAX_BARS:
        lines.append(f"\n_{len(bars) - MAX_BARS} more active grants are not charted._")
    return lines
