"""Long runs show their writes' progress platform by platform on a terminal, nothing when piped
(issue 15, section 4). apply and revoke through the CLI against moto over HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from accessctl.cli import run
from accessctl.core.environment import Environment

from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

TEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
THREE_PM = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
PEOPLE = ("alice", "bob")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def repo(tmp_path: Path, endpoint: str) -> Path:
    moto_server.fresh_iam(moto_server.client("iam", endpoint), ("prod-admins", "break-glass"),
                          PEOPLE)
    return write_repo(tmp_path, endpoint, requests={
        f"access-requests/prod-admin/{who}-inc.yaml": request(who, "prod-admin",
                                                              "2026-11-23T12:00:00Z")
        for who in PEOPLE})


def cli(stderr: io.StringIO, *args: str, now: datetime = TEN,
        environ: dict[str, str] | None = None) -> tuple[int, str]:
    out = io.StringIO()
    env = Environment(stdout=out, stderr=stderr, environ=environ or {}, clock=lambda: now)
    code = run(list(args), env)
    return code, stderr.getvalue()


def test_on_a_terminal_apply_and_revoke_count_their_writes_per_platform(
        repo: Path, tmp_path: Path) -> None:
    audit = str(tmp_path / "audit.jsonl")
    code, err = cli(Terminal(), "apply", "--skip-approval", "--confirm", "--repo", str(repo),
                    "--audit-file", audit)
    assert code == 0, err
    # One line for the instance, its two grants counted to the end.
    assert "aws-test: 2 grants" in err and "2/2" in err, err
    code, err = cli(Terminal(), "revoke", "--confirm", "--repo", str(repo), "--audit-file",
                    audit, now=THREE_PM)
    assert code == 0, err
    assert "aws-test: 2 revokes" in err and "2/2" in err, err


def test_piped_output_and_plain_terminals_get_no_progress(repo: Path, tmp_path: Path) -> None:
    audit = str(tmp_path / "audit.jsonl")
    code, err = cli(io.StringIO(), "apply", "--skip-approval", "--confirm", "--repo",
                    str(repo), "--audit-file", audit)
    assert code == 0, err
    assert "2 grants" not in err and "\x1b[" not in err, err
    code, err = cli(Terminal(), "revoke", "--confirm", "--repo", str(repo), "--audit-file",
                    audit, now=THREE_PM, environ={"TERM": "dumb"})
    assert code == 0, err
    assert "2 revokes" not in err and "\x1b[" not in err, err


def test_a_failed_write_is_counted_on_its_platform_line(repo: Path, tmp_path: Path,
                                                        endpoint: str) -> None:
    # bob's IAM user is gone: his grant fails, alice's is made.
    iam: Any = moto_server.client("iam", endpoint)
    iam.delete_user(UserName="bob")
    code, err = cli(Terminal(), "apply", "--skip-approval", "--confirm", "--repo", str(repo),
                    "--audit-file", str(tmp_path / "audit.jsonl"))
    assert code == 1, err
    assert "2/2" in err and "1 failed" in err, err
