"""An Identity Center grant is fully gone only when the role sessions it allowed have expired:
the permission set's SessionDuration, read with DescribePermissionSet through boto3 from moto in
server mode (behind the fault proxy, whose log counts the calls), once per permission set a run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from accessctl.core.model import Target
from accessctl.providers import aws
from accessctl.providers.sessions import DurationRead, read_session_durations

from tests.cli_runner import invoke
from tests.conformance.backends.aws_identity_center import ACCOUNT, IdentityCenterBackend
from tests.servers import aws_faults, moto_server

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_names = itertools.count()


@pytest.fixture(scope="module")
def sso() -> Iterator[IdentityCenterBackend]:
    with moto_server.running() as endpoint, aws_faults.proxy(endpoint) as proxy:
        yield IdentityCenterBackend(endpoint, proxy)


def permission_set(sso: IdentityCenterBackend, duration: str | None) -> tuple[str, str]:
    name = f"Sessions{next(_names)}"
    extra = {"SessionDuration": duration} if duration else {}
    made = sso.sso.create_permission_set(Name=name, InstanceArn=sso.instance_arn, **extra)
    return name, made["PermissionSet"]["PermissionSetArn"]


def on_account(sso: IdentityCenterBackend, permission_set: str, account: str) -> Target:
    return Target.build(sso.instance.name, "aws", "account_assignment",
                        {"account_id": account, "permission_set": permission_set})


def describes(sso: IdentityCenterBackend) -> int:
    return sso.proxy.count("DescribePermissionSet")


def test_moto_keeps_the_session_duration_it_was_given(sso: IdentityCenterBackend) -> None:
    _, arn = permission_set(sso, "PT12H")
    described = sso.sso.describe_permission_set(InstanceArn=sso.instance_arn,
                                                PermissionSetArn=arn)["PermissionSet"]
    assert described["SessionDuration"] == "PT12H"


def test_the_session_duration_is_read_once_per_permission_set(
        sso: IdentityCenterBackend) -> None:
    long_name, _ = permission_set(sso, "PT12H")
    _, short_arn = permission_set(sso, "PT2H")
    unset_name, _ = permission_set(sso, None)
    targets = [on_account(sso, long_name, ACCOUNT), on_account(sso, long_name, "444455556666"),
               on_account(sso, short_arn, ACCOUNT), on_account(sso, unset_name, ACCOUNT)]
    provider = aws.create(sso.instance, {})
    provider.observe(targets)
    seen = describes(sso)

    reads = read_session_durations(lambda _name: provider, targets)
    again = read_session_durations(lambda _name: provider, targets)

    assert describes(sso) == seen  # observe's own answers had them: no call more
    assert reads == again
    assert [reads[t].value for t in targets] == ["PT12H", "PT12H", "PT2H", "PT3600S"]
    # moto answers 3600 (seconds) where AWS would answer its default, PT1H: the same hour.

    fresh = aws.create(sso.instance, {})
    before = describes(sso)
    first = read_session_durations(lambda _name: fresh, [targets[2]])
    assert first[targets[2]] == DurationRead("PT2H")
    assert describes(sso) == before + 1  # by ARN: one DescribePermissionSet, then cached
    read_session_durations(lambda _name: fresh, [targets[2]])
    assert describes(sso) == before + 1


def test_a_permission_set_that_cannot_be_read_is_reported_not_guessed(
        sso: IdentityCenterBackend) -> None:
    target = on_account(sso, sso.instance_arn + "/ps-0000000000000000", ACCOUNT)
    reads = read_session_durations(lambda _name: aws.create(sso.instance, {}), [target])
    assert reads[target].value is None and "ps-0000000000000000" in str(reads[target].error)


def test_plan_says_access_fully_ends_when_the_sessions_have(
        sso: IdentityCenterBackend, tmp_path: Path) -> None:
    name, _ = permission_set(sso, "PT12H")
    user = sso.new_principal()
    (tmp_path / "policies" / "entitlements").mkdir(parents=True)
    (tmp_path / "policies" / "providers.yaml").write_text(
        f"providers:\n  aws-sso:\n    platform: aws\n    region: us-east-1\n"
        f"    endpoint_url: {sso.proxy.url}\n")
    (tmp_path / "policies" / "identities.yaml").write_text(
        f"people:\n  alice: {{aws: {user}}}\n  carol: {{}}\n"
        "teams:\n  \"@acme/security\": [carol]\nadmins: [\"@acme/security\"]\n")
    (tmp_path / "policies" / "entitlements" / "prod-sso.yaml").write_text(
        f"name: prod-sso\nprovider: aws-sso\ntarget:\n  kind: account_assignment\n"
        f"  account_id: '{ACCOUNT}'\n  permission_set: {name}\neligible: [alice]\n"
        "approvers: [\"@acme/security\"]\nmax_duration: 4h\n")
    expires = NOW + timedelta(hours=3)
    (tmp_path / "access-requests" / "prod-sso").mkdir(parents=True)
    (tmp_path / "access-requests" / "prod-sso" / "alice-x.yaml").write_text(
        "requester: alice\nentitlement: prod-sso\nreason: testing\n"
        f"expires_at: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
    environ = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    gone = (expires + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")

    data = invoke("plan", "--format", "json", "--repo", str(tmp_path), environ=environ,
                  now=NOW)
    text = invoke("plan", "--repo", str(tmp_path), environ=environ, now=NOW)

    assert data.code == 0 and text.code == 0, data.err + text.err
    body = data.json()
    [grant] = body["grants"]
    [change] = body["changes"]
    for reported in (grant, change):
        assert reported["fully_ends_by"] == gone
        assert reported["residual"]["after_seconds"] == 12 * 3600
        assert reported["residual"]["exact"] is True
        assert reported["residual"]["why"] == ("sessions last up to 12h after the revoke "
                                               "(permission set SessionDuration PT12H)")
    assert (f"access fully ends by {gone}: sessions last up to 12h after the revoke "
            "(permission set SessionDuration PT12H)") in text.out
    assert "prod-sso: expiry + 12h: sessions last up to 12h after the revoke" in text.out
