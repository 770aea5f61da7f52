"""The commit a merged GitLab merge request is judged by comes from the local clone when the
clone has it (real git repositories here), and from GitLab's API when it does not."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.approval.vcs import local_git
from accessctl.approval.vcs.gitlab import GitLabVcs
from accessctl.emulators.gitlab import GitLabEmulator


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@x",
                           "-c", "init.defaultBranch=main", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", name)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: A - C - M (a merge of feature: A - B)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    shas = {"A": commit(repo, "a")}
    git(repo, "checkout", "-q", "-b", "feature")
    shas["B"] = commit(repo, "b")
    git(repo, "checkout", "-q", "main")
    shas["C"] = commit(repo, "c")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "feature")
    shas["M"] = git(repo, "rev-parse", "HEAD")
    return repo, shas


def test_parents_come_first_parent_first(history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history
    assert local_git.parents(repo, shas["M"]) == (shas["C"], shas["B"])
    assert local_git.parents(repo, shas["C"]) == (shas["A"],)
    assert local_git.parents(repo, shas["A"]) == ()


def test_what_the_clone_cannot_say_is_none(history: tuple[Path, dict[str, str]],
                                           tmp_path: Path) -> None:
    repo, shas = history
    assert local_git.parents(repo, "f" * 40) is None  # not in this clone
    assert local_git.parents(repo, "--all") is None  # never reaches git's command line
    assert local_git.parents(repo, shas["M"][:12]) is None  # only full SHAs
    assert local_git.parents(tmp_path, shas["M"]) is None  # no clone here
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-local", f"file://{repo}",
                    str(shallow)], check=True, capture_output=True)
    # The shallow clone has M but not its parents: git would call it a root commit.
    assert local_git.parents(shallow, shas["M"]) is None


@pytest.fixture
def emulator() -> Iterator[GitLabEmulator]:
    with GitLabEmulator() as started:
        assert isinstance(started, GitLabEmulator)
        started.add_group("acme")
        started.add_project("acme/access", {"README.md": "# access\n"})
        yield started


def test_the_adapter_asks_the_api_only_for_what_the_clone_lacks(
        history: tuple[Path, dict[str, str]], emulator: GitLabEmulator) -> None:
    repo, shas = history
    vcs = GitLabVcs("acme/access", emulator.token, emulator.base_url, checkout=repo)
    emulator.log.clear()
    assert vcs._commit_parents(shas["M"]) == (shas["C"], shas["B"])
    assert not [e for e in emulator.log if "/repository/commits/" in e.path]
    on_gitlab = emulator.push_direct("acme/access", {"x": "1"})
    parent = emulator.projects[emulator.project_id("acme/access")].commits[on_gitlab].parents
    assert vcs._commit_parents(on_gitlab) == tuple(parent)
    assert [e.path for e in emulator.log if "/repository/commits/" in e.path] == [
        f"/api/v4/projects/{emulator.project_id('acme/access')}/repository/commits/{on_gitlab}"]


def test_an_approval_is_of_the_head_the_merge_request_had_when_it_was_given() -> None:
    from datetime import UTC, datetime

    from accessctl.approval.vcs.gitlab import head_when

    def at(minute: int) -> datetime:
        return datetime(2026, 11, 23, 9, minute, tzinfo=UTC)

    # H pushed at :00, X at :10, H again at :20 (a force push back), H reloaded at :30.
    versions = [(at(0), "H"), (at(10), "X"), (at(20), "H"), (at(30), "H")]
    assert head_when(versions, at(5)) == "H"
    assert head_when(versions, at(15)) == "X"  # approved X: not the final H
    assert head_when(versions, at(25)) == "H"
    assert head_when(versions, at(35)) == "H"  # a new version of the same head changes nothing
    assert head_when(versions, at(10)) == "H"  # the same instant as a push: the earlier head
    assert head_when(versions, at(0)) is None  # before the first version
