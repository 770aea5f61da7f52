"""`accessctl request` -> pull request -> approval -> merge -> apply -> report, on the emulators.

The GitHub emulator speaks the REST API but not git's own protocol, so `git push` goes to a bare
repository on disk and the test mirrors the pushed branch into the emulator, as GitHub's git
server would; the pull request itself is opened by the command through the API.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

from accessctl.commands.request import render
from accessctl.core.timestamps import parse_timestamp

from tests.cli_runner import invoke
from tests.e2e.github_world import REPO, T0, World, hours

GIT = ["git", "-c", "user.name=alice", "-c", "user.email=alice@example.test"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_request_opens_the_pull_request_and_the_approved_access_is_granted(
    world: World, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    clone = world.workspace
    git(clone, "init", "-q", "-b", "main")
    # The requester's own git identity, as on their machine (CI machines may have none).
    git(clone, "config", "user.name", "alice")
    git(clone, "config", "user.email", "alice@example.test")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "--allow-empty", "-m", "main")
    git(clone, "remote", "add", "origin", str(origin))
    git(clone, "push", "-q", "origin", "main")

    # The command pushes the branch, then opens the pull request through the API. The emulator
    # is not a git server: seed the branch there with the content the command writes, as
    # GitHub's git side would hold it after the push.
    path = "access-requests/prod-admin/alice-inc-42.yaml"
    content = render("alice", "prod-admin", "Fix checkout", "INC-42", None,
                     parse_timestamp("2026-11-23T11:00:00Z"))
    world.github.commit(REPO, "access/alice-inc-42", {path: content}, author="alice")
    world.github.add_token("alice-token", "alice")
    made = invoke("request", "prod-admin", "--for", "2h", "--reason", "Fix checkout",
                  "--ticket", "INC-42", "--repo", str(clone),
                  environ={**world.env, "GITHUB_TOKEN": "alice-token"}, now=T0)
    assert made.code == 0, made.err
    assert "opened http" in made.out
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "access/alice-inc-42"
    pushed = subprocess.run(["git", "-C", str(origin), "show",
                             f"access/alice-inc-42:{path}"], check=True, capture_output=True,
                            text=True).stdout
    assert pushed == content

    store = world.github.repo(REPO)
    (number, pull), = store.pulls.items()
    assert pull.user == "alice" and pull.head_ref == "access/alice-inc-42"
    assert "@acme/security" in pull.body

    world.approve(number, "carol")
    world.merge(number, "squash")
    applied = world.apply(hours(0.6))
    assert applied.code == 0, applied.err
    assert world.members() == {"alice"}

    report = invoke("report", "--repo", str(world.workspace), "--format", "csv",
                    environ=world.env, now=hours(0.7))
    assert report.code == 0, report.err
    row, = list(csv.DictReader(io.StringIO(report.out)))
    assert (row["requester"], row["state"], row["approvers"], row["ticket"]) == (
        "alice", "active", "carol", "INC-42")
    assert row["pull_request"].endswith(f"/pull/{number}")
