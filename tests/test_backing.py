"""Which requests a run verifies (change/backing.py): only those whose grant changes now."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from accessctl.change.backing import select
from accessctl.change.ledger import Entry, Ledger, Origin
from accessctl.core.model import Location, Request, Target
from accessctl.judge.evaluate import Evaluation, Judgement, State

T = Target.build("aws", "aws", "iam_group", {"group": "g"})
NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
PATH = "access-requests/e/alice-x.yaml"
BLOBS = {PATH: "b" * 40}


def evaluation(state: State = State.ACTIVE) -> Evaluation:
    request = Request(PATH, "alice", "e", "why", None, None, NOW, Location(PATH))
    return Evaluation(judgements={PATH: Judgement(request, state, (), T, "alice")})


def ledger(origin: Origin, blob: str = "b" * 40) -> dict[str, Ledger]:
    entry = Entry(T.display, "alice", origin, "2026-11-23T09:00:00Z", (PATH,), None,
                  blobs=(blob,) if blob else ())
    return {"aws": Ledger("aws", {(T.display, "alice"): entry}, exists=True)}


@pytest.mark.parametrize(("members", "ledgers", "verify", "trusted"), [
    (frozenset(), None, [PATH], set()),                                  # a grant to make
    (frozenset({"alice"}), None, [PATH], set()),                         # present, no ledger
    (frozenset({"alice"}), ledger(Origin.GRANTED), [], {PATH}),          # the engine's, same bytes
    (frozenset({"alice"}), ledger(Origin.GRANTED, "c" * 40), [PATH], set()),  # edited since
    (frozenset({"alice"}), ledger(Origin.GRANTED, ""), [PATH], set()),   # no blob recorded
    (frozenset({"alice"}), ledger(Origin.UNKNOWN), [PATH], set()),       # a lost ledger's entry
    (frozenset({"alice"}), ledger(Origin.STANDING), [], set()),          # not the engine's
])
def test_only_what_changes_is_verified(members: frozenset[str], ledgers: dict[str, Ledger] | None,
                                       verify: list[str], trusted: set[str]) -> None:
    chosen = select(evaluation(), {T: members}, ledgers, BLOBS.get)
    assert chosen.verify == verify
    assert chosen.trusted == trusted


def test_unreadable_targets_and_pending_requests_wait() -> None:
    assert select(evaluation(), {}, None, BLOBS.get).waiting == {PATH}
    pending = select(evaluation(State.PENDING), {T: frozenset()}, None, BLOBS.get)
    assert pending.verify == [] and pending.waiting == {PATH}


def test_reconcile_asks_only_about_present_members() -> None:
    chosen = select(evaluation(), {T: frozenset()}, None, BLOBS.get, present_only=True)
    assert chosen.verify == []
