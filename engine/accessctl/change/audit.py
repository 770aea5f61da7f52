"""Audit events: one JSON line per decision or change, to stdout and an append-only file.

Each event is written and flushed (and fsynced to the file) before the next action, so a crash
loses at most the action in flight, never an event already decided.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from accessctl.core.model import Action, Change, Outcome, Status, isoformat

if TYPE_CHECKING:
    from accessctl.change.audit_sink import S3Sink


@dataclass(frozen=True)
class Event:
    time: datetime
    action: str
    outcome: str
    request: str | None = None
    entitlement: str | None = None
    principal: str | None = None
    provider: str | None = None
    target: str | None = None
    commit: str | None = None
    error: str | None = None
    detail: str | None = None
    approved_by_rule: str | None = None
    """The auto-approval rule that approved the request (approve events only)."""
    deadline: datetime | None = None
    """A break-glass request's ratification deadline."""
    approval_skipped: bool = False
    """The run was started with --skip-approval (approval not verified): set by AuditLog on
    every event of such a run."""
    principal_id: str | None = None
    """The platform's immutable id of the principal (grants and revokes, where the platform
    has ids): the name may change or pass to someone else, the id never does."""
    expires_at: datetime | None = None
    """Revokes: when the access was due to end (the expiry written in its file)."""
    lag_seconds: int | None = None
    """Revokes: how long after `expires_at` the access really ended (0 when on time)."""
    on_call: tuple[str, ...] | None = None
    """Approvals by a PagerDuty on-call rule: who PagerDuty had on call at the merge."""

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"time": isoformat(self.time)}
        for key in ("action", "outcome", "request", "entitlement", "principal", "provider",
                    "target", "commit", "error", "detail"):
            data[key] = getattr(self, key)
            if key == "principal" and self.principal_id is not None:
                data["principal_id"] = self.principal_id
        # Only on the events that have them, so every other line keeps its shape.
        if self.approved_by_rule is not None:
            data["approved_by_rule"] = self.approved_by_rule
        if self.deadline is not None:
            data["deadline"] = isoformat(self.deadline)
        if self.approval_skipped:
            data["approval_skipped"] = True
        if self.expires_at is not None:
            data["expires_at"] = isoformat(self.expires_at)
        if self.lag_seconds is not None:
            data["lag_seconds"] = self.lag_seconds
        if self.on_call is not None:
            data["on_call"] = list(self.on_call)
        return data


def change_event(time: datetime, outcome: Outcome, commit: str | None) -> Event:
    change: Change = outcome.change
    revoke_due = change.expires_at if change.action is Action.REVOKE else None
    late = None
    if revoke_due is not None and outcome.status is Status.DONE:
        late = max(int((time - revoke_due).total_seconds()), 0)
    return Event(
        time=time,
        action=change.action.value,
        outcome=outcome.status.value,
        request=",".join(change.requests) or None,
        entitlement=change.entitlement or None,
        principal=change.principal,
        provider=change.target.instance,
        target=change.target.display,
        commit=commit,
        error=outcome.detail if outcome.status.value == "failed" else None,
        detail=outcome.detail if outcome.status.value != "failed" else None,
        principal_id=outcome.principal_id or change.principal_id,
        expires_at=revoke_due,
        lag_seconds=late,
    )


def started_event(time: datetime, change: Change, commit: str | None) -> Event:
    """Written (to the file only) just before the platform write: if the run dies before the
    outcome line, the next run finds it and settles how the change ended (change/journal.py)."""
    return Event(
        time=time, action=change.action.value, outcome="started",
        request=",".join(change.requests) or None, entitlement=change.entitlement or None,
        principal=change.principal, provider=change.target.instance,
        target=change.target.display, commit=commit, principal_id=change.principal_id,
    )


class AuditLog:
    """Writes each event as it happens. `stream` may be None to keep stdout for humans.

    With `approval_skipped`, every event recorded is marked so (whoever built it), so that no
    line of a --skip-approval run can pass for one whose approvals were verified.

    With a `sink` (change/audit_sink.py) every line also goes to S3: a `started` line at once,
    with the lines waiting before it (it must be there before the platform write; a failure
    raises SinkError and the change is not made); other lines wait for the next `started` line
    or for `close`. Lines the sink could not take are kept in `sink_failures`' count."""

    def __init__(self, path: Path | None, stream: TextIO | None, *,
                 approval_skipped: bool = False, sink: S3Sink | None = None) -> None:
        self.path = path
        self.stream = stream
        self.approval_skipped = approval_skipped
        self.sink = sink
        self.sink_failures: list[str] = []
        self._waiting: list[str] = []
        self._open: set[tuple[object, ...]] = set()
        self.events: list[Event] = []
        self._file = None
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: concurrent writers and crashes never overwrite earlier lines.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            self._file = os.fdopen(fd, "a", encoding="utf-8")

    def record(self, event: Event, *, stream: bool = True) -> None:
        """Append the event to the file (flushed and fsynced before returning) and, unless
        `stream` is False, to the stream; only streamed events are kept in `events`."""
        if self.approval_skipped and not event.approval_skipped:
            event = dataclasses.replace(event, approval_skipped=True)
        line = json.dumps(event.as_dict(), sort_keys=False)
        with self._lock:  # changes run in parallel; lines must never interleave
            if stream:
                self.events.append(event)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
                os.fsync(self._file.fileno())
            if stream and self.stream is not None:
                self.stream.write(line + "\n")
                self.stream.flush()
            if self.sink is not None:
                self._to_sink(event, line)

    def _to_sink(self, event: Event, line: str) -> None:
        assert self.sink is not None
        key = (event.action, event.provider, event.target, event.principal)
        self._waiting.append(line)
        if event.outcome != "started":
            self._open.discard(key)
            return
        batch, self._waiting = self._waiting, []
        try:
            self.sink.put(batch)
        except Exception:
            self._waiting = batch[:-1]  # the others go with the next batch; not this one
            raise
        self._open.add(key)

    def close(self) -> None:
        """Close the file; send the sink what waits, and, when every change this run started
        has its outcome there, the run's end object. Never raises: what the sink did not take
        is in `sink_failures`."""
        if self.sink is not None:
            from accessctl.change.audit_sink import SinkError

            try:
                if self._waiting:
                    self.sink.put(self._waiting)
                    self._waiting = []
                if not self._open:
                    self.sink.end()
            except SinkError as error:
                lines = len(self._waiting)
                where = f" (they are in {self.path})" if self.path is not None else ""
                self.sink_failures.append(f"{error}: {lines} audit line(s) not in the sink"
                                          + where)
            self.sink = None
        if self._file is not None:
            self._file.close()
            self._file = None
