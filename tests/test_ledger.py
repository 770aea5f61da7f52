"""The ledger's pure rules, as tables: what is managed, what is standing, what a run records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from accessctl.change.ledger import (
    Entry,
    Ledger,
    Origin,
    effective_managed,
    settle,
    standing,
    with_intents,
)
from accessctl.core.model import Action, Change, Grant, Outcome, Status, Target

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
T = Target.build("aws-test", "aws", "iam_group", {"group": "prod-admins"})
OTHER = Target.build("aws-test", "aws", "iam_group", {"group": "other"})


def entry(principal: str, origin: Origin, target: Target = T) -> Entry:
    return Entry(target.display, principal, origin, "2026-11-23T09:00:00Z", ("r.yaml",))


def ledger(*entries: Entry, exists: bool = True, lost: bool = False) -> Ledger:
    return Ledger("aws-test", {(e.target, e.principal): e for e in entries}, exists, lost)


def grant(principal: str, target: Target = T) -> Grant:
    return Grant(target, principal, principal, "prod-admin", None,
                 datetime(2026, 11, 23, 12, 0, tzinfo=UTC), (f"{principal}.yaml",))


@pytest.mark.parametrize("entries, named, expected", [
    # No entry: what requests named is managed (git history's fallback).
    ((), {"alice"}, {"alice"}),
    # Found standing: never managed, even though a request named it.
    ((entry("bob", Origin.STANDING),), {"bob"}, set()),
    # The engine's own grant, or one it could not tell (a lost record): managed, even when no
    # request names it any more (an identity changed in identities.yaml, say).
    ((entry("carol", Origin.GRANTED),), set(), {"carol"}),
    ((entry("dave", Origin.UNKNOWN),), set(), {"dave"}),
])
def test_effective_managed(entries: tuple[Entry, ...], named: set[str],
                           expected: set[str]) -> None:
    result = effective_managed({(T, p): [f"{p}.yaml"] for p in named},
                               {"aws-test": ledger(*entries)}, {T.display: T})
    assert {p for _, p in result} == expected


def test_an_entry_on_a_target_no_longer_managed_is_left_alone() -> None:
    result = effective_managed({}, {"aws-test": ledger(entry("x", Origin.GRANTED, OTHER))},
                               {T.display: T})
    assert result == {}


@pytest.mark.parametrize("entries, lost, members, expected", [
    ((), False, {"bob"}, ["bob"]),                       # present, unrecorded: standing
    ((), True, {"bob"}, []),                             # a lost record: never standing
    ((entry("bob", Origin.GRANTED),), False, {"bob"}, []),  # the engine's own
    ((entry("bob", Origin.STANDING),), False, {"bob"}, ["bob"]),
    ((), False, set(), []),                              # absent: a grant, not standing
])
def test_standing(entries: tuple[Entry, ...], lost: bool, members: set[str],
                  expected: list[str]) -> None:
    found = standing([grant("bob")], {T: frozenset(members)},
                     {"aws-test": ledger(*entries, lost=lost)})
    assert [g.principal for g in found] == expected


def test_no_record_kept_means_nothing_is_taken_for_standing() -> None:
    assert standing([grant("bob")], {T: frozenset({"bob"})}, {}) == []


def test_intents_are_recorded_before_the_write() -> None:
    after = with_intents(ledger(entry("bob", Origin.STANDING)),
                         [(T, "bob", ("b.yaml",), None), (OTHER, "x", (), None)], NOW)
    # bob's standing membership was removed, so the engine grants: from now on it is its own.
    assert after.origin(T, "bob") is Origin.GRANTED
    assert after.origin(OTHER, "x") is Origin.GRANTED


def revoke(principal: str, status: Status = Status.DONE) -> Outcome:
    return Outcome(Change(Action.REVOKE, T, principal, "prod-admin", "why"), status)


def test_settle() -> None:
    before = ledger(entry("alice", Origin.GRANTED), entry("gone", Origin.GRANTED),
                    entry("kept", Origin.STANDING), entry("failed", Origin.GRANTED))
    after = settle(before, observed={T: frozenset({"kept", "bob", "failed"})},
                   wanted=[grant("bob"), grant("kept")],
                   outcomes=[revoke("alice"), revoke("failed", Status.FAILED)], now=NOW)
    assert {k[1]: e.origin for k, e in after.entries.items()} == {
        "bob": Origin.STANDING,     # wanted, present, unrecorded
        "kept": Origin.STANDING,
        "failed": Origin.GRANTED,   # the revoke failed: still the engine's to end
    }


def test_settle_after_a_lost_record_records_unknown() -> None:
    after = settle(ledger(exists=False, lost=True), observed={T: frozenset({"bob"})},
                   wanted=[grant("bob")], outcomes=[], now=NOW)
    assert after.origin(T, "bob") is Origin.UNKNOWN


def test_settle_keeps_what_was_not_read() -> None:
    before = ledger(entry("alice", Origin.GRANTED))
    assert settle(before, observed={}, wanted=[], outcomes=[], now=NOW).entries == \
        before.entries
