"""The auditor's export and the status view, offline (the VCS-backed export is in the e2e)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo


def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-now.yaml":
            request("alice", "prod-admin", "2026-11-23T10:30:00Z", reason="=HYPERLINK(evil)"),
        "access-requests/prod-admin/bob-later.yaml":
            request("bob", "prod-admin", "2026-11-24T12:00:00Z", starts="2026-11-24T09:00:00Z"),
        "access-requests/prod-admin/bob-old.yaml":
            request("bob", "prod-admin", "2026-11-01T12:00:00Z"),
    })


def test_csv_lists_every_request_with_its_state_and_defuses_formulas(tmp_path: Path) -> None:
    result = invoke("report", "--offline", "--repo", str(repo(tmp_path)))
    assert result.code == 0, result.err
    table = list(csv.DictReader(io.StringIO(result.out)))
    states = {r["request"].rsplit("/", 1)[1]: r["state"] for r in table}
    assert states == {"alice-now.yaml": "active", "bob-later.yaml": "pending",
                      "bob-old.yaml": "expired"}
    alice = next(r for r in table if r["requester"] == "alice")
    assert alice["reason"] == "'=HYPERLINK(evil)"
    assert alice["expires_at"] == "2026-11-23T10:30:00Z"


def test_since_filters_out_what_ended_before(tmp_path: Path) -> None:
    result = invoke("report", "--offline", "--format", "json", "--since", "2026-11-20",
                    "--repo", str(repo(tmp_path)))
    names = [r["request"].rsplit("/", 1)[1] for r in json.loads(result.out)["requests"]]
    assert names == ["alice-now.yaml", "bob-later.yaml"]


def test_status_mine_shows_expiring_soon(tmp_path: Path) -> None:
    result = invoke("status", "--mine", "--as", "alice", "--repo", str(repo(tmp_path)))
    assert result.code == 0
    assert result.out.startswith("expiring soon")
    assert "bob" not in result.out


def test_report_without_a_vcs_works_offline_and_says_so(tmp_path: Path) -> None:
    # It used to stop with exit 2: "... --skip-approval is for local testing only", a flag
    # report does not have.
    result = invoke("report", "--format", "json", "--repo", str(repo(tmp_path)))
    assert result.code == 0, result.err
    assert "note: no VCS configured" in result.err
    assert "--skip-approval" not in result.err
    assert len(json.loads(result.out)["requests"]) == 3


def test_an_explicit_vcs_without_its_settings_is_still_a_usage_error(tmp_path: Path) -> None:
    result = invoke("report", "--vcs", "github", "--repo", str(repo(tmp_path)))
    assert result.code == 2
    assert "GITHUB_REPOSITORY" in result.err and "--skip-approval" not in result.err


def test_status_as_json(tmp_path: Path) -> None:
    result = invoke("status", "--format", "json", "--repo", str(repo(tmp_path)))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["summary"] == {"active": 1, "pending": 1, "expiring_soon": 1, "standing": 0}
    first, second = data["requests"]
    assert first == {"request": "access-requests/prod-admin/alice-now.yaml",
                     "requester": "alice", "entitlement": "prod-admin", "state": "active",
                     "expiring_soon": True, "starts_at": None,
                     "expires_at": "2026-11-23T10:30:00Z", "left": "30m",
                     # An IAM group: nothing outlives the revoke but IAM's propagation.
                     "fully_ends_by": "2026-11-23T10:30:00Z", "residual": {
                         "after_seconds": 0, "after": "0m", "exact": True,
                         "ends_sessions": False,
                         "why": "none beyond propagation: IAM evaluates the group's policies "
                                "on every request"}}
    assert (second["state"], second["starts_at"]) == ("pending", "2026-11-24T09:00:00Z")
    assert data["controls"] == {}
    empty = invoke("status", "--format", "json", "--mine", "--as", "carol",
                   "--repo", str(repo(tmp_path / "again")))
    assert json.loads(empty.out)["requests"] == []
