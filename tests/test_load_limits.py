"""Size limits: policy files that grow with the organisation get larger ones than requests."""

from __future__ import annotations

import os
from pathlib import Path

from accessctl.read.load import (
    IDENTITIES_FILE,
    MemorySource,
    TreeSource,
    load_policies,
    load_repository,
)

from tests.repo_fixture import ENTITLEMENT, PROVIDERS, request, write_repo

GOOD = request("alice", "prod-admin", "2026-11-23T12:00:00Z")


def identities(people: int) -> str:
    lines = ["people:"]
    lines += [f"  user-{i:05d}: {{aws: user-{i:05d}}}" for i in range(people)]
    lines.append("teams:")
    for team in range(0, people, 100):
        members = ", ".join(f"user-{i:05d}" for i in range(team, min(team + 100, people)))
        lines.append(f'  "@acme/team-{team // 100:03d}": [{members}]')
    lines.append('admins: ["@acme/team-000"]')
    return "\n".join(lines) + "\n"


def policy_files(identities_text: str) -> dict[str, str]:
    return {
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        IDENTITIES_FILE: identities_text,
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="prod-admins", exclusive="false"),
    }


def test_an_identities_file_for_5000_people_loads() -> None:
    text = identities(5000)
    assert len(text) > 200_000  # more values than a request may hold, by far
    policies, findings = load_policies(MemorySource(policy_files(text)))
    assert findings == []
    assert policies is not None
    assert len(policies.people) == 5000
    assert policies.people["user-04999"].accounts == {"aws": "user-04999"}
    assert policies.teams["@acme/team-049"] == frozenset(f"user-{i:05d}" for i in range(4900, 5000))


def test_requests_keep_their_small_limits(tmp_path: Path) -> None:
    # 5,000 keys are fine in identities.yaml but far too many for a request file.
    body = "".join(f"k{i}: v\n" for i in range(12_000))
    write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": body})
    loaded = load_repository(TreeSource(tmp_path))
    assert [f.code for f in loaded.findings] == ["yaml-too-large"]


def test_a_symlinked_directory_is_refused_and_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "alice-x.yaml").write_text(GOOD)
    repo = write_repo(tmp_path / "repo")
    (repo / "access-requests" / "prod-admin").symlink_to(outside, target_is_directory=True)
    source = TreeSource(repo)
    loaded = load_repository(source)
    assert [(f.code, f.location.path) for f in loaded.findings] == [
        ("symlink", "access-requests/prod-admin")]
    assert loaded.requests == []
    assert source.read("access-requests/prod-admin/alice-x.yaml") is None


def test_a_symlinked_requests_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "prod-admin"
    outside.mkdir(parents=True)
    (outside / "alice-x.yaml").write_text(GOOD)
    repo = write_repo(tmp_path / "repo")
    (repo / "access-requests").rmdir()
    (repo / "access-requests").symlink_to(outside.parent, target_is_directory=True)
    loaded = load_repository(TreeSource(repo))
    assert [(f.code, f.location.path) for f in loaded.findings] == [
        ("symlink", "access-requests")]
    assert loaded.requests == []


def test_reads_stay_inside_the_root_and_on_regular_files(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(GOOD)
    repo = write_repo(tmp_path / "repo", requests={
        "access-requests/prod-admin/alice-x.yaml": GOOD})
    (repo / "access-requests" / "prod-admin" / "alice-link.yaml").symlink_to(
        tmp_path / "secret.yaml")
    os.mkfifo(repo / "access-requests" / "prod-admin" / "alice-fifo.yaml")
    source = TreeSource(repo)
    assert source.read("access-requests/prod-admin/alice-x.yaml") == GOOD.encode()
    for path in ("../secret.yaml", "access-requests/../../secret.yaml",
                 str(tmp_path / "secret.yaml"),
                 "access-requests/prod-admin/alice-link.yaml",
                 "access-requests/prod-admin/alice-fifo.yaml", "access-requests/prod-admin",
                 "access-requests/prod-admin/nope.yaml"):
        assert source.read(path) is None, path
    assert source.list("access-requests") == ["access-requests/prod-admin/alice-x.yaml"]
    assert sorted(f.location.path for f in source.refused) == [
        "access-requests/prod-admin/alice-link.yaml"]


def test_listing_is_sorted_by_path_segment(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/a-b/alice-x.yaml": GOOD, "access-requests/a/alice-x.yaml": GOOD,
        "access-requests/a/alice-a.yaml": GOOD})
    assert TreeSource(repo).list("access-requests") == [
        "access-requests/a/alice-a.yaml", "access-requests/a/alice-x.yaml",
        "access-requests/a-b/alice-x.yaml"]
