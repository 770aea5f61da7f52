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
- `ended`: a grant of the engine's that ended after its person had changed name, or once their
  old name had passed to someone else. Git history still names the pair by the old name; the
  entry keeps the id that name meant, so that whoever holds it later is not taken for them.

A pair with no entry is judged as before the ledger existed: managed when some version of some
request file on the default branch named it (fail closed). An entry is dropped once the pair is
gone from the platform (revoked, or expired natively) and nothing wants it.

Each entry also records the platform's immutable id of the person it names (`principal_id`: the
id the grant went to, resolved from the name when the grant was made; for standing access, the
id observe saw). Names change and are re-used (change/holders.py); the id maps a member found
under a new name back to the pair, so that the grant is still known and ended, and a name now
held by someone else is never taken for the person the engine granted. Entries written before
ids were recorded carry none, and take the id of whoever holds their name the next time a run
observes it (until then, and wherever a platform gives no ids, names decide as before).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from accessctl.change.holders import Holders
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
    ENDED = "ended"


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
    found: tuple[tuple[str, str], ...] = ()
    """What the person held before the engine's grant raised it (a role level): what the
    revoke puts back. Empty: the engine found nothing and removes what it added."""
    blobs: tuple[str, ...] = ()
    """The git blob of each of `requests` when the engine verified and granted it ("" where
    unknown): a later run trusts the grant without asking the VCS again only while the file
    is still these bytes (change/backing.py)."""
    principal_id: str | None = None
    """The platform's immutable id of the person (None: not known yet, or an older record)."""

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "target": self.target, "principal": self.principal, "origin": self.origin.value,
            "at": self.at, "requests": list(self.requests), "expires_at": self.expires_at}
        if self.found:
            data["found"] = dict(self.found)
        if any(self.blobs):
            data["blobs"] = list(self.blobs)
        if self.principal_id is not None:
            data["principal_id"] = self.principal_id
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

    def by_id(self) -> dict[tuple[str, str], Entry]:
        """(target display, principal id) -> the entry recording that id there."""
        return {(e.target, e.principal_id): e for e in self.entries.values()
                if e.principal_id is not None}


Named = Mapping[tuple[Target, str], Sequence[str]]
"""(target, principal key) -> paths of the requests that named the pair."""


def effective_managed(named: Named, ledgers: Mapping[str, Ledger],
                      targets: Mapping[str, Target],
                      holders: Mapping[Target, Holders] | None = None,
                      ) -> dict[tuple[Target, str], tuple[str, ...]]:
    """The pairs the engine may revoke: those requests named, less the ones it found standing,
    plus those it recorded as its own whatever the requests say now. `targets` maps
    Target.display to the managed targets (an entry on a target no longer managed is left).

    With `holders` (this run's observation, with ids), recorded ids correct the names: a name
    the ledger recorded but another id holds now is not the engine's to revoke, and the person
    a recorded id names is found under the name they hold the target by now (the engine's to
    revoke unless found standing)."""
    result: dict[tuple[Target, str], tuple[str, ...]] = {}
    for (target, key), paths in named.items():
        ledger = ledgers.get(target.instance)
        if ledger is not None and ledger.origin(target, key) is Origin.STANDING:
            continue
        result[(target, principal_key(key))] = tuple(paths)
    for ledger in ledgers.values():
        for (display, key), entry in ledger.entries.items():
            recorded = targets.get(display)
            if recorded is None or entry.origin in (Origin.STANDING, Origin.ENDED):
                continue
            result.setdefault((recorded, key), entry.requests)
    if holders:
        _follow_ids(result, named, ledgers, targets, holders)
    return result


def _follow_ids(result: dict[tuple[Target, str], tuple[str, ...]], named: Named,
                ledgers: Mapping[str, Ledger], targets: Mapping[str, Target],
                holders: Mapping[Target, Holders]) -> None:
    paths_of: dict[tuple[Target, str], set[str]] = {}
    for (target, key), paths in named.items():
        paths_of.setdefault((target, principal_key(key)), set()).update(paths)
    moved: list[tuple[Target, str, set[str]]] = []
    for ledger in ledgers.values():
        for (display, key), entry in ledger.entries.items():
            found = targets.get(display)
            seen = holders.get(found) if found is not None else None
            if found is None or seen is None or entry.principal_id is None:
                continue
            target = found
            if seen.reused(key, entry.principal_id):
                result.pop((target, key), None)  # the name is someone else's now
            now = seen.where(key, entry.principal_id)
            if now is None or now == key:
                continue
            if entry.origin is Origin.STANDING:
                result.pop((target, now), None)  # standing access, under a new name
            elif entry.origin is not Origin.ENDED:
                moved.append((target, now, {*entry.requests, *paths_of.get((target, key), ())}))
            elif (target, key) in paths_of:
                # An ended grant's person, back under a new name: as a pair history names.
                moved.append((target, now, paths_of[(target, key)]))
    # After every removal: a grant of the engine's stays its to end (fail closed).
    for target, now, more in moved:
        result[(target, now)] = tuple(sorted({*result.get((target, now), ()), *more}))


def renamed(ledgers: Mapping[str, Ledger], holders: Mapping[Target, Holders]
            ) -> dict[tuple[Target, str], str]:
    """(target, principal key the ledger recorded) -> the key the recorded id holds the target
    by now, for every recorded person found under another name."""
    by_display = {t.display: t for t in holders}
    result: dict[tuple[Target, str], str] = {}
    for ledger in ledgers.values():
        for (display, key), entry in ledger.entries.items():
            target = by_display.get(display)
            if target is None or entry.principal_id is None:
                continue
            now = holders[target].where(key, entry.principal_id)
            if now is not None and now != key:
                result[(target, key)] = now
    return result


def standing(grants: Iterable[Grant], observed: Mapping[Target, frozenset[str]],
             ledgers: Mapping[str, Ledger],
             holders: Mapping[Target, Holders] | None = None) -> list[Grant]:
    """Wanted grants that the person already holds and the engine did not grant: standing
    access (already recorded so, or seen so now for the first time). With `holders`, a
    recorded id decides who holds what: the person the ledger names under the grant's name,
    wherever they are now, and a holder whose id the ledger records under another name."""
    found = []
    indexes = {name: ledger.by_id() for name, ledger in ledgers.items()}
    for grant in grants:
        members = observed.get(grant.target)
        key = principal_key(grant.principal)
        ledger = ledgers.get(grant.target.instance)
        if members is None or ledger is None:
            continue  # not read, or no record kept here (not a git checkout): nothing to tell
        seen = (holders or {}).get(grant.target) or Holders(members)
        entry = ledger.entries.get((grant.target.display, key))
        if entry is not None and entry.principal_id is not None:
            if seen.where(key, entry.principal_id) is None:
                continue  # the person recorded under this name does not hold it (now)
            origin: Origin | None = None if entry.origin is Origin.ENDED else entry.origin
        else:
            if key not in members:
                continue
            holder = seen.id_of(key)
            owner = indexes[grant.target.instance].get((grant.target.display, holder)) \
                if holder is not None else None
            known = owner or entry
            origin = known.origin if known is not None and known.origin is not Origin.ENDED \
                else None
        if origin is Origin.STANDING or (origin is None and not ledger.lost):
            found.append(grant)
    return found


def _entry(target: Target, principal: str, origin: Origin, now: datetime,
           requests: Sequence[str], expires_at: datetime | None,
           blobs: Mapping[str, str] | None = None, principal_id: str | None = None) -> Entry:
    found = tuple((blobs or {}).get(p, "") for p in requests)
    return Entry(target.display, principal_key(principal), origin, isoformat(now),
                 tuple(requests), isoformat(expires_at) if expires_at else None,
                 blobs=found if any(found) else (), principal_id=principal_id)


def with_intents(ledger: Ledger, grants: Iterable[tuple[Target, str, Sequence[str],
                                                       datetime | None]],
                 now: datetime, blobs: Mapping[str, str] | None = None) -> Ledger:
    """The ledger as it must stand before the platform writes: each grant about to be made
    recorded as the engine's (target, principal, requests, expires_at), with the blob of each
    request it verified (`blobs`: path -> blob)."""
    entries = dict(ledger.entries)
    for target, principal, requests, expires_at in grants:
        if target.instance != ledger.instance:
            continue
        key = (target.display, principal_key(principal))
        fresh = _entry(target, principal, Origin.GRANTED, now, requests, expires_at, blobs)
        earlier = entries.get(key)
        # What the person held before the engine raised it stays known (a record brought up to
        # date after a request was verified again must not forget what to put back).
        entries[key] = replace(fresh, found=earlier.found) if earlier is not None else fresh
    return replace(ledger, entries=entries)


def settle(ledger: Ledger, *, observed: Mapping[Target, frozenset[str]],
           wanted: Collection[Grant], outcomes: Iterable[Outcome], now: datetime,
           holders: Mapping[Target, Holders] | None = None) -> Ledger:
    """The ledger after a run: the id each grant went to recorded, present members that wanted
    grants found (standing, or unknown when the record was lost) recorded with their ids,
    revocations done dropped (by id, or by name where no id is known), entries whose person is
    gone from a target that was read and that nothing wants dropped. An entry without an id
    takes the id of whoever holds its name now (records written before ids were kept)."""
    entries = dict(ledger.entries)
    seen_on = {t: (holders or {}).get(t) or Holders(keys) for t, keys in observed.items()}
    by_id: dict[tuple[str, str], set[PairKey]] = {}
    for pair, entry in entries.items():
        if entry.principal_id is not None:
            by_id.setdefault((pair[0], entry.principal_id), set()).add(pair)
    revoked = set()
    for outcome in outcomes:
        change = outcome.change
        if change.target.instance != ledger.instance or outcome.status not in (
                Status.DONE, Status.UNCHANGED):
            continue
        key = (change.target.display, principal_key(change.principal))
        principal_id = outcome.principal_id or change.principal_id
        if change.action is Action.REVOKE:
            revoked.add(key)
            gone = set(by_id.get((key[0], principal_id), ())) if principal_id else set()
            named = entries.get(key)
            if named is not None and (named.principal_id is None or principal_id is None
                                      or named.principal_id == principal_id):
                gone.add(key)
            for pair in gone:
                if pair in entries:
                    _end(entries, pair, seen_on.get(change.target), now)
        elif key in entries:
            if outcome.principal_id is not None:
                entries[key] = replace(entries[key], principal_id=outcome.principal_id)
            if outcome.previous:
                # The grant raised a membership the person already held: what to restore.
                entries[key] = replace(entries[key], found=outcome.previous)
    recorded = {(e.target, e.principal_id) for e in entries.values() if e.principal_id}
    wanted_keys = set()
    for grant in wanted:
        if grant.target.instance != ledger.instance:
            continue
        key = (grant.target.display, principal_key(grant.principal))
        wanted_keys.add(key)
        members = observed.get(grant.target)
        if members is None or key in revoked or key[1] not in members:
            continue
        holder = seen_on[grant.target].id_of(key[1])
        ended = entries.get(key)
        if ended is not None and (ended.origin is not Origin.ENDED
                                  or ended.principal_id != holder):
            continue
        if ended is None and holder is not None and (key[0], holder) in recorded:
            continue  # a person the ledger records already, by another name
        origin = Origin.UNKNOWN if ledger.lost else Origin.STANDING
        entries[key] = _entry(grant.target, grant.principal, origin, now, grant.requests,
                              grant.expires_at, principal_id=holder)
        if holder is not None:
            recorded.add((key[0], holder))
    by_display = {t.display: t for t in observed}
    for key in list(entries):
        target = by_display.get(key[0])
        if target is None:
            continue  # not read this run: keep what is known
        entry, seen = entries[key], seen_on[target]
        if entry.origin is Origin.ENDED:
            continue  # kept: the id the recorded name meant
        where = seen.where(key[1], entry.principal_id)
        holder = seen.id_of(where) if where is not None else None
        if entry.principal_id is None and holder is not None and (key[0], holder) not in recorded:
            entries[key] = replace(entry, principal_id=holder)
            recorded.add((key[0], holder))
        if key not in wanted_keys and where is None:
            _end(entries, key, seen, now)  # gone from the platform and not wanted
    return replace(ledger, entries=entries)


def _end(entries: dict[PairKey, Entry], key: PairKey, seen: Holders | None,
         now: datetime) -> None:
    """A grant (or standing access) is over: forget it, unless its person had changed name or
    its recorded name is someone else's now. Then keep its id, as `ended`: history still names
    the pair by that name, and a later holder of the name must not be taken for the person."""
    entry = entries.pop(key)
    if entry.principal_id is None or seen is None:
        return
    now_named = seen.key_of(entry.principal_id)
    if (now_named is not None and now_named != key[1]) or seen.reused(key[1], entry.principal_id):
        entries[key] = replace(entry, origin=Origin.ENDED, at=isoformat(now))


def restoring(changes: Iterable[Change], ledgers: Mapping[str, Ledger]) -> list[Change]:
    """Revokes of grants that raised a membership the person already held carry what to put
    back (the earlier role), so that the revoke never removes access the engine found there."""
    result = []
    indexes = {name: ledger.by_id() for name, ledger in ledgers.items()}
    for change in changes:
        ledger = ledgers.get(change.target.instance)
        entry = None
        if ledger is not None and change.principal_id is not None:
            # The grant recorded under the name its person had then (they may have renamed).
            entry = indexes[change.target.instance].get(
                (change.target.display, change.principal_id))
        if ledger is not None and entry is None:
            entry = ledger.entries.get((change.target.display, principal_key(change.principal)))
            if entry is not None and change.principal_id is not None \
                    and entry.principal_id not in (None, change.principal_id):
                entry = None  # that name's record is someone else's
        if change.action is Action.REVOKE and entry is not None and entry.found:
            change = replace(change, restore=entry.found)
        result.append(change)
    return result
