"""A deleted request ends the access early, even when the run for that commit never happened."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def iam(endpoint: str) -> Any:
    return moto_server.fresh_iam(moto_server.client("iam", endpoint),
                                 ("prod-admins", "break-glass"), ("alice", "bob"))


def members(iam: Any) -> set[str]:
    return {u["UserName"] for u in iam.get_group(GroupName="prod-admins")["Users"]}


def test_a_skipped_run_loses_nothing(tmp_path: Path, endpoint: str, iam: Any) -> None:
    path = "access-requests/prod-admin/alice-inc.yaml"
    repo = write_repo(tmp_path, endpoint, requests={
        path: request("alice", "prod-admin", "2026-11-23T13:00:00Z")})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.test", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "grant")
    applied = git(repo, "rev-parse", "HEAD")
    audit = str(tmp_path / "audit.jsonl")
    first = invoke("apply", "--skip-approval", "--repo", str(repo), "--confirm",
                   "--audit-file", audit, now=TEN)
    assert first.code == 0, first.err
    assert members(iam) == {"alice"}
    assert first.events()[0]["commit"] == applied

    # Alice ends her access early by deleting the file; the run for that commit is dropped,
    # and another commit lands after it.
    (repo / path).unlink()
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qam", "end")
    (repo / "notes.txt").write_text("unrelated\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.test", "add", "notes.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "-qm", "other")

    # Without --since the engine still knows the grant was its own: git history names it
    # (invariant 12), so a first run, a lost ref or a fresh checkout loses nothing either.
    caught = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", audit, now=TEN)
    assert caught.code == 0, caught.err
    assert [(e["action"], e["principal"], e["outcome"]) for e in caught.events()] == [
        ("revoke", "alice", "done")]
    assert members(iam) == set()


def test_an_unknown_revision_is_a_configuration_error(tmp_path: Path, endpoint: str) -> None:
    repo = write_repo(tmp_path, endpoint)
    git(repo, "init", "-q", "-b", "main")
    result = invoke("revoke", "--repo", str(repo), "--since", "deadbeef", now=TEN)
    assert result.code == 2
    assert "git rev-parse" in result.err and "Traceback" not in result.err
