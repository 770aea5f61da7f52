"""`plan` at scale: counts by default, every row with --verbose, everything with --format json.

Before, plan printed a row per request and per desired grant: at 10,000 requests that table
was 88% of the command's time (7x validate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from accessctl.emulators.aws import client, moto_server, reset

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REQUESTS = {
    "access-requests/prod-admin/alice-a.yaml": request("alice", "prod-admin",
                                                       "2026-11-23T12:00:00Z"),
    "access-requests/prod-admin/bob-b.yaml": request("bob", "prod-admin",
                                                     "2026-11-23T09:00:00Z"),
    "access-requests/break-glass/alice-c.yaml": request(
        "alice", "break-glass", "2026-11-24T12:00:00Z", starts="2026-11-24T09:00:00Z"),
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path, requests=REQUESTS)


def test_default_plan_counts_requests_by_entitlement_and_state(repo: Path) -> None:
    result = invoke("plan", "--offline", "--repo", str(repo), now=NOW)
    assert result.code == 0, result.err
    assert "Requests: 3 (1 pending, 1 active, 1 expired)" in result.out
    rows = {line.split()[0]: line.split()[1:] for line in result.out.splitlines()
            if line.startswith("  ") and line.split()[0] in ("prod-admin", "break-glass")}
    # columns: pending, active, expired, grants
    assert rows == {"break-glass": ["1", "0", "0", "0"], "prod-admin": ["0", "1", "1", "1"]}
    assert "Desired grants now: 1" in result.out
    assert "alice-a.yaml" not in result.out  # no row per request


def test_verbose_plan_lists_every_request_and_grant(repo: Path) -> None:
    result = invoke("plan", "--offline", "--verbose", "--repo", str(repo), now=NOW)
    assert result.code == 0, result.err
    for path in REQUESTS:
        assert path.rsplit("/", 1)[1] in result.out
    assert "Desired grants now (1)" in result.out


def test_json_plan_holds_everything(repo: Path) -> None:
    result = invoke("plan", "--offline", "--format", "json", "--repo", str(repo), now=NOW)
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert list(body) == ["requests", "grants", "changes", "summary"]
    assert {r["file"]: r["state"] for r in body["requests"]} == {
        "access-requests/prod-admin/alice-a.yaml": "active",
        "access-requests/prod-admin/bob-b.yaml": "expired",
        "access-requests/break-glass/alice-c.yaml": "pending"}
    assert [(g["person"], g["entitlement"]) for g in body["grants"]] == [
        ("alice", "prod-admin")]
    assert body["changes"] == [] and body["summary"]["offline"] is True
    assert body["summary"]["by_state"] == {"pending": 1, "active": 1, "expired": 1}


def test_online_plan_lists_the_changes_in_full(tmp_path: Path) -> None:
    with moto_server() as aws:
        reset(aws)
        iam = client("iam", aws)
        for group in ("prod-admins", "break-glass"):
            iam.create_group(GroupName=group)
        for user in ("alice", "bob", "carol"):
            iam.create_user(UserName=user)
        iam.add_user_to_group(GroupName="prod-admins", UserName="bob")
        repo = write_repo(tmp_path, aws, requests=REQUESTS)
        environ = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        text = invoke("plan", "--repo", str(repo), environ=environ, now=NOW)
        data = invoke("plan", "--format", "json", "--repo", str(repo), environ=environ,
                      now=NOW)
    assert text.code == 0, text.err
    changes = [line.split()[:3] for line in text.out.splitlines()
               if line.strip().startswith(("grant", "revoke"))]
    assert sorted(c[0] + " " + c[2] for c in changes) == ["grant alice", "revoke bob"]
    body = json.loads(data.out)
    assert sorted((c["action"], c["principal"]) for c in body["changes"]) == [
        ("grant", "alice"), ("revoke", "bob")]
    assert body["summary"]["changes"] == {"grant": 1, "revoke": 1}
