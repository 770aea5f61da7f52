"""apply and revoke through the CLI, against moto in server mode over HTTP (invariants 7 and 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THREE_PM = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def iam(endpoint: str) -> Any:
    return moto_server.fresh_iam(moto_server.client("iam", endpoint),
                                 ("prod-admins", "break-glass"),
                                 ("alice", "bob", "carol", "standing"))


def members(iam: Any, group: str) -> set[str]:
    return {u["UserName"] for u in iam.get_group(GroupName=group)["Users"]}


def test_apply_grants_then_revoke_removes_at_expiry(
    tmp_path: Path, endpoint: str, iam: Any
) -> None:
    repo = write_repo(
        tmp_path,
        endpoint,
        requests={
            "access-requests/prod-admin/alice-inc.yaml": request(
                "alice", "prod-admin", "2026-11-23T12:00:00Z"
            ),
            "access-requests/prod-admin/bob-later.yaml": request(
                "bob", "prod-admin", "2026-11-23T14:00:00Z", starts="2026-11-23T11:00:00Z"
            ),
        },
    )
    iam.add_user_to_group(GroupName="prod-admins", UserName="standing")
    audit = tmp_path / "audit.jsonl"

    dry = invoke(
        "apply", "--skip-approval", "--repo", str(repo), "--audit-file", str(audit), now=TEN
    )
    assert dry.code == 0, dry.err
    assert members(iam, "prod-admins") == {"standing"}, "dry-run must change nothing"
    assert "approval was not verified" in dry.err
    assert not audit.exists()

    done = invoke(
        "apply",
        "--skip-approval",
        "--repo",
        str(repo),
        "--confirm",
        "--audit-file",
        str(audit),
        "--commit",
        "abc123",
        now=TEN,
    )
    assert done.code == 0, done.err
    assert members(iam, "prod-admins") == {"standing", "alice"}
    events = done.events()
    assert [(e["action"], e["outcome"], e["principal"], e["commit"]) for e in events] == [
        ("grant", "done", "alice", "abc123")
    ]
    written = [json.loads(line) for line in audit.read_text().splitlines()]
    # The file also holds the line written just before the platform write (for crash recovery).
    assert [(e["action"], e["outcome"]) for e in written] == [("grant", "started"),
                                                              ("grant", "done")]
    assert written[1:] == events

    # Running it again changes nothing: converged.
    again = invoke(
        "apply",
        "--skip-approval",
        "--repo",
        str(repo),
        "--confirm",
        "--audit-file",
        str(audit),
        now=TEN,
    )
    assert again.code == 0 and again.events() == []

    # At 15:00 both have ended; the revoke sweep removes ours, never the standing member.
    sweep = invoke(
        "revoke", "--repo", str(repo), "--confirm", "--audit-file", str(audit), now=THREE_PM
    )
    assert sweep.code == 0, sweep.err
    assert members(iam, "prod-admins") == {"standing"}
    assert [(e["action"], e["principal"]) for e in sweep.events()] == [("revoke", "alice")]
    # The revoke's audit line names the request that had granted it.
    assert sweep.events()[0]["request"] == "access-requests/prod-admin/alice-inc.yaml"
    assert [json.loads(line)["outcome"] for line in audit.read_text().splitlines()] == [
        "started", "done", "started", "done"]


def test_revoke_never_grants(tmp_path: Path, endpoint: str, iam: Any) -> None:
    repo = write_repo(
        tmp_path,
        endpoint,
        requests={
            "access-requests/prod-admin/alice-inc.yaml": request(
                "alice", "prod-admin", "2026-11-23T12:00:00Z"
            )
        },
    )
    result = invoke(
        "revoke",
        "--repo",
        str(repo),
        "--confirm",
        "--audit-file",
        str(tmp_path / "a.jsonl"),
        now=TEN,
    )
    assert result.code == 0
    assert members(iam, "prod-admins") == set()


def test_overlapping_request_is_not_cut_short_by_the_sweep(
    tmp_path: Path, endpoint: str, iam: Any
) -> None:
    repo = write_repo(
        tmp_path,
        endpoint,
        requests={
            "access-requests/prod-admin/alice-short.yaml": request(
                "alice", "prod-admin", "2026-11-23T11:00:00Z"
            ),
            "access-requests/prod-admin/alice-long.yaml": request(
                "alice", "prod-admin", "2026-11-23T13:00:00Z", starts="2026-11-23T09:30:00Z"
            ),
        },
    )
    audit = str(tmp_path / "a.jsonl")
    invoke(
        "apply", "--skip-approval", "--repo", str(repo), "--confirm", "--audit-file", audit, now=TEN
    )
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    sweep = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", audit, now=noon)
    assert sweep.events() == []
    assert members(iam, "prod-admins") == {"alice"}


def test_a_missing_user_fails_that_change_only(tmp_path: Path, endpoint: str, iam: Any) -> None:
    repo = write_repo(
        tmp_path,
        endpoint,
        requests={
            "access-requests/prod-admin/alice-x.yaml": request(
                "alice", "prod-admin", "2026-11-23T12:00:00Z"
            ),
            "access-requests/break-glass/bob-x.yaml": request(
                "bob", "break-glass", "2026-11-23T12:00:00Z"
            ),
        },
    )
    iam.delete_user(UserName="bob")
    try:
        result = invoke(
            "apply",
            "--skip-approval",
            "--repo",
            str(repo),
            "--confirm",
            "--audit-file",
            str(tmp_path / "a.jsonl"),
            now=TEN,
        )
        assert result.code == 1
        outcomes = {(e["principal"], e["outcome"]) for e in result.events()}
        assert outcomes == {("alice", "done"), ("bob", "failed")}
        failed = next(e for e in result.events() if e["outcome"] == "failed")
        assert "bob" in failed["error"]
        assert "Traceback" not in result.err
    finally:
        iam.create_user(UserName="bob")


def test_unreachable_platform_is_reported_and_exits_1(tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path,
        "http://127.0.0.1:9",
        requests={
            "access-requests/prod-admin/alice-x.yaml": request(
                "alice", "prod-admin", "2026-11-23T12:00:00Z"
            )
        },
    )
    result = invoke("plan", "--repo", str(repo), now=TEN)
    assert result.code == 1
    assert "unreachable: aws-test" in result.out


def test_reconcile_removes_unbacked_members_only_on_exclusive_entitlements(
    tmp_path: Path, endpoint: str, iam: Any
) -> None:
    repo = write_repo(tmp_path, endpoint, exclusive=True, requests={
        "access-requests/break-glass/alice-x.yaml":
            request("alice", "break-glass", "2026-11-23T12:00:00Z")})
    for user in ("alice", "bob", "carol", "standing"):
        iam.add_user_to_group(GroupName="break-glass", UserName=user)
    iam.add_user_to_group(GroupName="prod-admins", UserName="standing")
    audit = str(tmp_path / "a.jsonl")
    report = invoke("reconcile", "--repo", str(repo), "--audit-file", audit, now=TEN)
    assert report.code == 1  # three of four is over the 25% cap: refused, nothing removed
    assert "exceeds the cap" in report.err
    assert members(iam, "break-glass") == {"alice", "bob", "carol", "standing"}
    refused = invoke("reconcile", "--repo", str(repo), "--confirm", "--audit-file", audit, now=TEN)
    assert refused.code == 1
    assert members(iam, "break-glass") == {"alice", "bob", "carol", "standing"}
    done = invoke("reconcile", "--repo", str(repo), "--confirm", "--removal-cap", "0.8",
                  "--audit-file", audit, now=TEN)
    assert done.code == 0, done.err
    assert members(iam, "break-glass") == {"alice"}
    # The non-exclusive entitlement's standing member is reported as drift, never removed.
    assert members(iam, "prod-admins") == {"standing"}
    assert "drift: aws-test:iam_group(group=prod-admins): standing" in done.out
