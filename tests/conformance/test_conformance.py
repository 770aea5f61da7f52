"""One suite every provider passes, through its real SDK over HTTP to its test server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from accessctl.change.retry import RetryPolicy, call_with_retry
from accessctl.core.model import Action, Change, Status, Target
from accessctl.providers.base import NotFound, ProviderError, principal_key

FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


def change(action: Action, target: Target, principal: str, hours: int = 4) -> Change:
    return Change(
        action=action,
        target=target,
        principal=principal,
        entitlement="conformance",
        why="conformance test",
        person="tester",
        expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours),
        requests=("access-requests/conformance/tester-x.yaml",),
    )


def test_grant_then_observe_then_revoke(backend: Any) -> None:
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    assert provider.observe([target])[target] == frozenset()

    outcome = provider.grant(change(Action.GRANT, target, principal))
    assert outcome.status is Status.DONE
    assert principal_key(principal) in backend.members_out_of_band(target)
    assert provider.observe([target])[target] == frozenset({principal_key(principal)})

    outcome = provider.revoke(change(Action.REVOKE, target, principal))
    assert outcome.status is Status.DONE
    assert backend.members_out_of_band(target) == set()
    assert provider.observe([target])[target] == frozenset()


def test_grant_after_observe_leaves_a_holder_as_it_is(backend: Any) -> None:
    """Providers may act on what their observe just read (the engine plans from it): a holder
    it saw keeps holding (those with native expiry may extend it), and a revoke removes it."""
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    backend.add_member_out_of_band(target, principal)
    assert provider.observe([target])[target] == frozenset({principal_key(principal)})
    outcome = provider.grant(change(Action.GRANT, target, principal))
    assert outcome.status in (Status.UNCHANGED, Status.DONE)
    assert backend.members_out_of_band(target) == {principal_key(principal)}
    outcome = provider.revoke(change(Action.REVOKE, target, principal))
    assert outcome.status is Status.DONE
    assert backend.members_out_of_band(target) == set()


def test_grant_is_idempotent(backend: Any) -> None:
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    provider.grant(change(Action.GRANT, target, principal))
    again = provider.grant(change(Action.GRANT, target, principal))
    assert again.status in (Status.UNCHANGED, Status.DONE)
    assert backend.members_out_of_band(target) == {principal_key(principal)}


def test_revoke_of_absent_member_is_success(backend: Any) -> None:
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    outcome = provider.revoke(change(Action.REVOKE, target, principal))
    assert outcome.status is Status.UNCHANGED
    provider.grant(change(Action.GRANT, target, principal))
    provider.revoke(change(Action.REVOKE, target, principal))
    twice = provider.revoke(change(Action.REVOKE, target, principal))
    assert twice.status is Status.UNCHANGED


def test_revoke_leaves_other_members_alone(backend: Any) -> None:
    provider = backend.provider()
    target = backend.new_target()
    ours, theirs = backend.new_principal(), backend.new_principal()
    backend.add_member_out_of_band(target, theirs)
    provider.grant(change(Action.GRANT, target, ours))
    provider.revoke(change(Action.REVOKE, target, ours))
    assert backend.members_out_of_band(target) == {principal_key(theirs)}


def test_missing_principal_is_a_clear_not_found(backend: Any) -> None:
    provider = backend.provider()
    target, missing = backend.new_target(), backend.missing_principal()
    with pytest.raises(NotFound) as raised:
        provider.grant(change(Action.GRANT, target, missing))
    assert missing.casefold() in str(raised.value).casefold()


def test_missing_target_is_a_clear_error(backend: Any) -> None:
    provider = backend.provider()
    target = backend.missing_target()
    with pytest.raises(ProviderError):
        provider.grant(change(Action.GRANT, target, backend.new_principal()))


def test_observe_pages_past_one_page(backend: Any) -> None:
    provider = backend.provider()
    target = backend.new_target()
    count = backend.page_size() + 3
    principals = [backend.new_principal() for _ in range(count)]
    for principal in principals:
        backend.add_member_out_of_band(target, principal)
    observed = provider.observe([target])[target]
    assert observed == frozenset(principal_key(p) for p in principals)


@pytest.mark.parametrize("kinds", [["429"], ["500"], ["503", "429"]])
def test_transient_faults_are_retryable_and_converge(backend: Any, kinds: list[str]) -> None:
    if not backend.supports_faults:
        pytest.skip(f"{backend.platform}'s test server cannot inject faults")
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    backend.inject(kinds)
    outcome = call_with_retry(
        lambda: provider.grant(change(Action.GRANT, target, principal)), FAST
    )
    assert outcome.status in (Status.DONE, Status.UNCHANGED)
    assert backend.members_out_of_band(target) == {principal_key(principal)}


def test_native_expiry_is_set_where_claimed(backend: Any) -> None:
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    wanted = change(Action.GRANT, target, principal, hours=3)
    outcome = provider.grant(wanted)
    held = backend.native_expiry_out_of_band(target, principal)
    if provider.native_expiry(target):
        assert outcome.native_expiry_set
        assert held is not None
        assert wanted.expires_at is not None
        held_at = datetime.fromisoformat(held.replace("Z", "+00:00"))
        # Day-granular platforms (GitLab) may round to the end of the day, never earlier.
        assert held_at >= wanted.expires_at - timedelta(seconds=1)
        assert held_at - wanted.expires_at <= timedelta(days=1)
    else:
        assert not outcome.native_expiry_set
        assert held is None


def test_a_renamed_holder_is_removed_by_id_and_the_old_name_s_new_holder_stays(
        backend: Any) -> None:
    """People are known by immutable ids. A grant reports the id it went to; after the person
    renames themselves and someone else takes the old name (and holds the target their own
    way), the next run's observe names the id under its new name, and a revoke given the id
    removes that person, never the new holder of the old name."""
    rename = getattr(backend, "rename_out_of_band", None)
    if rename is None:
        pytest.skip(f"{backend.platform}'s test server cannot rename a principal")
    provider = backend.provider()
    target, principal = backend.new_target(), backend.new_principal()
    provider.observe([target])  # the engine plans from an observation first
    granted = provider.grant(change(Action.GRANT, target, principal))
    assert granted.status is Status.DONE
    assert granted.principal_id

    renamed = rename(principal)
    other = rename(backend.new_principal(), principal)  # the old name, someone else's now
    backend.add_member_out_of_band(target, other)

    later = backend.provider()  # the next run
    assert later.observe([target])[target] == frozenset(
        {principal_key(renamed), principal_key(other)})
    ids = later.member_ids(target)
    assert ids[principal_key(renamed)] == granted.principal_id
    assert ids[principal_key(other)] != granted.principal_id
    outcome = later.revoke(Change(Action.REVOKE, target, principal, "conformance",
                                  "conformance test", principal_id=granted.principal_id))
    assert outcome.status is Status.DONE
    assert backend.members_out_of_band(target) == {principal_key(other)}


def test_a_grant_resolves_the_name_to_whoever_has_it_when_the_grant_is_made(
        backend: Any) -> None:
    """Between the request and the apply, the person who had the name renamed themselves and
    another account took it: the grant goes to the name as the platform knows it at that moment,
    and reports that account's id (the one the engine will revoke)."""
    rename = getattr(backend, "rename_out_of_band", None)
    if rename is None:
        pytest.skip(f"{backend.platform}'s test server cannot rename a principal")
    target, name = backend.new_target(), backend.new_principal()
    before = backend.provider()
    before.observe([target])
    moved = rename(name)
    rename(backend.new_principal(), name)
    provider = backend.provider()
    provider.observe([target])
    granted = provider.grant(change(Action.GRANT, target, name))
    assert granted.status is Status.DONE and granted.principal_id
    later = backend.provider()
    assert later.observe([target])[target] == frozenset({principal_key(name)})
    assert later.member_ids(target) == {principal_key(name): granted.principal_id}
    assert principal_key(moved) not in backend.members_out_of_band(target)
