"""Invariant 8 attacked end to end: a just-in-time grant never takes standing access away.

bob is a standing member of prod-admins (put there by hand, not by accessctl). He asks for
prod-admin for 3 hours; it is approved and merged; apply finds him there already; at expiry the
sweep must leave him there. The engine's ledger (refs/accessctl/ledger/<instance>) is what
remembers that it found him there. GitHub emulator through PyGithub, AWS IAM on moto.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import World, hours

LEDGER = "refs/accessctl/ledger/aws-test"


def sweep(world: World, now: datetime, **environ: str) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"), environ={**world.env, **environ},
                  now=now)


def approved(world: World, requester: str) -> None:
    _path, number = world.ask(requester)
    world.approve(number, "carol")
    world.merge(number)


def ledger(world: World) -> dict[str, object]:
    text = subprocess.run(["git", "-C", str(world.workspace), "cat-file", "blob",
                           f"{LEDGER}:ledger.json"], check=True, capture_output=True).stdout
    return json.loads(text)  # type: ignore[no-any-return]


def test_standing_membership_survives_the_expiry_of_a_jit_request(world: World) -> None:
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="bob")
    approved(world, "bob")
    applied = world.apply()
    assert applied.code == 0, applied.err
    assert [e for e in applied.events() if e["action"] in ("grant", "revoke")] == []
    assert "bob already holds prod-admin" in applied.err
    assert "standing access, not managed by accessctl" in applied.err
    entries = ledger(world)["entries"]
    assert [(e["principal"], e["origin"]) for e in entries] == [("bob", "standing")]  # type: ignore[attr-defined]

    expired = hours(4)
    for result in (sweep(world, expired), world.apply(expired)):
        assert [e for e in result.events() if e["action"] == "revoke"] == [], result.err
        assert world.members() == {"bob"}


def test_status_shows_the_standing_access_the_engine_found(world: World) -> None:
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="bob")
    approved(world, "bob")
    approved(world, "alice")
    applied = world.apply()
    assert applied.code == 0, applied.err
    assert world.members() == {"alice", "bob"}, applied.err
    text = invoke("status", "--repo", str(world.workspace), environ=world.env, now=hours(1))
    assert text.code == 0, text.err
    standing = [line for line in text.out.splitlines() if line.startswith("standing")]
    assert len(standing) == 1 and "bob holds aws-test:iam_group(group=prod-admins)" in \
        standing[0] and "never revoked" in standing[0], text.out
    data = json.loads(invoke("status", "--repo", str(world.workspace), "--format", "json",
                             environ=world.env, now=hours(1)).out)
    assert [(h["principal"], h["instance"]) for h in data["standing"]] == [("bob", "aws-test")]
    assert data["summary"]["standing"] == 1  # alice's grant is the engine's: not standing


def test_a_grant_the_engine_made_still_ends(world: World) -> None:
    """The same flow for alice, who was not a member: the ledger says the engine granted it."""
    approved(world, "alice")
    assert world.apply().code == 0
    assert world.members() == {"alice"}
    entries = ledger(world)["entries"]
    assert [(e["principal"], e["origin"]) for e in entries] == [("alice", "granted")]  # type: ignore[attr-defined]
    result = sweep(world, hours(4))
    assert [(e["action"], e["principal"]) for e in result.events()] == [("revoke", "alice")]
    assert world.members() == set()
    # The removal is remembered while the platform's listing may still show it (eventual
    # consistency), then dropped by the next run that sees the member gone.
    entries = ledger(world)["entries"]
    assert [(e["principal"], e["origin"]) for e in entries] == [("alice", "revoked")]  # type: ignore[attr-defined]
    again = sweep(world, hours(4))
    assert [e for e in again.events() if e["action"] == "revoke"] == []
    assert ledger(world)["entries"] == []


def test_standing_ends_when_the_person_leaves_and_a_later_grant_is_the_engines(
        world: World) -> None:
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="bob")
    approved(world, "bob")
    assert world.apply().code == 0
    # An admin removes bob's standing membership while his request is still live: the next
    # apply grants it, and that grant is the engine's to end.
    world.iam.remove_user_from_group(GroupName="prod-admins", UserName="bob")
    again = world.apply(hours(1.5))
    assert [(e["action"], e["outcome"]) for e in again.events()] == [("grant", "done")]
    assert sweep(world, hours(4)).code == 0
    assert world.members() == set()


def _forge_standing(world: World, principal: str) -> None:
    """What anyone with push access can do: write the ledger ref by hand."""
    repo = str(world.workspace)
    forged = json.dumps({"version": 1, "instance": "aws-test", "entries": [
        {"target": "aws-test:iam_group(group=prod-admins)", "principal": principal,
         "origin": "standing", "at": "2026-11-23T09:00:00Z", "requests": [],
         "expires_at": None}]}).encode()
    blob = subprocess.run(["git", "-C", repo, "hash-object", "-w", "--stdin"], input=forged,
                          check=True, capture_output=True).stdout.decode().strip()
    tree = subprocess.run(["git", "-C", repo, "mktree"], check=True, capture_output=True,
                          input=f"100644 blob {blob}\tledger.json\n".encode()
                          ).stdout.decode().strip()
    commit = subprocess.run(["git", "-C", repo, "-c", "user.name=m", "-c",
                             "user.email=m@example.test", "commit-tree", tree, "-m", "forged"],
                            check=True, capture_output=True).stdout.decode().strip()
    subprocess.run(["git", "-C", repo, "update-ref", LEDGER, commit], check=True)


def test_a_forged_ledger_is_ignored_when_the_ledger_is_signed(world: World) -> None:
    key = {"ACCESSCTL_LEDGER_KEY": "s3cret-held-by-the-apply-job-only"}
    approved(world, "alice")
    granted = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                     str(world.workspace.parent / "audit.jsonl"), environ={**world.env, **key},
                     now=hours(1))
    assert granted.code == 0 and world.members() == {"alice"}
    assert "signature" in ledger(world)
    _forge_standing(world, "alice")  # alice claims she was there before: keep me forever
    result = sweep(world, hours(4), **key)
    assert "not trusted" in result.err and "signature" in result.err
    assert [(e["action"], e["principal"]) for e in result.events()] == [("revoke", "alice")]
    assert world.members() == set()


def test_a_lost_ledger_never_turns_a_grant_into_standing_access(world: World) -> None:
    approved(world, "alice")
    assert world.apply().code == 0
    repo = str(world.workspace)
    # The engine has run here before (the workflows keep refs/accessctl/applied), but its
    # ledger is gone: alice, present and wanted, must not be taken for standing access.
    subprocess.run(["git", "-C", repo, "update-ref", "refs/accessctl/applied", "HEAD"],
                   check=True)
    subprocess.run(["git", "-C", repo, "update-ref", "-d", LEDGER], check=True)
    again = world.apply(hours(1.5))
    assert "already holds" not in again.err
    assert [(e["principal"], e["origin"]) for e in ledger(world)["entries"]] == [  # type: ignore[attr-defined]
        ("alice", "unknown")]
    assert sweep(world, hours(4)).code == 0
    assert world.members() == set()


def test_the_ledger_is_pushed_before_any_platform_write(world: World) -> None:
    origin = world.workspace.parent / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    approved(world, "alice")
    remote = {"ACCESSCTL_LEDGER_REMOTE": str(origin)}
    result = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                    str(world.workspace.parent / "audit.jsonl"), environ={**world.env, **remote},
                    now=hours(1))
    assert result.code == 0, result.err
    listed = subprocess.run(["git", "-C", str(origin), "for-each-ref", LEDGER], check=True,
                            capture_output=True, text=True).stdout
    assert LEDGER in listed
    # A remote that refuses the push stops the run before the platform is touched.
    approved(world, "bob")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refs/accessctl/* is protected' >&2\nexit 1\n")
    hook.chmod(0o755)
    refused = invoke("apply", "--repo", str(world.workspace), "--confirm", "--audit-file",
                     str(world.workspace.parent / "audit.jsonl"),
                     environ={**world.env, **remote}, now=hours(1))
    assert refused.code == 2 and "could not be pushed" in refused.err, refused.err
    assert "Traceback" not in refused.err
    assert world.members() == {"alice"}
