"""The pure evaluator, as tables: no files, no clock, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from accessctl.core.model import Policies, Request
from accessctl.judge.evaluate import State, evaluate
from accessctl.read.load import MemorySource, load_policies, load_request

from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, request

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def policies() -> Policies:
    source = MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES,
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="prod-admins", exclusive="false"),
    })
    loaded, findings = load_policies(source)
    assert loaded is not None and not findings, findings
    return loaded


def req(name: str, text: str) -> Request:
    path = f"access-requests/prod-admin/{name}.yaml"
    loaded, findings = load_request(MemorySource({path: text}), path)
    assert loaded is not None, findings
    return loaded


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(("starts", "expires", "fresh", "state", "codes"), [
    (None, at(2), False, State.ACTIVE, []),
    (at(-1), at(3), False, State.ACTIVE, []),
    (at(1), at(3), False, State.PENDING, []),
    (None, at(-1), False, State.EXPIRED, []),
    (None, at(-1), True, State.INVALID, ["already-expired"]),
    (None, at(4), False, State.ACTIVE, []),
    (None, at(4.01), False, State.INVALID, ["window-too-long"]),
    # Starting later: the window counts from the start, not from now.
    (at(10), at(14), False, State.PENDING, []),
    (at(10), at(14.5), False, State.INVALID, ["window-too-long"]),
    (at(3), at(2), False, State.INVALID, ["window-order"]),
    (at(2), at(2), False, State.INVALID, ["window-order"]),
])
def test_window_rules(starts: str | None, expires: str, fresh: bool, state: State,
                      codes: list[str]) -> None:
    r = req("alice-x", request("alice", "prod-admin", expires, starts=starts))
    result = evaluate(policies(), [r], NOW, fresh=[r.path] if fresh else [])
    judgement = result.judgements[r.path]
    assert judgement.state is state
    assert [f.code for f in judgement.findings] == codes


def test_overlapping_requests_keep_the_grant_until_the_last_ends() -> None:
    early = req("alice-a", request("alice", "prod-admin", at(1)))
    late = req("alice-b", request("alice", "prod-admin", at(3), starts=at(-0.5)))
    result = evaluate(policies(), [early, late], NOW)
    assert len(result.grants) == 1
    grant = result.grants[0]
    assert grant.expires_at == NOW + timedelta(hours=3)
    assert set(grant.requests) == {early.path, late.path}
    # An hour and a half later the first has ended; the second still backs the grant.
    later = evaluate(policies(), [early, late], NOW + timedelta(hours=1, minutes=30))
    assert [g.requests for g in later.grants] == [(late.path,)]


def test_requester_matches_case_insensitively_but_unknown_people_do_not() -> None:
    r = req("Alice-x", request("Alice", "prod-admin", at(2)))
    assert evaluate(policies(), [r], NOW).judgements[r.path].state is State.ACTIVE
    ghost = req("alicia-x", request("alicia", "prod-admin", at(2)))
    codes = [f.code for f in evaluate(policies(), [ghost], NOW).findings]
    assert codes == ["unknown-requester"]


def test_team_membership_goes_through_the_injected_lookup() -> None:
    r = req("bob-x", request("bob", "prod-admin", at(2)))
    # identities.yaml lists bob in @acme/sre; a lookup that says otherwise wins.
    result = evaluate(policies(), [r], NOW, teams=lambda team: frozenset())
    assert [f.code for f in result.findings] == ["not-eligible"]
    unknown = evaluate(policies(), [r], NOW, teams=lambda team: None)
    assert [f.code for f in unknown.findings] == ["eligibility-unknown"]


def test_duplicate_requests_are_reported_once() -> None:
    text = request("alice", "prod-admin", at(2))
    result = evaluate(policies(), [req("alice-a", text), req("alice-b", text)], NOW)
    assert [(f.location.path, f.code) for f in result.findings] == [
        ("access-requests/prod-admin/alice-b.yaml", "duplicate-request")]


def test_unapproved_requests_grant_nothing_when_approval_is_judged() -> None:
    r = req("alice-x", request("alice", "prod-admin", at(2)))
    denied = evaluate(policies(), [r], NOW, approved={r.path: False})
    assert denied.judgements[r.path].state is State.UNAPPROVED
    assert denied.grants == []
    # Still managed: when approval goes away the engine may take the access back.
    assert denied.managed
    allowed = evaluate(policies(), [r], NOW, approved={r.path: True})
    assert [g.principal for g in allowed.grants] == ["alice"]


def test_expired_and_invalid_requests_grant_nothing() -> None:
    expired = req("alice-a", request("alice", "prod-admin", at(-1)))
    invalid = req("bob-b", request("bob", "prod-admin", at(2), ticket="nope"))
    result = evaluate(policies(), [expired, invalid], NOW)
    assert result.grants == []
