"""The pure planner: have/want set algebra and its guard rails (invariants 7 and 8)."""

from __future__ import annotations

from datetime import UTC, datetime

from accessctl.change.plan import make_plan
from accessctl.core.model import Action, Grant, Target

T = Target.build("aws-test", "aws", "iam_group", {"group": "g"})
X = Target.build("aws-test", "aws", "iam_group", {"group": "exclusive"})
UNTIL = datetime(2026, 11, 23, 12, tzinfo=UTC)


def grant(principal: str, target: Target = T) -> Grant:
    return Grant(target, principal, principal, "e", None, UNTIL, (f"r/{principal}.yaml",))


def actions(plan: object) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.target.kind + ":" + c.target.param("group"), c.principal)
            for c in plan.changes]  # type: ignore[attr-defined]


def test_grants_what_is_missing_and_revokes_only_what_the_engine_manages() -> None:
    plan = make_plan(
        [grant("alice"), grant("bob")],
        {T: frozenset({"bob", "carol", "standing"})},
        managed={(T, "alice"), (T, "bob"), (T, "carol")},
    )
    assert actions(plan) == [("grant", "iam_group:g", "alice"), ("revoke", "iam_group:g", "carol")]
    # A member no request ever named is left alone on a non-exclusive target, reported as drift.
    assert [d.principal for d in plan.drift] == ["standing"]


def test_principals_compare_case_insensitively() -> None:
    plan = make_plan([grant("Alice")], {T: frozenset({"alice"})}, managed={(T, "Alice")})
    assert plan.changes == []


def test_unreadable_targets_get_no_changes() -> None:
    plan = make_plan([grant("alice")], {}, managed={(T, "alice")})
    assert plan.changes == []


def test_exclusive_removals_happen_only_when_asked_and_under_the_cap() -> None:
    members = frozenset({f"u{i}" for i in range(8)} | {"alice"})
    observed = {X: members}
    quiet = make_plan([grant("alice", X)], observed, managed=set(), exclusive={X})
    assert quiet.changes == []
    assert len(quiet.drift) == 8
    capped = make_plan([grant("alice", X)], observed, managed=set(), exclusive={X},
                       remove_unbacked=True)
    assert capped.changes == [] and len(capped.refusals) == 1
    assert "exceeds the cap of 25%" in capped.refusals[0].message
    allowed = make_plan([grant("alice", X)], observed, managed=set(), exclusive={X},
                        remove_unbacked=True, removal_cap=0.9)
    assert sorted(c.principal for c in allowed.changes) == sorted(members - {"alice"})
    assert all(c.action is Action.REVOKE for c in allowed.changes)


def test_exclusive_flag_never_reaches_non_exclusive_targets() -> None:
    plan = make_plan([], {T: frozenset({"standing"})}, managed=set(), exclusive={X},
                     remove_unbacked=True, removal_cap=1.0)
    assert plan.changes == []


def test_native_expiry_is_carried_on_the_change() -> None:
    plan = make_plan([grant("alice")], {T: frozenset()}, managed=set(), native_expiry={T: True})
    assert plan.changes[0].native_expiry is True


def test_a_revoke_carries_the_requests_that_named_the_pair() -> None:
    plan = make_plan(
        [], {T: frozenset({"alice", "bob"})},
        {(T, "Alice"): ["access-requests/x/alice-2.yaml", "access-requests/x/alice-1.yaml"],
         (T, "bob"): []},
    )
    assert [(c.principal, c.requests) for c in plan.revocations] == [
        ("alice", ("access-requests/x/alice-1.yaml", "access-requests/x/alice-2.yaml")),
        ("bob", ())]
