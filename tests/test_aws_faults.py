"""AWS answers moto never gives, through boto3 over HTTP: throttling and 5xx as AWS sends them
(IAM's query protocol and Identity Center's JSON protocol), and Identity Center's asynchronous
assignment requests going IN_PROGRESS before SUCCEEDED or FAILED. A fault-injecting proxy of ours
(tests/servers/aws_faults.py) stands in front of moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from accessctl.change.retry import RetryPolicy, call_with_retry
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.providers import aws
from accessctl.providers.base import ProviderError, principal_key

from tests.conformance.backends.aws_identity_center import IdentityCenterBackend
from tests.servers import aws_faults, moto_server

FAST = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.05, max_retry_after=0.05)


@pytest.fixture(scope="module")
def sso() -> Iterator[IdentityCenterBackend]:
    with moto_server.running() as endpoint, aws_faults.proxy(endpoint) as proxy:
        yield IdentityCenterBackend(endpoint, proxy)


@pytest.fixture(autouse=True)
def clean(sso: IdentityCenterBackend) -> Iterator[None]:
    yield
    sso.proxy.script.clear()
    sso.proxy.assignment_paths.clear()


def change(action: Action, target: Target, principal: str) -> Change:
    return Change(action=action, target=target, principal=principal, entitlement="aws-admin",
                  why="test", person="tester",
                  expires_at=datetime.now(UTC) + timedelta(hours=2))


def iam_target(sso: IdentityCenterBackend) -> tuple[Target, str, aws.AwsProvider]:
    iam = moto_server.client("iam", sso.proxy.upstream)
    name = f"g-{len(iam.list_groups()['Groups'])}"
    iam.create_group(GroupName=name)
    user = f"u-{name}"
    iam.create_user(UserName=user)
    instance = ProviderInstance("aws-test", "aws",
                                {"endpoint_url": sso.proxy.url, "region": "us-east-1"})
    return Target.build("aws-test", "aws", "iam_group", {"group": name}), user, \
        aws.create(instance, {})


@pytest.mark.parametrize("kind,code", [("throttle", "Throttling"), ("500", "InternalFailure"),
                                       ("503", "ServiceUnavailable")])
def test_iam_throttling_and_server_errors_are_retryable(sso: IdentityCenterBackend, kind: str,
                                                       code: str) -> None:
    target, user, provider = iam_target(sso)
    sso.proxy.script = [kind]
    before = sso.proxy.count("AddUserToGroup")
    with pytest.raises(ProviderError, match=code) as raised:
        provider.grant(change(Action.GRANT, target, user))
    assert raised.value.retryable
    # One write, one answer: boto3's own retries are off, the engine's loop is the only one.
    assert sso.proxy.count("AddUserToGroup") - before <= 1
    sso.proxy.script = [kind, kind]
    outcome = call_with_retry(lambda: provider.grant(change(Action.GRANT, target, user)), FAST)
    assert outcome.status is Status.DONE


def test_identity_center_throttling_is_retryable(sso: IdentityCenterBackend) -> None:
    target, user = sso.new_target(), sso.new_principal()
    provider = sso.provider()
    sso.proxy.script = ["throttle"]
    with pytest.raises(ProviderError, match="ThrottlingException") as raised:
        provider.grant(change(Action.GRANT, target, user))
    assert raised.value.retryable
    sso.proxy.script = ["throttle", "500", "throttle"]
    outcome = call_with_retry(lambda: provider.grant(change(Action.GRANT, target, user)), FAST)
    assert outcome.status is Status.DONE
    assert sso.members_out_of_band(target) == {principal_key(user)}


def test_identity_center_in_progress_is_polled_until_succeeded(
    sso: IdentityCenterBackend
) -> None:
    target, user = sso.new_target(), sso.new_principal()
    provider = sso.provider()
    sso.proxy.assignment_paths = [("IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED")]
    before = sso.proxy.count("DescribeAccountAssignmentCreationStatus")
    outcome = provider.grant(change(Action.GRANT, target, user))
    assert outcome.status is Status.DONE
    assert sso.proxy.count("DescribeAccountAssignmentCreationStatus") - before == 2
    assert sso.members_out_of_band(target) == {principal_key(user)}

    sso.proxy.assignment_paths = [("IN_PROGRESS", "SUCCEEDED")]
    outcome = provider.revoke(change(Action.REVOKE, target, user))
    assert outcome.status is Status.DONE
    assert sso.proxy.count("DescribeAccountAssignmentDeletionStatus") >= 1
    assert sso.members_out_of_band(target) == set()


def test_identity_center_failed_is_a_failure_with_aws_reason(sso: IdentityCenterBackend) -> None:
    target, user = sso.new_target(), sso.new_principal()
    provider = sso.provider()
    sso.proxy.assignment_paths = [("IN_PROGRESS", "FAILED")]
    sso.proxy.failure_reason = "Received a 404 status error: the role quota is exhausted"
    with pytest.raises(ProviderError, match="role quota is exhausted") as raised:
        provider.grant(change(Action.GRANT, target, user))
    assert not raised.value.retryable
    assert sso.members_out_of_band(target) == set()
