"""The engine's own record of what it did on each platform instance. Pure: no I/O, no clock.

Git history says which pairs (target, principal) requests ever named; it cannot say whether the
engine granted them or found them already there. Without that, a standing admin who asks for
just-in-time access loses the standing access when the request expires (invariant 8: the engine
never removes access it does not manage). So for each pair it grants, the engine records what it
found first:

- `granted`: absent when the engine came to grant it; the engine's to end (written *before* the
  platform write, so a run killed mid-way leaves the record of the grant, never only the grant);
- `standing`: already present when the engine came to grant it; never revoked, never given an
  expiry, reported as "already holds this (standing access, not managed by accessctl)";
- `unknown`: present when first seen but the ledger had been lost (the engine ran before, its
  record is gone): treated as the engine's, so that a lost record never keeps access alive;
- `revoked`: the engine removed it (the platform said so); kept until the platform stops listing
  it.

Member listings are eventually consistent on most platforms: a member the last run wrote may be
missing from this run's listing, and one it removed may still be listed. `written_at` records
when the platform confirmed the engine's write; for `SETTLING` after that, a listing that does
not show it yet is not taken as a reason to write again (`settling`), so a run soon after another
neither repeats the write nor records it twice. After that window the listing is believed.

A pair with no entry is judged as before the ledger existed: managed when some version of some
request file on the default branch named it (fail closed). An entry is dropped once the pair is
gone from the platform (revoked, or expired natively) and nothing wants it.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from accessctl.core.model import (
    Action,
    Change,
    Grant,
    Outcome,
    Status,
    Target,
    isoformat,
    principal_key,
)


class Origin(enum.StrEnum):
    GRANTED = "granted"
    STANDING = "standing"
    UNKNOWN = "unknown"
    REVOKED = "revoked"


SETTLING = timedelta(minutes=10)
"""How long after a confirmed write a listing that does not reflect it is taken to be lagging."""


@dataclass(frozen=True)
class Entry:
    target: str
    """Target.display."""
    principal: str
    """The principal key as observed on the platform."""
    origin: Origin
    at: str
    """When the engine recorded it (RFC 3339)."""
    requests: tuple[str, ...] = ()
    expires_at: str | None = None
    written_at: str | None = None
    """When the platform confirmed the engine's write (a grant or revoke that was DONE)."""

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "target": self.target, "principal": self.principal, "origin": self.origin.value,
            "at": self.at, "requests": list(self.requests), "expires_at": self.expires_at}
        if self.written_at is not None:
            data["written_at"] = self.written_at
        return data


PairKey = tuple[str, str]
"""(target display, principal key)."""


@dataclass
class Ledger:
    instance: str
    entries: dict[PairKey, Entry] = field(default_factory=dict)
    exists: bool = False
    """False: no record was found for this instance (first run, or a lost record)."""
    lost: bool = False
    """No record was found although the engine has run here before: present members are not
    taken for standing access."""

    def origin(self, target: Target, principal: str) -> Origin | None:
        entry = self.entries.get((target.display, principal_key(principal)))
        return entry.origin if entry is not None else None


Named = Mapping[tuple[Target, str], Sequence[str]]
"""(target, principal key) -> paths of the requests that named the pair."""


def effective_managed(named: Named, ledgers: Mapping[str, Ledger],
                      targets: Mapping[str, Target]) -> dict[tuple[Target, str], tuple[str, ...]]:
    """The pairs the engine may revoke: those requests named, less the ones it found standing,
    plus those it recorded as its own whatever the requests say now. `targets` maps
    Target.display to the managed targets (an entry on a target no longer managed is left)."""
    result: dict[tuple[Target, str], tuple[str, ...]] = {}
    for (target, key), paths in named.items():
        ledger = ledgers.get(target.instance)
        if ledger is not None and ledger.origin(target, key) is Origin.STANDING:
            continue
        result[(target, principal_key(key))] = tuple(paths)
    for ledger in ledgers.values():
        for (display, key), entry in ledger.entries.items():
            recorded = targets.get(display)
            if recorded is None or entry.origin is Origin.STANDING:
                continue
            result.setdefault((recorded, key), entry.requests)
    return result


def standing(grants: Iterable[Grant], observed: Mapping[Target, frozenset[str]],
             ledgers: Mapping[str, Ledger]) -> list[Grant]:
    """Wanted grants that the person already holds and the engine did not grant: standing
    access (already recorded so, or seen so now for the first time)."""
    found = []
    for grant in grants:
        members = observed.get(grant.target)
        key = principal_key(grant.principal)
        if members is None or key not in members:
            continue
        ledger = ledgers.get(grant.target.instance)
        if ledger is None:
            continue  # no record kept here (not a git checkout): nothing can be told
        origin = ledger.origin(grant.target, key)
        if origin is Origin.STANDING or (origin is None and not ledger.lost):
            found.append(grant)
    return found


def _entry(target: Target, principal: str, origin: Origin, now: datetime,
           requests: Sequence[str], expires_at: datetime | None) -> Entry:
    return Entry(target.display, principal_key(principal), origin, isoformat(now),
                 tuple(requests), isoformat(expires_at) if expires_at else None)


def with_intents(ledger: Ledger, grants: Iterable[tuple[Target, str, Sequence[str],
                                                       datetime | None]],
                 now: datetime) -> Ledger:
    """The ledger as it must stand before the platform writes: each grant about to be made
    recorded as the engine's (target, principal, requests, expires_at)."""
    entries = dict(ledger.entries)
    for target, principal, requests, expires_at in grants:
        if target.instance != ledger.instance:
            continue
        entries[(target.display, principal_key(principal))] = _entry(
            target, principal, Origin.GRANTED, now, requests, expires_at)
    return replace(ledger, entries=entries)


def settle(ledger: Ledger, *, observed: Mapping[Target, frozenset[str]],
           wanted: Collection[Grant], outcomes: Iterable[Outcome], now: datetime) -> Ledger:
    """The ledger after a run: present members that wanted grants found (standing, or unknown
    when the record was lost), revocations done dropped, entries whose pair is gone from a
    target that was read and that nothing wants dropped."""
    entries = dict(ledger.entries)
    revoked = set()
    for outcome in outcomes:
        change = outcome.change
        if change.target.instance != ledger.instance:
            continue
        key = (change.target.display, principal_key(change.principal))
        if change.action is Action.REVOKE and outcome.status in (Status.DONE,
                                                                  Status.UNCHANGED):
            revoked.add(key)
            entries.pop(key, None)
            if outcome.status is Status.DONE:
                # Kept while the platform's listing may still show it (see `settling`).
                entries[key] = Entry(key[0], key[1], Origin.REVOKED, isoformat(now),
                                     tuple(change.requests), written_at=isoformat(now))
        elif change.action is Action.GRANT and outcome.status is Status.DONE:
            held = entries.get(key)
            if held is not None and held.origin is Origin.GRANTED:
                entries[key] = replace(held, written_at=isoformat(now))
    wanted_keys = set()
    for grant in wanted:
        if grant.target.instance != ledger.instance:
            continue
        key = (grant.target.display, principal_key(grant.principal))
        wanted_keys.add(key)
        members = observed.get(grant.target)
        if members is None or key in entries or key in revoked or key[1] not in members:
            continue
        origin = Origin.UNKNOWN if ledger.lost else Origin.STANDING
        entries[key] = _entry(grant.target, grant.principal, origin, now, grant.requests,
                              grant.expires_at)
    by_display = {t.display: t for t in observed}
    for key in list(entries):
        target = by_display.get(key[0])
        if target is None or key in wanted_keys:
            continue  # not read this run, or still wanted: keep what is known
        if key[1] not in observed[target]:
            del entries[key]  # gone from the platform and not wanted: nothing left to end
    return replace(ledger, entries=entries)


def settling(changes: Iterable[Change], ledgers: Mapping[str, Ledger], now: datetime
             ) -> tuple[list[Change], list[Change]]:
    """(changes to make, changes held back): a grant of a pair whose grant the platform
    confirmed, or a revoke of a pair whose removal it confirmed, less than `SETTLING` ago is
    held back: the listing that planned it has not caught up with the write yet."""
    made, held = [], []
    for change in changes:
        ledger = ledgers.get(change.target.instance)
        entry = ledger.entries.get((change.target.display, principal_key(change.principal))) \
            if ledger is not None else None
        wanted = Origin.GRANTED if change.action is Action.GRANT else Origin.REVOKED
        if entry is not None and entry.origin is wanted and entry.written_at is not None:
            age = now - datetime.fromisoformat(entry.written_at.replace("Z", "+00:00"))
            if timedelta(0) <= age < SETTLING:
                held.append(change)
                continue
        made.append(change)
    return made, held
