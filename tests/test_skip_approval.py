"""`--skip-approval` grants without verified approval: it is for a laptop, never for CI.

It is refused whenever the CLI's environment says it runs in CI, and everywhere else it warns
and marks every audit event of the run. Detection reads the environment the CLI is given (the
injected Environment), so these tests hold on a CI machine too; the last one checks that with
`CI=true` in this process's own environment.
"""

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
WARNING = "warning: --skip-approval: approval was not verified"


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


def repository(tmp_path: Path, endpoint: str) -> Path:
    return write_repo(tmp_path, endpoint, requests={
        "access-requests/prod-admin/alice-x.yaml":
            request("alice", "prod-admin", "2026-11-23T12:00:00Z")})


@pytest.mark.parametrize("command", ["apply", "revoke"])
@pytest.mark.parametrize(("name", "value"), [
    ("CI", "true"), ("GITHUB_ACTIONS", "true"), ("GITLAB_CI", "true"), ("CI", "1"),
    ("CI", "woodpecker"),
])
def test_refused_in_ci(tmp_path: Path, endpoint: str, iam: Any, command: str, name: str,
                       value: str) -> None:
    repo = repository(tmp_path, endpoint)
    audit = tmp_path / "audit.jsonl"
    result = invoke(command, "--skip-approval", "--repo", str(repo), "--confirm",
                    "--audit-file", str(audit), environ={name: value}, now=TEN)
    assert result.code == 2, result.out + result.err
    assert result.err == (
        f"accessctl: --skip-approval is refused in CI ({name}={value} is set): it would grant "
        "without verified approval; CI verifies approvals from the pull request's reviews\n")
    assert members(iam) == set(), "nothing is granted"
    # Nothing but the stop-commands guard lines (under GitHub Actions) reaches stdout.
    assert not audit.exists() and result.events() == []


@pytest.mark.parametrize("value", ["false", "0", ""])
def test_a_ci_variable_that_says_no_is_not_ci(tmp_path: Path, endpoint: str, iam: Any,
                                              value: str) -> None:
    repo = repository(tmp_path, endpoint)
    result = invoke("apply", "--skip-approval", "--repo", str(repo), "--confirm",
                    "--audit-file", str(tmp_path / "a.jsonl"), environ={"CI": value}, now=TEN)
    assert result.code == 0, result.err
    assert members(iam) == {"alice"}


def test_warned_and_audited_outside_ci(tmp_path: Path, endpoint: str, iam: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # This process may run on a CI machine: the CLI must judge by the environment it is given.
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITLAB_CI", "true")
    repo = repository(tmp_path, endpoint)
    audit = tmp_path / "audit.jsonl"
    granted = invoke("apply", "--skip-approval", "--repo", str(repo), "--confirm",
                     "--audit-file", str(audit), environ={}, now=TEN)
    assert granted.code == 0, granted.err
    assert members(iam) == {"alice"}
    assert WARNING in granted.err
    assert [(e["action"], e["outcome"], e["approval_skipped"]) for e in granted.events()] == [
        ("grant", "done", True)]

    revoked = invoke("revoke", "--skip-approval", "--repo", str(repo), "--confirm",
                     "--audit-file", str(audit), environ={}, now=THREE_PM)
    assert revoked.code == 0, revoked.err
    assert members(iam) == set()
    assert WARNING in revoked.err, "revoke warns too"
    assert [(e["action"], e["approval_skipped"]) for e in revoked.events()] == [
        ("revoke", True)]
    # Every line of the file, the ones written before each platform write included.
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [(e["action"], e["outcome"]) for e in lines] == [
        ("grant", "started"), ("grant", "done"), ("revoke", "started"), ("revoke", "done")]
    assert all(e["approval_skipped"] is True for e in lines)


def test_runs_without_the_flag_keep_their_lines(tmp_path: Path, endpoint: str,
                                                iam: Any) -> None:
    """The field is written only when true: lines of normal runs keep their shape."""
    repo = repository(tmp_path, endpoint)
    iam.add_user_to_group(GroupName="prod-admins", UserName="alice")
    audit = tmp_path / "audit.jsonl"
    revoked = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", str(audit),
                     environ={"CI": "true"}, now=THREE_PM)
    assert revoked.code == 0, revoked.err
    assert "--skip-approval" not in revoked.err
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["action"] for e in lines] == ["revoke", "revoke"]
    assert not [e for e in lines if "approval_skipped" in e]


def test_hidden_from_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke("apply", "--help").code == 0
    shown = capsys.readouterr().out  # click writes help to the process's own stdout
    assert "--confirm" in shown and "--skip-approval" not in shown
