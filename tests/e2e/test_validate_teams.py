"""`validate` on teams nobody can resolve, and on a repository without CODEOWNERS.

A misspelt approver team used to pass validate and fail only when someone needed access.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.github import GitHubEmulator

from tests.cli_runner import invoke
from tests.repo_fixture import write_repo

REPO = "acme/access"


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator() as emulator:
        emulator.add_org("acme")
        for login in ("alice", "bob", "carol"):
            emulator.add_user(login)
        emulator.add_team("acme", "platform", ["alice"])
        emulator.add_repo("acme", "access", files={"README.md": "x\n"}, author="carol")
        yield emulator


def repo_with_approvers(tmp_path: Path, approvers: str) -> Path:
    repo = write_repo(tmp_path)
    entitlement = repo / "policies" / "entitlements" / "prod-admin.yaml"
    entitlement.write_text(entitlement.read_text().replace(
        'approvers: ["@acme/security"]', f"approvers: {approvers}"))
    invoke("codeowners", "--write", "--repo", str(repo))
    return repo


def vcs_env(github: GitHubEmulator, **extra: str) -> dict[str, str]:
    return {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": github.token,
            "GITHUB_API_URL": f"{github.base_url}/api/v3", **extra}


def test_a_team_on_neither_side_is_an_error_when_the_vcs_can_say(
        github: GitHubEmulator, tmp_path: Path) -> None:
    repo = repo_with_approvers(tmp_path, '["@acme/platfrom"]')
    result = invoke("validate", "--repo", str(repo), environ=vcs_env(github))
    assert result.code == 1
    assert ("policies/entitlements/prod-admin.yaml:7:14: error: team @acme/platfrom is neither "
            "in policies/identities.yaml nor a team on GitHub [unknown-team]") in result.out


def test_a_team_that_exists_on_the_vcs_passes(github: GitHubEmulator, tmp_path: Path) -> None:
    repo = repo_with_approvers(tmp_path, '["@acme/platform"]')
    result = invoke("validate", "--repo", str(repo), environ=vcs_env(github))
    assert result.code == 0, result.out


def test_the_workflow_token_alone_is_not_asked_about_teams(github: GitHubEmulator,
                                                          tmp_path: Path) -> None:
    # Under Actions the workflow token cannot read organisation teams: its "not found" would
    # be a false alarm, so only ACCESSCTL_VCS_TOKEN is asked there.
    repo = repo_with_approvers(tmp_path, '["@acme/platfrom"]')
    quiet = invoke("validate", "--repo", str(repo),
                   environ=vcs_env(github, GITHUB_ACTIONS="true"))
    assert quiet.code == 0, quiet.out
    asked = invoke("validate", "--repo", str(repo), environ=vcs_env(
        github, GITHUB_ACTIONS="true", ACCESSCTL_VCS_TOKEN=github.token))
    assert asked.code == 1 and "[unknown-team]" in asked.out


def test_without_a_vcs_a_team_close_to_a_known_one_is_a_likely_typo(tmp_path: Path) -> None:
    repo = repo_with_approvers(tmp_path, '["@acme/securty"]')
    result = invoke("validate", "--repo", str(repo))
    assert result.code == 0, "a warning: the team may exist on the VCS"
    assert ("warning: team @acme/securty is not in policies/identities.yaml, and without a "
            "token that can read teams (ACCESSCTL_VCS_TOKEN) it cannot be checked on the VCS: "
            "did you mean @acme/security? [team-unchecked]") in result.out


def test_a_missing_codeowners_is_a_warning(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    result = invoke("validate", "--repo", str(repo))
    assert result.code == 0
    assert "warning: no CODEOWNERS file" in result.err
    assert "accessctl codeowners --write" in result.err
    invoke("codeowners", "--write", "--repo", str(repo))
    assert "CODEOWNERS" not in invoke("validate", "--repo", str(repo)).err
