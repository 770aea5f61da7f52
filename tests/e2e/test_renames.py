"""People are known by immutable ids: GitHub logins and IAM user names attacked end to end.

The access repository lives on the GitHub emulator; one entitlement grants membership of the
GitHub team acme/platform (on that same emulator, through PyGithub), the other the IAM group
prod-admins (moto, through boto3). A GitHub user may change their login at any time, and an AWS
administrator may rename an IAM user (UpdateUser); in both cases the old name is free for anyone
to take. The engine records the id it granted to (GitHub's numeric user id, IAM's UserId), and
must end exactly that person's access, whatever they are called by then.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from accessctl.approval.codeowners import generate
from accessctl.emulators.github import GitHubEmulator
from accessctl.read.load import TreeSource, load_policies

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours

TEAM = "platform"
ENTITLEMENT = "platform-team"
PEOPLE = ("alice", "bob", "carol", "dave", "mallory")


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitHubEmulator() as github:
        made = World.build(github, aws_endpoint, tmp_path)
        grant_on_github(made)
        yield made


def grant_on_github(world: World) -> None:
    """An admin's change on the default branch: this GitHub as a provider instance, an
    entitlement to the team acme/platform, GitHub identities for everyone."""
    world.github.add_team("acme", TEAM)
    root = world.workspace
    providers = (root / "policies" / "providers.yaml").read_text() + (
        f"  github-acme:\n    platform: github\n    base_url: {world.github.api}\n"
        "    write_interval: 0\n")
    files = {
        "policies/providers.yaml": providers,
        f"policies/entitlements/{ENTITLEMENT}.yaml": (
            f"name: {ENTITLEMENT}\nprovider: github-acme\n"
            f"target:\n  kind: team\n  org: acme\n  team: {TEAM}\n"
            'eligible: ["@acme/sre"]\napprovers: ["@acme/security"]\napprovals: 1\n'
            "max_duration: 4h\n"),
        "policies/identities.yaml": "people:\n" + "".join(
            f"  {p}: {{aws: {p}, github: {p}}}\n" for p in PEOPLE) + 'admins: ["@acme/admins"]\n',
    }
    for path, text in files.items():
        (root / path).write_text(text)
    policies, problems = load_policies(TreeSource(root))
    assert policies is not None, problems
    world.github.push_direct(REPO, {**files, ".github/CODEOWNERS": generate(policies)},
                             author="dave")
    world.sync()


def granted(world: World, entitlement: str, requester: str = "alice") -> Result:
    _path, number = world.ask(requester, entitlement=entitlement)
    world.approve(number, "carol")
    world.merge(number)
    applied = world.apply()
    assert applied.code == 0, applied.err
    return applied


def team(world: World) -> set[str]:
    return set(world.github.team_members("acme", TEAM))


def sweep(world: World, now: datetime) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"), environ=world.env, now=now)


def changes(result: Result) -> list[tuple[str, str, str, str | None]]:
    return [(e["action"], e["outcome"], e["principal"], e.get("principal_id"))
            for e in result.events() if e["action"] in ("grant", "revoke")]


def ledger(world: World, instance: str) -> list[dict[str, object]]:
    text = subprocess.run(["git", "-C", str(world.workspace), "cat-file", "blob",
                           f"refs/accessctl/ledger/{instance}:ledger.json"],
                          check=True, capture_output=True).stdout
    return json.loads(text)["entries"]  # type: ignore[no-any-return]


def iam_id(world: World, name: str) -> str:
    return str(world.iam.get_user(UserName=name)["User"]["UserId"])


@pytest.fixture
def iam_names(world: World) -> Iterator[None]:
    """moto's IAM is shared by every test of the process: put the names back afterwards."""
    yield
    users = {u["UserName"] for u in world.iam.list_users()["Users"]}
    for name in sorted(users - set(PEOPLE)):
        for group in world.iam.list_groups_for_user(UserName=name)["Groups"]:
            world.iam.remove_user_from_group(GroupName=group["GroupName"], UserName=name)
        world.iam.delete_user(UserName=name)
    for name in PEOPLE:
        if name not in users:
            world.iam.create_user(UserName=name)


# -- GitHub ---------------------------------------------------------------------------------------
def test_a_github_user_who_renames_after_the_grant_is_still_removed(world: World) -> None:
    applied = granted(world, ENTITLEMENT)
    alice = str(world.github.accounts["alice"].id)
    assert changes(applied) == [("grant", "done", "alice", alice)]
    assert [(e["principal"], e["principal_id"]) for e in ledger(world, "github-acme")] == [
        ("alice", alice)]
    world.github.rename_user("alice", "alice-renamed")
    result = sweep(world, hours(4))
    assert result.code == 0, result.err
    assert changes(result) == [("revoke", "done", "alice-renamed", alice)]
    assert team(world) == set()
    # Due when her request expired, under whatever name: the lag is measured from there.
    (event,) = [e for e in result.events() if e["action"] == "revoke"]
    assert (event["expires_at"], event["lag_seconds"]) == ("2026-11-23T12:00:00Z", 3600)


def test_the_old_github_login_taken_by_someone_else_is_left_alone(world: World) -> None:
    granted(world, ENTITLEMENT)
    alice = str(world.github.accounts["alice"].id)
    world.github.rename_user("alice", "alice-renamed")
    world.github.rename_user("mallory", "alice")  # mallory takes the free login
    world.github.set_team_member("acme", TEAM, "alice")  # and holds the team her own way
    result = sweep(world, hours(4))
    assert changes(result) == [("revoke", "done", "alice-renamed", alice)], result.err
    assert team(world) == {"alice"}
    assert sweep(world, hours(5)).code == 0 and team(world) == {"alice"}


# -- IAM ------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("iam_names")
def test_an_iam_user_renamed_after_the_grant_is_still_removed(world: World) -> None:
    applied = granted(world, "prod-admin")
    alice = iam_id(world, "alice")
    assert changes(applied) == [("grant", "done", "alice", alice)]
    world.iam.update_user(UserName="alice", NewUserName="alice.renamed")
    result = sweep(world, hours(4))
    assert changes(result) == [("revoke", "done", "alice.renamed", alice)], result.err
    assert world.members() == set()


@pytest.mark.usefixtures("iam_names")
def test_an_iam_name_reused_by_another_user_is_never_what_is_removed(world: World) -> None:
    granted(world, "prod-admin")
    alice, mallory = iam_id(world, "alice"), iam_id(world, "mallory")
    world.iam.update_user(UserName="alice", NewUserName="alice.renamed")
    world.iam.update_user(UserName="mallory", NewUserName="alice")
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="alice")  # by hand
    result = sweep(world, hours(4))
    assert changes(result) == [("revoke", "done", "alice.renamed", alice)], result.err
    assert world.members() == {"alice"} and iam_id(world, "alice") == mallory


@pytest.mark.usefixtures("iam_names")
def test_an_iam_rename_while_the_grant_is_live_is_still_the_grant(world: World) -> None:
    """Before expiry, apply sees the renamed member as the grant it made: it neither grants the
    old name again (nobody answers to it now) nor counts the new name as someone else's."""
    granted(world, "prod-admin")
    world.iam.update_user(UserName="alice", NewUserName="alice.renamed")
    again = world.apply(hours(2))
    assert again.code == 0, again.err
    assert changes(again) == []
    assert world.members() == {"alice.renamed"}
    assert sweep(world, hours(4)).code == 0 and world.members() == set()


@pytest.mark.usefixtures("iam_names")
def test_a_rename_between_request_and_apply_grants_whoever_has_the_name_then(
        world: World) -> None:
    """The id is resolved when the grant is made, by the name identities.yaml gives: here the
    IAM user alice had when she asked was renamed and a new user alice made before apply ran.
    The new user is granted and recorded; the old one is never touched, then or at expiry."""
    _path, number = world.ask("alice", entitlement="prod-admin")
    world.approve(number, "carol")
    world.merge(number)
    old = iam_id(world, "alice")
    world.iam.update_user(UserName="alice", NewUserName="alice.old")
    world.iam.add_user_to_group(GroupName="prod-admins", UserName="alice.old")  # standing
    world.iam.create_user(UserName="alice")
    new = iam_id(world, "alice")
    applied = world.apply()
    assert changes(applied) == [("grant", "done", "alice", new)], applied.err
    assert [(e["principal"], e["principal_id"]) for e in ledger(world, "aws-test")] == [
        ("alice", new)]
    world.iam.update_user(UserName="alice", NewUserName="alice.new")
    result = sweep(world, hours(4))
    assert changes(result) == [("revoke", "done", "alice.new", new)], result.err
    assert world.members() == {"alice.old"} and iam_id(world, "alice.old") == old
