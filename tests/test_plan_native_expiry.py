"""`plan` says, per change, whether the platform ends it itself or the revoke job must."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from accessctl.emulators.aws import client, moto_server, reset
from accessctl.emulators.gcp import GcpEmulator

from tests.cli_runner import invoke
from tests.repo_fixture import request

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_plan_names_the_expiry_mode_of_each_grant(tmp_path: Path) -> None:
    with moto_server() as aws, GcpEmulator() as gcp:
        reset(aws)
        iam = client("iam", aws)
        iam.create_group(GroupName="prod-admins")
        iam.create_user(UserName="alice")
        gcp.add_project("analytics")
        gcp.add_user("alice@acme.example")
        (tmp_path / "policies" / "entitlements").mkdir(parents=True)
        (tmp_path / "policies" / "providers.yaml").write_text(
            "providers:\n"
            f"  aws-test: {{platform: aws, region: us-east-1, endpoint_url: '{aws}'}}\n"
            f"  gcp-test: {{platform: gcp, endpoint: '{gcp.base_url}/'}}\n")
        (tmp_path / "policies" / "identities.yaml").write_text(
            "people:\n  alice: {aws: alice, gcp: alice@acme.example}\n")
        for name, provider, target in (
            ("prod-admin", "aws-test", "  kind: iam_group\n  group: prod-admins\n"),
            ("data-viewer", "gcp-test",
             "  kind: iam_binding\n  resource: projects/analytics\n  role: roles/viewer\n"),
        ):
            (tmp_path / "policies" / "entitlements" / f"{name}.yaml").write_text(
                f"name: {name}\nprovider: {provider}\ntarget:\n{target}"
                "eligible: [alice]\napprovers: [bob]\nmax_duration: 4h\n"
                "require_reason: false\n")
            folder = tmp_path / "access-requests" / name
            folder.mkdir(parents=True)
            (folder / "alice-x.yaml").write_text(
                request("alice", name, "2026-11-23T12:00:00Z", ticket=""))
        result = invoke("plan", "--repo", str(tmp_path), environ={
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}, now=NOW)
    assert result.code == 0, result.out + result.err
    rows = [line for line in result.out.splitlines() if line.strip().startswith("grant")]
    assert len(rows) == 2, result.out
    expiry = {("aws" if "aws-test" in row else "gcp"): row for row in rows}
    assert "scheduled: the revoke" in expiry["aws"]
    assert "native: the platform" in expiry["gcp"]
