"""Identity Center account assignments beyond the conformance suite, on moto in server mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from accessctl.core.model import Action, Change, Status, Target
from accessctl.providers import aws
from accessctl.providers.aws_identity_center import wait_for_request
from accessctl.providers.base import NotFound, ProviderError, principal_key

from tests.conformance.backends.aws_identity_center import ACCOUNT, IdentityCenterBackend
from tests.servers import moto_server


@pytest.fixture(scope="module")
def sso() -> Iterator[IdentityCenterBackend]:
    with moto_server.running() as endpoint:
        yield IdentityCenterBackend(endpoint)


def change(action: Action, target: Target, principal: str) -> Change:
    return Change(action=action, target=target, principal=principal, entitlement="aws-admin",
                  why="test", person="tester",
                  expires_at=datetime.now(UTC) + timedelta(hours=2))


def new_group(sso: IdentityCenterBackend, name: str) -> str:
    group_id: str = sso.store.create_group(IdentityStoreId=sso.store_id,
                                           DisplayName=name)["GroupId"]
    return group_id


# Only USER assignments are the engine's.

def test_group_assignments_are_never_observed_nor_removed(sso: IdentityCenterBackend) -> None:
    target = sso.new_target()
    group_id = new_group(sso, "platform-admins")
    sso.assign(target, "GROUP", group_id)
    user = sso.new_principal()
    provider = aws.create(sso.instance, {})

    assert provider.observe([target])[target] == frozenset()
    assert provider.grant(change(Action.GRANT, target, user)).status is Status.DONE
    assert provider.observe([target])[target] == frozenset({principal_key(user)})
    assert provider.revoke(change(Action.REVOKE, target, user)).status is Status.DONE

    left = sso.assignments(target)
    assert [(a["PrincipalType"], a["PrincipalId"]) for a in left] == [("GROUP", group_id)]


# Permission sets by name or by ARN.

def test_permission_set_by_name_and_by_arn_resolve_the_same(sso: IdentityCenterBackend) -> None:
    name, arn = sso.new_permission_set()
    by_name, by_arn = sso.target(name), sso.target(arn)
    user = sso.new_principal()
    provider = aws.create(sso.instance, {})

    provider.grant(change(Action.GRANT, by_arn, user))
    seen = provider.observe([by_name, by_arn])
    assert seen[by_name] == seen[by_arn] == frozenset({principal_key(user)})
    # Granting through the other spelling finds the same assignment: nothing new is written.
    assert provider.grant(change(Action.GRANT, by_name, user)).status is Status.UNCHANGED
    assert len(sso.assignments(by_name)) == 1


def test_permission_set_name_among_many(sso: IdentityCenterBackend) -> None:
    names = [sso.new_permission_set()[0] for _ in range(3)]
    user = sso.new_principal()
    sso.add_member_out_of_band(sso.target(names[1]), user)
    provider = aws.create(sso.instance, {})
    seen = provider.observe([sso.target(n) for n in names])
    assert [seen[sso.target(n)] for n in names] == [
        frozenset(), frozenset({principal_key(user)}), frozenset()
    ]


def test_unknown_permission_set_arn_is_not_found(sso: IdentityCenterBackend) -> None:
    missing = sso.instance_arn + "/ps-0000000000000000"
    provider = aws.create(sso.instance, {})
    with pytest.raises(NotFound, match="ps-0000000000000000"):
        provider.observe([sso.target(missing)])


# No second create: moto would store a duplicate, so the count on the server tells.

def test_grant_when_already_assigned_creates_nothing(sso: IdentityCenterBackend) -> None:
    target, user = sso.new_target(), sso.new_principal()
    sso.add_member_out_of_band(target, user)
    before = len(sso.assignments(target))
    provider = aws.create(sso.instance, {})

    outcome = provider.grant(change(Action.GRANT, target, user))
    assert outcome.status is Status.UNCHANGED
    assert len(sso.assignments(target)) == before == 1

    # And after a grant of its own, a second grant from a fresh provider (no warm cache).
    other = sso.new_principal()
    assert provider.grant(change(Action.GRANT, target, other)).status is Status.DONE
    again = aws.create(sso.instance, {}).grant(change(Action.GRANT, target, other))
    assert again.status is Status.UNCHANGED
    assert len(sso.assignments(target)) == 2


def test_principal_case_does_not_matter(sso: IdentityCenterBackend) -> None:
    target, user = sso.new_target(), sso.new_principal()
    provider = aws.create(sso.instance, {})
    provider.grant(change(Action.GRANT, target, user))
    assert provider.observe([target])[target] == frozenset({user.casefold()})
    # The same person written in another case maps to the cached id: no second assignment.
    assert provider.grant(change(Action.GRANT, target, user.upper())).status is Status.UNCHANGED
    assert len(sso.assignments(target)) == 1


def test_revoke_of_unknown_user_is_unchanged(sso: IdentityCenterBackend) -> None:
    target = sso.new_target()
    outcome = aws.create(sso.instance, {}).revoke(change(Action.REVOKE, target, "ghost"))
    assert outcome.status is Status.UNCHANGED


def test_grant_to_unknown_user_names_them(sso: IdentityCenterBackend) -> None:
    target = sso.new_target()
    with pytest.raises(NotFound, match="ghost-user"):
        aws.create(sso.instance, {}).grant(change(Action.GRANT, target, "ghost-user"))
    assert sso.assignments(target) == []


# Instance selection.

def test_explicit_instance_arn(sso: IdentityCenterBackend) -> None:
    name, _ = sso.new_permission_set()
    user = sso.new_principal()
    params = {"account_id": ACCOUNT, "permission_set": name, "instance_arn": sso.instance_arn}
    target = Target.build("aws-sso-test", "aws", "account_assignment", params)
    provider = aws.create(sso.instance, {})
    assert provider.grant(change(Action.GRANT, target, user)).status is Status.DONE
    assert sso.members_out_of_band(target) == {principal_key(user)}

    wrong = dict(params, instance_arn="arn:aws:sso:::instance/ssoins-0000000000000000")
    bad = Target.build("aws-sso-test", "aws", "account_assignment", wrong)
    with pytest.raises(NotFound, match="ssoins-0000000000000000"):
        provider.observe([bad])


# One aws instance, two target kinds.

def test_dispatcher_observes_both_kinds_in_one_call(sso: IdentityCenterBackend) -> None:
    iam = moto_server.client("iam", sso.instance.settings["endpoint_url"])
    iam.create_group(GroupName="jit-admins")
    iam.create_user(UserName="iam-alice")
    iam.add_user_to_group(GroupName="jit-admins", UserName="iam-alice")
    group = Target.build("aws-sso-test", "aws", "iam_group", {"group": "jit-admins"})
    assignment, user = sso.new_target(), sso.new_principal()
    sso.add_member_out_of_band(assignment, user)

    provider = aws.create(sso.instance, {})
    assert provider.observe([group, assignment]) == {
        group: frozenset({"iam-alice"}), assignment: frozenset({principal_key(user)}),
    }
    assert not provider.native_expiry(group)
    assert not provider.native_expiry(assignment)


def test_dispatcher_rejects_an_unknown_kind(sso: IdentityCenterBackend) -> None:
    odd = Target.build("aws-sso-test", "aws", "iam_role", {"role": "x"})
    with pytest.raises(ProviderError, match="iam_role"):
        aws.create(sso.instance, {}).observe([odd])


# Polling an asynchronous request: a scripted describe, a fake clock, recorded sleeps.

class Script:
    def __init__(self, *states: str, reason: str | None = None) -> None:
        self.states = list(states)
        self.reason = reason
        self.calls = 0
        self.now = 0.0
        self.slept: list[float] = []

    def describe(self) -> Mapping[str, Any]:
        self.calls += 1
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        status: dict[str, Any] = {"Status": state, "RequestId": "req-1"}
        if self.reason and state == "FAILED":
            status["FailureReason"] = self.reason
        return status

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float = 10.0) -> Callable[[], Mapping[str, Any]]:
        def run() -> Mapping[str, Any]:
            return wait_for_request(self.describe, "assigning x", timeout=timeout,
                                    first_delay=0.5, max_delay=2.0,
                                    sleep=self.sleep, clock=self.clock)
        return run


def test_poll_until_succeeded() -> None:
    script = Script("IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED")
    assert script.wait()()["Status"] == "SUCCEEDED"
    assert script.calls == 3
    assert script.slept == [0.5, 1.0]


def test_poll_succeeded_at_once_does_not_sleep() -> None:
    script = Script("SUCCEEDED")
    script.wait()()
    assert (script.calls, script.slept) == (1, [])


def test_poll_failed_carries_aws_reason_and_is_not_retryable() -> None:
    script = Script("IN_PROGRESS", "FAILED", reason="Received a 404 status error: role quota")
    with pytest.raises(ProviderError, match="role quota") as raised:
        script.wait()()
    assert not raised.value.retryable
    assert script.calls == 2


def test_poll_timeout_is_retryable_and_bounded() -> None:
    script = Script("IN_PROGRESS")
    with pytest.raises(ProviderError, match="still IN_PROGRESS") as raised:
        script.wait(timeout=10.0)()
    assert raised.value.retryable
    assert sum(script.slept) <= 10.0
    assert max(script.slept) == 2.0  # backoff capped at max_delay
    assert script.slept[:3] == [0.5, 1.0, 2.0]


# The target schema the loader validates entitlements with.

SCHEMA = aws.TARGET_SCHEMAS["account_assignment"]


@pytest.mark.parametrize("params", [
    {"account_id": "123456789012", "permission_set": "AdministratorAccess"},
    {"account_id": "012345678901",
     "permission_set": "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef",
     "instance_arn": "arn:aws:sso:::instance/ssoins-1234567890abcdef"},
])
def test_schema_accepts(params: dict[str, str]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(params)


@pytest.mark.parametrize("params", [
    {"account_id": "12345", "permission_set": "Admin"},
    {"account_id": 123456789012, "permission_set": "Admin"},
    {"account_id": "123456789012"},
    {"account_id": "123456789012", "permission_set": "has spaces"},
    {"account_id": "123456789012", "permission_set": "Admin", "instance_arn": "ssoins-1"},
    {"account_id": "123456789012", "permission_set": "Admin", "group": "x"},
])
def test_schema_rejects(params: dict[str, Any]) -> None:
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(params)


def test_every_target_property_is_documented() -> None:
    for kind, schema in aws.TARGET_SCHEMAS.items():
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{kind}.{name}"
            assert prop.get("examples"), f"{kind}.{name}"


def test_permissions_name_every_identity_center_call() -> None:
    for action in ("sso:ListInstances", "sso:ListPermissionSets", "sso:DescribePermissionSet",
                   "sso:ListAccountAssignments", "sso:CreateAccountAssignment",
                   "sso:DeleteAccountAssignment", "sso:DescribeAccountAssignmentCreationStatus",
                   "sso:DescribeAccountAssignmentDeletionStatus", "identitystore:GetUserId",
                   "identitystore:DescribeUser"):
        assert f'"{action}"' in aws.PERMISSIONS
