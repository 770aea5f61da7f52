"""`accessctl request` writes a valid file at the right path, or nothing at all."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo


def test_writes_a_valid_request_at_the_right_path(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    result = invoke(
        "request",
        "prod-admin",
        "--for",
        "2h",
        "--reason",
        'Fix "checkout" 5xx',
        "--ticket",
        "INC-42",
        "--as",
        "alice",
        "--no-pr",
        "--repo",
        str(repo),
    )
    assert result.code == 0, result.err
    path = repo / "access-requests/prod-admin/alice-inc-42.yaml"
    data = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    assert data == {
        "requester": "alice",
        "entitlement": "prod-admin",
        "reason": 'Fix "checkout" 5xx',
        "ticket": "INC-42",
        "expires_at": "2026-11-23T12:00:00Z",
    }
    assert path.read_text().startswith("# yaml-language-server: $schema=")
    check = invoke("validate", "--repo", str(repo), "--now", "2026-11-23T10:00:00Z")
    assert check.code == 0, check.out


def test_an_invalid_request_writes_nothing(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    result = invoke(
        "request",
        "prod-admin",
        "--for",
        "9h",
        "--reason",
        "x",
        "--ticket",
        "INC-1",
        "--as",
        "alice",
        "--no-pr",
        "--repo",
        str(repo),
    )
    assert result.code == 1
    assert "allows at most 4h" in result.err
    assert not list((repo / "access-requests").rglob("*.yaml"))


def test_a_later_start_counts_the_window_from_the_start(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    result = invoke(
        "request",
        "prod-admin",
        "--for",
        "4h",
        "--reason",
        "night shift",
        "--ticket",
        "INC-7",
        "--start",
        "2026-11-24T22:00:00+01:00",
        "--as",
        "bob",
        "--no-pr",
        "--repo",
        str(repo),
    )
    assert result.code == 0, result.err
    data = yaml.load(
        (repo / "access-requests/prod-admin/bob-inc-7.yaml").read_text(), Loader=yaml.BaseLoader
    )
    assert (data["starts_at"], data["expires_at"]) == (
        "2026-11-24T21:00:00Z",
        "2026-11-25T01:00:00Z",
    )


def test_too_long_is_said_as_written_never_to_the_second(tmp_path: Path) -> None:
    # A clock with a fraction of a second used to make --for 5h "the window is 4h59m59s".
    repo = write_repo(tmp_path)
    result = invoke("request", "prod-admin", "--for", "5h", "--reason", "x", "--ticket",
                    "INC-1", "--as", "alice", "--no-pr", "--repo", str(repo),
                    now=datetime(2026, 11, 23, 10, 0, 0, 600_000, tzinfo=UTC))
    assert result.code == 1
    assert "--for 5h: prod-admin allows at most 4h" in result.err
    assert "59s" not in result.err


def test_a_window_measured_from_now_is_rounded_to_the_minute(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": request(
        "alice", "prod-admin", "2026-11-23T15:00:00Z")})
    result = invoke("validate", "--repo", str(repo),
                    now=datetime(2026, 11, 23, 10, 0, 0, 600_000, tzinfo=UTC))
    assert result.code == 1
    assert "the window is 5h but prod-admin allows at most 4h" in result.out
