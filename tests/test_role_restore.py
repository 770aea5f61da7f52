"""Invariant 8 where a grant is a role level (GitLab): the engine never takes away, nor stretches,
access it did not give.

bob is a standing Developer of acme/ops (no expiry); he asks for Maintainer for 2 hours. The
grant raises him to Maintainer without writing an expiry onto a membership that is not the
engine's, and the revoke puts Developer back instead of removing him. A Maintainer membership set
elsewhere until 2027-06-01 is left exactly as it is by a 2-hour request for the same role.
Through python-gitlab against the GitLab emulator, with the engine's ledger in a real git
checkout.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import Result, invoke
from tests.git_checkout import commit_tree

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
GROUP = "acme/ops"


@pytest.fixture
def gitlab() -> Iterator[GitLabEmulator]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        emulator.clock = lambda: T0
        emulator.add_group("acme")
        emulator.add_group(GROUP)
        emulator.add_user("bob")
        yield emulator


def repository(root: Path, gitlab: GitLabEmulator) -> Path:
    files = {
        "policies/providers.yaml": (
            f"providers:\n  gitlab-main:\n    platform: gitlab\n    url: {gitlab.base_url}\n"),
        "policies/identities.yaml": (
            "people:\n  bob: {gitlab: bob}\n  carol: {gitlab: carol}\n"
            "teams:\n  \"@acme/security\": [carol]\nadmins: [\"@acme/security\"]\n"),
        "policies/entitlements/ops-maintainer.yaml": (
            "name: ops-maintainer\nprovider: gitlab-main\ntarget:\n  kind: group\n"
            f"  group: {GROUP}\n  access_level: maintainer\neligible: [bob]\n"
            "approvers: [\"@acme/security\"]\napprovals: 1\nmax_duration: 4h\n"),
        "access-requests/ops-maintainer/bob-x.yaml": (
            "requester: bob\nentitlement: ops-maintainer\nreason: release\n"
            "expires_at: 2026-11-23T11:00:00Z\n"),
    }
    commit_tree(root, {path: text.encode() for path, text in files.items()})
    return root


def run(command: str, repo: Path, gitlab: GitLabEmulator, now: datetime) -> Result:
    return invoke(command, "--repo", str(repo), "--confirm", "--skip-approval", "--audit-file",
                  str(repo.parent / "audit.jsonl"), environ={"GITLAB_TOKEN": gitlab.token},
                  now=now)


def held(gitlab: GitLabEmulator) -> tuple[int, str | None] | None:
    member = gitlab.members(GROUP, kind="groups").get("bob")
    return None if member is None else (member.access_level, member.expires_at)


def test_a_raise_is_put_back_not_removed(tmp_path: Path, gitlab: GitLabEmulator) -> None:
    gitlab.add_member(GROUP, "bob", 30, kind="groups")  # standing Developer, no expiry
    repo = repository(tmp_path / "repo", gitlab)
    granted = run("apply", repo, gitlab, T0 + timedelta(minutes=5))
    assert granted.code == 0, granted.err
    assert held(gitlab) == (40, None), "raised to Maintainer, no expiry written onto it"
    ledger = subprocess.run(["git", "-C", str(repo), "cat-file", "blob",
                             "refs/accessctl/ledger/gitlab-main:ledger.json"],
                            check=True, capture_output=True, text=True).stdout
    assert '"access_level": "30"' in ledger
    swept = run("revoke", repo, gitlab, T0 + timedelta(hours=2, minutes=5))
    assert swept.code == 0, swept.err
    [event] = [e for e in swept.events() if e["action"] == "revoke"]
    assert event["outcome"] == "done" and "put back to developer" in event["detail"]
    assert held(gitlab) == (30, None), "Developer again, never removed"


def test_a_membership_set_elsewhere_is_left_as_it_is(tmp_path: Path,
                                                     gitlab: GitLabEmulator) -> None:
    gitlab.add_member(GROUP, "bob", 40, "2027-06-01", kind="groups")
    repo = repository(tmp_path / "repo", gitlab)
    granted = run("apply", repo, gitlab, T0 + timedelta(minutes=5))
    assert granted.code == 0, granted.err
    assert "bob already holds ops-maintainer" in granted.err
    swept = run("revoke", repo, gitlab, T0 + timedelta(hours=2, minutes=5))
    assert [e for e in swept.events() if e["action"] == "revoke"] == []
    assert held(gitlab) == (40, "2027-06-01")


def test_a_grant_from_nothing_still_ends_in_removal(tmp_path: Path,
                                                    gitlab: GitLabEmulator) -> None:
    repo = repository(tmp_path / "repo", gitlab)
    assert run("apply", repo, gitlab, T0 + timedelta(minutes=5)).code == 0
    assert held(gitlab) is not None and held(gitlab)[0] == 40  # type: ignore[index]
    assert run("revoke", repo, gitlab, T0 + timedelta(hours=2, minutes=5)).code == 0
    assert held(gitlab) is None
