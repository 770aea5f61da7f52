"""Invariant 12 on GitLab: an edit merged without review never leaves a grant behind.

The same attacks as on GitHub (tests/e2e/test_orphaned_grants.py), through python-gitlab against
the GitLab emulator and AWS on moto: the requester's second merge request breaks, rewrites,
moves or deletes the granted request; the next run of revoke or apply ends the grant, found from
the default branch's git history.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import Result, invoke
from tests.e2e.gitlab_world import World, hours, stamp
from tests.repo_fixture import request

PATH = "access-requests/prod-admin/alice-x.yaml"
EXPIRES = stamp(hours(3))

EDITS: dict[str, dict[str, str | None]] = {
    "naive expires_at": {PATH: request("alice", "prod-admin", "2026-11-23T09:45:00")},
    "misspelt key": {PATH: request("alice", "prod-admin", EXPIRES).replace("expires_at",
                                                                           "expire_at")},
    "another requester": {PATH: request("bob", "prod-admin", EXPIRES)},
    "moved": {PATH: None, "access-requests/break-glass/alice-x.yaml":
              request("alice", "prod-admin", EXPIRES)},
    "deleted": {PATH: None},
}


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitLabEmulator() as emulator:
        yield World.build(emulator, aws_endpoint, tmp_path)


def sweep(world: World) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--vcs", "gitlab",
                  "--audit-file", str(world.audit_file), environ=world.env, now=hours(1.5))


@pytest.mark.parametrize("command", ["revoke", "apply"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_that_no_longer_backs_the_grant_ends_it(world: World, edit: str,
                                                         command: str) -> None:
    path, iid = world.ask("alice")
    assert path == PATH
    world.approve(iid, "carol")
    world.merge(iid)
    assert world.apply().code == 0
    assert world.members() == {"alice"}
    world.merge(world.propose("alice", EDITS[edit]))
    result = sweep(world) if command == "revoke" else world.apply(hours(1.5))
    assert "Traceback" not in result.err
    assert [(e["action"], e["principal"], e["outcome"]) for e in result.events()
            if e["action"] == "revoke"] == [("revoke", "alice", "done")], result.err
    assert world.members() == set()
