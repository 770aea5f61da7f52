"""Invariant 12 attacked end to end: a grant the engine made stays the engine's to end.

A requester whose approved request was granted edits the file "to end early" in a second pull
request, merged without review (ending early needs nobody's approval). Whatever the edit does
to the file (breaks it, renames a key, names another person or entitlement, moves it, deletes
it, moves the expiry earlier), the grant ends at the next run, of `revoke` and of `apply`
alike, found from git history, without `--since`. GitHub emulator through PyGithub, AWS on moto.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.e2e.test_workflow_commands import head_tree, payload, validate
from tests.repo_fixture import request

PATH = "access-requests/prod-admin/alice-x.yaml"
EXPIRES = stamp(hours(3))

EDITS: dict[str, dict[str, str | None]] = {
    "naive expires_at": {PATH: request("alice", "prod-admin", "2026-11-23T09:45:00")},
    "misspelt key": {PATH: request("alice", "prod-admin", EXPIRES).replace("expires_at",
                                                                           "expire_at")},
    "YAML syntax error": {PATH: request("alice", "prod-admin", EXPIRES) + "reason: [\n"},
    "another entitlement": {PATH: request("alice", "break-glass", EXPIRES)},
    "unknown entitlement": {PATH: request("alice", "no-such-thing", EXPIRES)},
    "another requester": {PATH: request("bob", "prod-admin", EXPIRES)},
    "moved to another directory": {
        PATH: None, "access-requests/break-glass/alice-x.yaml":
        request("alice", "prod-admin", EXPIRES)},
    "moved and rewritten": {
        PATH: None, "access-requests/break-glass/alice-x.yaml":
        request("alice", "break-glass", EXPIRES)},
    "earlier expiry": {PATH: request("alice", "prod-admin", stamp(hours(1.2)))},
    "deleted": {PATH: None},
    "window too long": {PATH: request("alice", "prod-admin", stamp(hours(30)))},
}


def granted(world: World) -> None:
    path, number = world.ask("alice")
    assert path == PATH
    world.approve(number, "carol")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def sweep(world: World, now: datetime) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"), environ=world.env, now=now)


def edit_unreviewed(world: World, files: dict[str, str | None]) -> None:
    number = world.propose("alice", files, at=hours(1.1))
    world.merge(number, at=hours(1.2))


@pytest.mark.parametrize("command", ["revoke", "apply"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_that_no_longer_backs_the_grant_ends_it(world: World, edit: str,
                                                         command: str) -> None:
    granted(world)
    edit_unreviewed(world, EDITS[edit])
    now = hours(1.5)  # well before the approved expiry
    result = sweep(world, now) if command == "revoke" else world.apply(now)
    assert "Traceback" not in result.err
    revokes = [(e["action"], e["principal"], e["outcome"]) for e in result.events()
               if e["action"] == "revoke"]
    assert revokes == [("revoke", "alice", "done")], result.err
    assert world.members() == set()
    # And it stays ended: nothing re-grants it on the next run.
    again = world.apply(hours(1.6))
    assert "Traceback" not in again.err
    assert world.members() == set()


def test_another_approved_request_keeps_the_pair(world: World) -> None:
    granted(world)
    second = "access-requests/prod-admin/alice-y.yaml"
    number = world.propose("alice", {second: request("alice", "prod-admin", stamp(hours(3.5)))},
                           at=hours(0.6))
    world.approve(number, "carol")
    world.merge(number, at=hours(0.8))
    assert world.apply(hours(0.9)).code == 0
    edit_unreviewed(world, EDITS["YAML syntax error"])
    for result in (sweep(world, hours(1.5)), world.apply(hours(1.5))):
        assert [e for e in result.events() if e["action"] == "revoke"] == [], result.err
        assert world.members() == {"alice"}


def test_an_unapproved_extension_still_needs_approval(world: World) -> None:
    granted(world)
    edit_unreviewed(world, {PATH: request("alice", "prod-admin", stamp(hours(3.5)))})
    result = world.apply(hours(1.5))
    assert result.code == 1
    assert [(e["action"], e["outcome"]) for e in result.events()
            if e["action"] in ("deny", "revoke")] == [("deny", "denied"), ("revoke", "done")]
    assert world.members() == set()


def test_history_finds_the_grant_in_a_fresh_checkout(world: World) -> None:
    """The engine's memory of its grants is the default branch's history, not a ref or a file
    left by an earlier run: a clone made now (full history) ends an orphaned grant too."""
    import subprocess

    granted(world)
    edit_unreviewed(world, EDITS["naive expires_at"])
    fresh = world.workspace.parent / "fresh-clone"
    subprocess.run(["git", "clone", "-q", str(world.workspace), str(fresh)], check=True)
    result = invoke("revoke", "--repo", str(fresh), "--confirm", "--audit-file",
                    str(world.workspace.parent / "other-audit.jsonl"), environ=world.env,
                    now=hours(1.5))
    assert [(e["action"], e["principal"]) for e in result.events()] == [("revoke", "alice")]
    assert world.members() == set()


@pytest.mark.parametrize("edit, why", [
    ("naive expires_at", "the file no longer loads"),
    ("misspelt key", "the file no longer loads"),
    ("another requester", "the file now asks for prod-admin for bob"),
    ("another entitlement", "the file now asks for break-glass for alice"),
    ("window too long", "the file is no longer a valid request"),
    ("deleted", "the file is deleted"),
    ("moved to another directory", "the file is deleted"),
])
def test_validate_says_what_the_edit_does(world: World, tmp_path: Path, edit: str,
                                          why: str) -> None:
    granted(world)
    number = world.propose("alice", EDITS[edit], at=hours(1.1))
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert "Traceback" not in result.err
    said = "this edit ends alice's access to prod-admin at the next revoke run"
    comment = world.github.comments(REPO, number)[0]
    assert said in comment and why in comment, comment
    assert f"::notice file={PATH}" in result.out and said in result.out, result.out


def test_validate_says_when_an_earlier_expiry_ends_it(world: World, tmp_path: Path) -> None:
    granted(world)
    number = world.propose("alice", EDITS["earlier expiry"], at=hours(0.05))
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert result.code == 0, result.out + result.err
    comment = world.github.comments(REPO, number)[0]
    assert (f"this edit ends alice's access to prod-admin at {stamp(hours(1.2))} instead of "
            f"{EXPIRES}") in comment


def test_a_new_request_or_an_extension_says_nothing_of_ending(world: World,
                                                             tmp_path: Path) -> None:
    granted(world)
    number = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3.5)))})
    validate(world, payload("pull_request.opened", tmp_path, number=number),
             head_tree(world, number, tmp_path))
    assert "ends alice's access" not in world.github.comments(REPO, number)[0]
