"""People are known by immutable ids: GitLab usernames attacked end to end.

A GitLab user may change their username at any time, and the old one is free at once for anyone
to take. Here the access repository lives on the GitLab emulator, and so does the group the
entitlement grants Maintainer on: alice asks, carol approves, the merge request merges, apply
grants. Then alice renames herself. The engine must still know her (by the user id it recorded
when it granted) and remove her at expiry, and must never remove whoever now answers to the old
name. python-gitlab over HTTP, both for the approvals and for the grant.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from accessctl.approval.codeowners import generate
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.read.load import TreeSource, load_policies

from tests.cli_runner import Result, invoke
from tests.e2e.gitlab_world import CODEOWNERS, World, hours

GROUP = "acme/platform"
ENTITLEMENT = "platform-maintainer"
TOKEN_ENV = "ACCESSCTL_GITLAB_GRANT_TOKEN"
LEDGER = "refs/accessctl/ledger/gitlab-acme"
MAINTAINER = 40


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitLabEmulator() as emulator:
        made = World.build(emulator, aws_endpoint, tmp_path)
        grant_on_gitlab(made)
        yield made


def grant_on_gitlab(world: World) -> None:
    """An admin's change on the default branch: this GitLab as a provider instance, an
    entitlement to Maintainer on acme/platform, GitLab identities for everyone."""
    world.gitlab.add_group(GROUP)
    root = world.workspace
    providers = (root / "policies" / "providers.yaml").read_text() + (
        f"  gitlab-acme:\n    platform: gitlab\n    url: {world.gitlab.base_url}\n"
        f"    token_env: {TOKEN_ENV}\n")
    files = {
        "policies/providers.yaml": providers,
        f"policies/entitlements/{ENTITLEMENT}.yaml": (
            f"name: {ENTITLEMENT}\nprovider: gitlab-acme\n"
            f"target:\n  kind: group\n  group: {GROUP}\n  access_level: maintainer\n"
            'eligible: ["@acme/sre"]\napprovers: ["@acme/security"]\napprovals: 1\n'
            "max_duration: 4h\n"),
        "policies/identities.yaml": "people:\n" + "".join(
            f"  {p}: {{aws: {p}, gitlab: {p}}}\n"
            for p in ("alice", "bob", "carol", "dave", "mallory")) + 'admins: ["@acme/admins"]\n',
    }
    for path, text in files.items():
        (root / path).write_text(text)
    policies, problems = load_policies(TreeSource(root))
    assert policies is not None, problems
    world.on_main({**files, CODEOWNERS: generate(policies)})
    world.env[TOKEN_ENV] = world.gitlab.token


def granted_to_alice(world: World) -> Result:
    _path, iid = world.ask("alice", entitlement=ENTITLEMENT)
    world.approve(iid, "carol")
    world.merge(iid)
    applied = world.apply()
    assert applied.code == 0, applied.err
    assert maintainers(world) == {"alice"}
    return applied


def maintainers(world: World) -> set[str]:
    return {name for name, m in world.gitlab.members(GROUP, kind="groups").items()
            if m.access_level >= MAINTAINER}


def sweep(world: World, now: datetime) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--vcs", "gitlab",
                  "--audit-file", str(world.audit_file), environ=world.env, now=now)


def revokes(result: Result) -> list[tuple[str, str, str | None]]:
    return [(e["outcome"], e["principal"], e.get("principal_id")) for e in result.events()
            if e["action"] == "revoke"]


def ledger(world: World) -> list[dict[str, object]]:
    text = subprocess.run(["git", "-C", str(world.workspace), "cat-file", "blob",
                           f"{LEDGER}:ledger.json"], check=True, capture_output=True).stdout
    return json.loads(text)["entries"]  # type: ignore[no-any-return]


def test_the_grant_records_the_user_id_in_the_ledger_and_the_audit(world: World) -> None:
    applied = granted_to_alice(world)
    alice = str(world.gitlab.user_id("alice"))
    assert [(e["principal"], e.get("principal_id")) for e in applied.events()
            if e["action"] == "grant"] == [("alice", alice)]
    assert [(e["principal"], e["origin"], e["principal_id"]) for e in ledger(world)] == [
        ("alice", "granted", alice)]


def test_a_user_who_renames_after_the_grant_is_still_removed_at_expiry(world: World) -> None:
    granted_to_alice(world)
    alice = str(world.gitlab.user_id("alice"))
    world.gitlab.rename_user("alice", "alice-renamed")
    result = sweep(world, hours(4))
    assert result.code == 0, result.err
    assert revokes(result) == [("done", "alice-renamed", alice)]
    assert maintainers(world) == set()
    # History still names the pair (group, "alice"): the ledger keeps which id that name meant,
    # so that whoever takes the name later is not taken for her.
    assert [(e["principal"], e["origin"], e["principal_id"]) for e in ledger(world)] == [
        ("alice", "ended", alice)]


def test_the_old_username_taken_by_someone_else_is_never_what_is_removed(world: World) -> None:
    granted_to_alice(world)
    alice = str(world.gitlab.user_id("alice"))
    mallory = world.gitlab.user_id("mallory")
    world.gitlab.rename_user("alice", "alice-renamed")
    # mallory takes the free name; she holds the group by hand, not through accessctl.
    world.gitlab.rename_user("mallory", "alice")
    world.gitlab.add_member(GROUP, "alice", MAINTAINER, kind="groups")
    result = sweep(world, hours(4))
    assert revokes(result) == [("done", "alice-renamed", alice)], result.err
    assert maintainers(world) == {"alice"}
    assert world.gitlab.user_id("alice") == mallory
    # She is reported, as anyone the engine does not manage, and left alone by later runs too.
    again = sweep(world, hours(5))
    assert revokes(again) == [] and maintainers(world) == {"alice"}

