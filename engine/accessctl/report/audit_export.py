"""The auditor's export of the audit sink: every line, and whether the record is complete. Pure.

Complete means every change the engine announced (`started`, written before each platform write)
has an outcome line after it, and every line can be read. What is not complete is named: the
run, the time, the change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accessctl.change.journal import unfinished
from accessctl.core import markdown
from accessctl.core.timestamps import parse_timestamp
from accessctl.report.report import _defuse

COLUMNS = ("run", "time", "action", "outcome", "request", "entitlement", "principal", "provider",
           "target", "commit", "approved_by_rule", "error", "detail")


@dataclass(frozen=True)
class SinkLine:
    run: str
    key: str
    number: int
    """1-based line number within the object `key`."""
    text: str


@dataclass(frozen=True)
class Export:
    events: list[dict[str, Any]]
    """Each line as written, with the run it came from under "run"."""
    unfinished: list[dict[str, Any]]
    """`started` lines with no outcome after them."""
    unreadable: list[str]
    """Where a line is not an audit event (key and line number), and why."""

    @property
    def complete(self) -> bool:
        return not self.unfinished and not self.unreadable

    def problems(self) -> list[str]:
        lines = list(self.unreadable)
        for line in self.unfinished:
            lines.append(
                f"run {line.get('run')}: {line.get('action')} {line.get('principal')} on "
                f"{line.get('target')} ({line.get('provider')}) started "
                f"{line.get('time')} has no outcome")
        return lines


def build(lines: Iterable[SinkLine], since: datetime | None = None) -> Export:
    """The export of `lines` (in the sink's key order). `since` trims the listed events, never
    the completeness check, which always covers everything read."""
    events: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for line in lines:
        try:
            event = json.loads(line.text)
        except ValueError as error:
            unreadable.append(f"{line.key} line {line.number}: not an audit line ({error})")
            continue
        if not isinstance(event, dict) or not isinstance(event.get("action"), str) \
                or not isinstance(event.get("outcome"), str):
            unreadable.append(f"{line.key} line {line.number}: not an audit line (no "
                              "action and outcome)")
            continue
        events.append({"run": line.run, **{k: v for k, v in event.items() if k != "run"}})
    open_lines = [item.line for item in unfinished(json.dumps(e) for e in events)]
    listed = [e for e in events if since is None or _after(e.get("time"), since)]
    return Export(listed, open_lines, unreadable)


def _after(value: object, since: datetime) -> bool:
    try:
        return isinstance(value, str) and parse_timestamp(value) >= since
    except ValueError:
        return True


def render(export: Export, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"complete": export.complete, "events": export.events,
                           "unfinished": export.unfinished,
                           "unreadable": export.unreadable},
                          indent=2) + "\n"
    rows = [{c: "" if e.get(c) is None else str(e.get(c)) for c in COLUMNS}
            for e in export.events]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _defuse(v) for k, v in row.items()})
        return buffer.getvalue()
    out = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    out += ["| " + " | ".join(markdown.text(row[c]) for c in COLUMNS) + " |" for row in rows]
    verdict = "complete: every started change has an outcome" if export.complete else \
        f"**incomplete**: {len(export.problems())} problem(s)"
    out += ["", verdict]
    out += [f"- {markdown.text(p)}" for p in export.problems()]
    return "\n".join(out) + "\n"


def summary(export: Export, source: str) -> list[str]:
    """The verdict, one line each, for stderr."""
    if export.complete:
        return [f"complete: {len(export.events)} line(s) from {source}; every started change "
                "has an outcome"]
    return [f"incomplete: {p}" for p in export.problems()]
