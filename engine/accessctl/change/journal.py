"""Changes an interrupted run started but never recorded an outcome for, and how they ended.

Before each platform write the runner records a `started` line in the audit file (fsynced). A run
killed between the platform's answer and the outcome line leaves that `started` line alone. The
next run reads the audit file, finds those unfinished changes, and once it has observed the
platforms, records how each ended: `done` when the platform shows it took effect, `abandoned`
when it does not (and the new plan does not redo it; when it does, the new outcome finishes it).
So every change the engine ever sent has an outcome line, even across a crash.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from accessctl.change.audit import AuditLog, Event
from accessctl.core.model import Change, Target, principal_key

STARTED = "started"
"""The outcome of the line written before a platform write."""

ChangeKey = tuple[str, str, str, str]
"""(action, provider instance, target display, principal key): one change, across runs."""


@dataclass(frozen=True)
class Unfinished:
    key: ChangeKey
    line: dict[str, object]
    """The `started` line as it was written."""


def change_key(change: Change) -> ChangeKey:
    return (change.action.value, change.target.instance, change.target.display,
            principal_key(change.principal))


def _key_of(line: Mapping[str, object]) -> ChangeKey | None:
    parts = (line.get("action"), line.get("provider"), line.get("target"), line.get("principal"))
    if not all(isinstance(part, str) and part for part in parts):
        return None
    action, provider, target, principal = (str(part) for part in parts)
    return action, provider, target, principal_key(principal)


def unfinished(lines: Iterable[str]) -> list[Unfinished]:
    """`started` changes with no later outcome line for the same change, in file order."""
    open_changes: dict[ChangeKey, dict[str, object]] = {}
    for text in lines:
        try:
            line = json.loads(text)
        except ValueError:
            continue  # a line torn by a crash before this format's fsync: nothing to finish
        if not isinstance(line, dict) or line.get("action") not in ("grant", "revoke"):
            continue
        key = _key_of(line)
        if key is None:
            continue
        if line.get("outcome") == STARTED:
            open_changes[key] = line
        else:
            open_changes.pop(key, None)
    return [Unfinished(key, line) for key, line in open_changes.items()]


def read_unfinished(path: Path) -> list[Unfinished]:
    """The audit file's unfinished changes (none when there is no file yet)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return unfinished(handle)
    except FileNotFoundError:
        return []


def finish(
    pending: Iterable[Unfinished],
    observed: Mapping[Target, frozenset[str]],
    planned: Collection[ChangeKey],
    time: datetime,
    commit: str | None,
) -> list[Event]:
    """Outcome lines for the unfinished changes this run can settle. Pure.

    Left alone: a change this run plans again (its own outcome will finish it) and a change on a
    target this run did not observe (unreachable now: a later run settles it).
    """
    targets = {(t.instance, t.display): t for t in observed}
    events = []
    for item in pending:
        action, instance, display, principal = item.key
        target = targets.get((instance, display))
        if item.key in planned or target is None:
            continue
        holds = principal in observed[target]
        took_effect = holds if action == "grant" else not holds
        line = item.line
        events.append(Event(
            time=time, action=action, outcome="done" if took_effect else "abandoned",
            request=_text(line.get("request")), entitlement=_text(line.get("entitlement")),
            principal=_text(line.get("principal")), provider=instance, target=display,
            commit=commit, principal_id=_text(line.get("principal_id")),
            detail=(f"finished for an interrupted run (started {line.get('time')}"
                    + (f", commit {line.get('commit')}" if line.get("commit") else "") + "): "
                    + ("the platform shows it took effect" if took_effect else
                       "the platform does not show it, and nothing asks for it now")),
        ))
    return events


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def settle(audit: AuditLog, observed: Mapping[Target, frozenset[str]],
           changes: Iterable[Change], time: datetime, commit: str | None) -> list[Event]:
    """Record how the unfinished changes of earlier runs ended, before this run's own changes.

    They are read from the audit sink when there is one (a fresh runner has no earlier file),
    else from the audit file. Raises SinkError when the sink cannot be read."""
    if audit.sink is not None:
        pending = unfinished(audit.sink.earlier_lines())
        # This run's outcome lines close `started` lines of other runs: later runs must read it.
        audit.sink.settling = bool(pending)
    elif audit.path is not None:
        pending = read_unfinished(audit.path)
    else:
        return []
    events = finish(pending, observed, {change_key(c) for c in changes}, time, commit)
    for event in events:
        audit.record(event)
    return events
