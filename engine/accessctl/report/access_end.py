""""Access fully ends by T" in what `plan`, `explain` and `status` print (judge/access_end.py
decides it; this module only lays it out)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from accessctl.core.console import escape
from accessctl.core.durations import format_duration
from accessctl.core.model import Action, Change, Grant, Policies, Target, isoformat
from accessctl.judge import access_end
from accessctl.judge.access_end import Residual
from accessctl.judge.evaluate import target_of
from accessctl.providers.sessions import DurationRead


class Ends:
    """What outlives a revoke, per target and per entitlement, worked out once each."""

    def __init__(self, policies: Policies, reads: Mapping[Target, DurationRead] | None = None
                 ) -> None:
        self.policies = policies
        self.reads = reads
        self._by_target: dict[Target, Residual | None] = {}

    def of_target(self, target: Target) -> Residual | None:
        if target not in self._by_target:
            instance = self.policies.providers.get(target.instance)
            self._by_target[target] = None if instance is None else access_end.for_target(
                self.policies, instance, target, self.reads)
        return self._by_target[target]

    def of_entitlement(self, name: str) -> Residual | None:
        entitlement = self.policies.entitlements.get(name)
        if entitlement is None:
            return None
        target = target_of(entitlement, self.policies)
        return None if target is None else self.of_target(target)

    def fields(self, found: Residual | None, ends_at: datetime | None) -> dict[str, Any]:
        """The JSON fields: when access fully ends (None: unknown) and why."""
        if found is None or ends_at is None:
            return {"fully_ends_by": None, "residual": None}
        return {"fully_ends_by": isoformat(access_end.fully_ends_by(ends_at, found)),
                "residual": found.as_dict()}

    def of_grant(self, grant: Grant) -> dict[str, Any]:
        return self.fields(self.of_target(grant.target), grant.expires_at)

    def of_change(self, change: Change, now: datetime | None) -> dict[str, Any]:
        """A grant ends at its expiry; a revoke is made by the next run (`now`)."""
        when = change.expires_at if change.action is Action.GRANT else now
        return self.fields(self.of_target(change.target), when)


def print_summary(stream: TextIO, ends: Ends, names: Iterable[str]) -> None:
    """One line per entitlement: what outlives its revoke, and why."""
    lines = []
    for name in sorted(set(names)):
        found = ends.of_entitlement(name)
        if found is not None:
            bound = "expiry" if not found.after else \
                f"expiry + {format_duration(found.after)}{'' if found.exact else ' at most'}"
            lines.append(f"  {escape(name)}: {bound}: {escape(found.why)}")
    if lines:
        stream.write("When access fully ends (what outlives the revoke)\n" + "\n".join(lines)
                     + "\n")


def print_changes(stream: TextIO, ends: Ends, changes: Sequence[Change], now: datetime) -> None:
    """For each change: when the access it gives, or takes, is fully gone."""
    lines = []
    for change in changes:
        found = ends.of_target(change.target)
        when = change.expires_at if change.action is Action.GRANT else now
        if found is None or when is None:
            continue
        done = "granted" if change.action is Action.GRANT else "revoked"
        lines.append(f"  {escape(change.principal)}, {done} on {escape(change.target.display)}: "
                     f"{escape(access_end.sentence(when, found))}")
    if lines:
        stream.write("Access fully ends\n" + "\n".join(lines) + "\n")
