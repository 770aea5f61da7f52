"""People are known by immutable ids: the ledger's pure rules with ids, as tables, and the record
on disk (old records without ids stay readable).

alice was granted as "alice" (id 7). She may rename herself ("alice-new"), and mallory (id 9)
may take the name "alice" afterwards. The engine must keep treating id 7 as its grant, under any
name, and never take id 9 for her.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from accessctl.change.audit import Event, change_event
from accessctl.change.holders import Holders
from accessctl.change.ledger import (
    Entry,
    Ledger,
    Origin,
    effective_managed,
    renamed,
    restoring,
    settle,
    standing,
)
from accessctl.change.ledger_store import LedgerStore
from accessctl.change.plan import make_plan
from accessctl.core.model import Action, Change, Grant, Outcome, Status, Target

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
T = Target.build("gitlab-acme", "gitlab", "group", {"group": "acme/platform"})
ALICE, MALLORY, BOB = "7", "9", "5"


def entry(principal: str, origin: Origin = Origin.GRANTED, principal_id: str | None = ALICE
          ) -> Entry:
    return Entry(T.display, principal, origin, "2026-11-23T09:00:00Z", ("alice.yaml",), None,
                 principal_id=principal_id)


def ledger(*entries: Entry, lost: bool = False) -> Ledger:
    return Ledger("gitlab-acme", {(e.target, e.principal): e for e in entries}, True, lost)


def seen(**ids: str) -> dict[Target, Holders]:
    """The target held by these names, with these ids ("-" in a name as "_" here)."""
    names = {k.replace("_", "-"): v for k, v in ids.items()}
    return {T: Holders(names, names)}


def grant(principal: str) -> Grant:
    return Grant(T, principal, "alice", "platform", None, NOW, (f"{principal}.yaml",))


def managed(entries: tuple[Entry, ...], named: set[str], holders: dict[Target, Holders]
            ) -> set[str]:
    """The holders of the target the engine may revoke (a pair nobody holds plans nothing)."""
    result = effective_managed({(T, p): [f"{p}.yaml"] for p in named},
                               {"gitlab-acme": ledger(*entries)}, {T.display: T}, holders)
    return {p for _, p in result if p in holders[T].keys}


@pytest.mark.parametrize("entries, named, holders, expected", [
    # Renamed after the grant: still the engine's, under the new name.
    ((entry("alice"),), {"alice"}, seen(alice_new=ALICE), {"alice-new"}),
    # ... and the old name, taken by someone else, is not.
    ((entry("alice"),), {"alice"}, seen(alice_new=ALICE, alice=MALLORY), {"alice-new"}),
    ((entry("alice"),), {"alice"}, seen(alice=MALLORY), set()),
    # No rename: as before.
    ((entry("alice"),), {"alice"}, seen(alice=ALICE), {"alice"}),
    # Standing access under a new name stays untouched, even when a request names that name.
    ((entry("bob", Origin.STANDING, BOB),), {"bob", "bob2"}, seen(bob2=BOB), set()),
    # An ended grant: history still names "alice"; the id says who that was.
    ((entry("alice", Origin.ENDED),), {"alice"}, seen(alice=MALLORY), set()),
    ((entry("alice", Origin.ENDED),), {"alice"}, seen(alice=ALICE), {"alice"}),
    ((entry("alice", Origin.ENDED),), {"alice"}, seen(alice_x=ALICE), {"alice-x"}),
    ((entry("alice", Origin.ENDED),), set(), seen(alice_x=ALICE), set()),
    # An old record without an id, or an observation without ids: names decide.
    ((entry("alice", principal_id=None),), set(), seen(alice=MALLORY), {"alice"}),
    ((entry("alice"),), {"alice"}, {T: Holders({"alice"})}, {"alice"}),
])
def test_effective_managed_follows_ids(entries: tuple[Entry, ...], named: set[str],
                                       holders: dict[Target, Holders],
                                       expected: set[str]) -> None:
    assert managed(entries, named, holders) == expected


def test_renamed_maps_a_recorded_name_to_the_name_its_id_holds_the_target_by() -> None:
    records = {"gitlab-acme": ledger(entry("alice"), entry("bob", principal_id=BOB))}
    assert renamed(records, seen(alice_new=ALICE, bob=BOB)) == {(T, "alice"): "alice-new"}


@pytest.mark.parametrize("entries, wanted, holders, expected", [
    # The engine's grant, found under a new name: not standing access.
    ((entry("alice"),), "alice", seen(alice_new=ALICE), []),
    # identities.yaml now names her new name: the id says the grant is the engine's.
    ((entry("alice"),), "alice-new", seen(alice_new=ALICE), []),
    # Her old name is mallory's now: alice does not hold it, whoever else does.
    ((entry("alice"),), "alice", seen(alice=MALLORY), []),
    # An ended grant's person back by hand, asked for again: standing, as with no record.
    ((entry("alice", Origin.ENDED),), "alice", seen(alice=ALICE), ["alice"]),
    ((), "alice", seen(alice=ALICE), ["alice"]),
])
def test_standing_follows_ids(entries: tuple[Entry, ...], wanted: str,
                              holders: dict[Target, Holders], expected: list[str]) -> None:
    found = standing([grant(wanted)], {T: holders[T].keys}, {"gitlab-acme": ledger(*entries)},
                     holders)
    assert [g.principal for g in found] == expected


def outcome(action: Action, principal: str, principal_id: str | None = None,
            status: Status = Status.DONE) -> Outcome:
    change = Change(action, T, principal, "platform", "why",
                    principal_id=principal_id if action is Action.REVOKE else None)
    return Outcome(change, status, principal_id=principal_id if action is Action.GRANT else None)


def after(before: Ledger, holders: dict[Target, Holders], wanted: list[Grant],
          outcomes: list[Outcome]) -> dict[str, tuple[Origin, str | None]]:
    settled = settle(before, observed={T: holders[T].keys}, wanted=wanted, outcomes=outcomes,
                     now=NOW, holders=holders)
    return {k[1]: (e.origin, e.principal_id) for k, e in settled.entries.items()}


def test_settle_records_the_id_each_grant_went_to() -> None:
    intent = entry("alice", principal_id=None)
    assert after(ledger(intent), seen(), [grant("alice")],
                 [outcome(Action.GRANT, "alice", ALICE)]) == {"alice": (Origin.GRANTED, ALICE)}


def test_settle_records_standing_access_with_the_id_observe_saw() -> None:
    assert after(ledger(), seen(bob=BOB), [grant("bob")], []) == {
        "bob": (Origin.STANDING, BOB)}
    # Someone the ledger records already, under another name, is not standing access.
    assert after(ledger(entry("alice")), seen(alice_new=ALICE), [grant("alice-new")], []) == {
        "alice": (Origin.GRANTED, ALICE)}


def test_settle_gives_an_old_record_the_id_of_whoever_holds_its_name() -> None:
    old = entry("alice", principal_id=None)
    assert after(ledger(old), seen(alice=ALICE), [], []) == {"alice": (Origin.GRANTED, ALICE)}


def test_settle_keeps_a_renamed_grant_and_ends_it_by_id() -> None:
    holders = seen(alice_new=ALICE, alice=MALLORY)
    # Present under a new name: kept, whether or not anything still wants it.
    assert after(ledger(entry("alice")), holders, [], []) == {"alice": (Origin.GRANTED, ALICE)}
    # Revoked by id: over, and remembered as ended, since history still names "alice".
    assert after(ledger(entry("alice")), holders, [],
                 [outcome(Action.REVOKE, "alice-new", ALICE)]) == {
        "alice": (Origin.ENDED, ALICE)}
    # A revoke of mallory (say, on an exclusive target) never ends alice's record.
    assert after(ledger(entry("alice")), holders, [],
                 [outcome(Action.REVOKE, "alice", MALLORY)]) == {
        "alice": (Origin.GRANTED, ALICE)}


def test_settle_forgets_a_grant_that_ends_without_a_rename() -> None:
    assert after(ledger(entry("alice")), seen(alice=ALICE), [],
                 [outcome(Action.REVOKE, "alice", ALICE)]) == {}
    assert after(ledger(entry("alice")), seen(), [], []) == {}
    # Gone, and the name someone else's: ended, with the id.
    assert after(ledger(entry("alice")), seen(alice=MALLORY), [], []) == {
        "alice": (Origin.ENDED, ALICE)}


def test_settle_turns_an_ended_record_into_standing_when_its_person_is_found_wanted() -> None:
    ended = entry("alice", Origin.ENDED)
    assert after(ledger(ended), seen(alice=ALICE), [grant("alice")], []) == {
        "alice": (Origin.STANDING, ALICE)}
    assert after(ledger(ended), seen(alice=MALLORY), [grant("alice")], []) == {
        "alice": (Origin.ENDED, ALICE)}


def test_a_revoke_carries_the_id_observe_read_and_the_audit_event_shows_it() -> None:
    plan = make_plan([], {T: frozenset({"alice-new", "stranger"})}, {(T, "alice-new")},
                     ids={T: {"alice-new": ALICE}})
    (revoke,) = plan.changes
    assert (revoke.principal, revoke.principal_id) == ("alice-new", ALICE)
    event = change_event(NOW, Outcome(revoke, Status.DONE), None).as_dict()
    assert list(event)[5:7] == ["principal", "principal_id"]
    assert event["principal_id"] == ALICE
    # Events without an id keep their shape.
    assert "principal_id" not in Event(NOW, "deny", "denied", principal="alice").as_dict()


def test_a_revoke_restores_the_role_recorded_for_its_id_not_for_its_name() -> None:
    from dataclasses import replace

    raised = replace(entry("alice"), found=(("access_level", "30"),))
    records = {"gitlab-acme": ledger(raised)}
    renamed_alice = Change(Action.REVOKE, T, "alice-new", "platform", "why", principal_id=ALICE)
    name_taken = Change(Action.REVOKE, T, "alice", "platform", "why", principal_id=MALLORY)
    done = restoring([renamed_alice, name_taken], records)
    assert [c.restore for c in done] == [(("access_level", "30"),), ()]


# -- the record on disk ---------------------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


def test_ids_are_written_and_read_back(repo: Path) -> None:
    store = LedgerStore(repo, {})
    store.read("gitlab-acme")
    store.write(ledger(entry("alice"), entry("bob", Origin.STANDING, None)), None)
    back = LedgerStore(repo, {}).read("gitlab-acme")
    assert {k[1]: (e.origin, e.principal_id) for k, e in back.entries.items()} == {
        "alice": (Origin.GRANTED, ALICE), "bob": (Origin.STANDING, None)}


def write_raw(repo: Path, document: dict[str, object]) -> None:
    blob = subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"],
                          input=json.dumps(document).encode(), check=True,
                          capture_output=True).stdout.decode().strip()
    tree = subprocess.run(["git", "-C", str(repo), "mktree"], check=True, capture_output=True,
                          input=f"100644 blob {blob}\tledger.json\n".encode()
                          ).stdout.decode().strip()
    commit = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                             "user.email=t@example.test", "commit-tree", tree, "-m", "old"],
                            check=True, capture_output=True).stdout.decode().strip()
    git(repo, "update-ref", "refs/accessctl/ledger/gitlab-acme", commit)


def test_a_record_written_before_ids_were_kept_is_read(repo: Path) -> None:
    write_raw(repo, {"version": 1, "instance": "gitlab-acme", "commit": None, "entries": [
        {"target": T.display, "principal": "alice", "origin": "granted",
         "at": "2026-11-20T09:00:00Z", "requests": ["a.yaml"], "expires_at": None}]})
    store = LedgerStore(repo, {})
    back = store.read("gitlab-acme")
    assert store.warnings == []
    assert [(e.principal, e.origin, e.principal_id) for e in back.entries.values()] == [
        ("alice", Origin.GRANTED, None)]


def test_a_record_whose_id_is_not_text_is_not_trusted(repo: Path) -> None:
    write_raw(repo, {"version": 1, "instance": "gitlab-acme", "commit": None, "entries": [
        {"target": T.display, "principal": "alice", "origin": "granted",
         "at": "2026-11-20T09:00:00Z", "requests": [], "expires_at": None,
         "principal_id": {"$ne": None}}]})
    store = LedgerStore(repo, {})
    back = store.read("gitlab-acme")
    assert not back.exists and back.lost
    assert "principal_id" in store.warnings[0]
