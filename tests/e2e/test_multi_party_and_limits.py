"""Multi-party approval and the cap on active grants, end to end: GitHub emulator through
PyGithub, AWS on moto.

prod-admin is made a two-party entitlement on main (by an admin's direct push, as a policy change
would land): one approver from @acme/security and one from @acme/admins. The teams themselves
come from GitHub (their memberships are read through the API, all pages).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.github_world import REPO, World, hours, stamp
from tests.e2e.test_workflow_commands import head_tree, payload, validate
from tests.repo_fixture import request

TWO_PARTY = """\
approvers: ["@acme/security", "@acme/admins"]
approvals: 2
approvers_all_of:
  - ["@acme/security"]
  - ["@acme/admins"]
"""


def two_party(world: World) -> None:
    policy = world.workspace / "policies/entitlements/prod-admin.yaml"
    text = policy.read_text().replace('approvers: ["@acme/security"]\napprovals: 1\n', TWO_PARTY)
    assert "approvers_all_of" in text
    owners = (world.workspace / ".github/CODEOWNERS").read_text().replace(
        "/access-requests/prod-admin/ @acme/security",
        "/access-requests/prod-admin/ @acme/security @acme/admins")
    assert "@acme/admins" in owners
    world.github.push_direct(REPO, {"policies/entitlements/prod-admin.yaml": text,
                                    ".github/CODEOWNERS": owners}, author="dave")
    world.sync()


def test_one_approver_from_each_team_grants(world: World) -> None:
    two_party(world)
    world.github.add_user("erin")
    world.github.add_org_member("acme", "erin")
    world.github.set_team_member("acme", "admins", "erin")
    _path, number = world.ask("alice")
    world.approve(number, "carol")  # security
    world.approve(number, "erin")   # admins
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}
    approve = [e for e in result.events() if e["action"] == "grant"]
    assert [e["outcome"] for e in approve] == ["done"]


def test_one_person_in_both_teams_and_another_from_one_are_two_parties(world: World) -> None:
    two_party(world)
    _path, number = world.ask("alice")
    world.approve(number, "carol")  # security
    world.approve(number, "dave")   # security and admins: counts for the side still missing
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_two_approvers_from_one_team_are_one_party(world: World) -> None:
    two_party(world)
    world.github.add_user("frank")
    world.github.add_org_member("acme", "frank")
    world.github.set_team_member("acme", "security", "frank")
    path, number = world.ask("alice")
    world.approve(number, "carol")
    world.approve(number, "frank")
    world.merge(number)
    denied = world.apply()
    assert denied.code == 1
    events = [e for e in denied.events() if e["action"] == "deny"]
    assert [e["request"] for e in events] == [path]
    assert "@acme/admins" in events[0]["error"], events[0]["error"]
    assert not [e for e in denied.events() if e["action"] == "grant"]
    assert world.members() == set()


def test_the_cap_on_active_grants_shows_on_the_pull_request(world: World,
                                                            tmp_path: Path) -> None:
    identities = world.workspace / "policies/identities.yaml"
    data = yaml.safe_load(identities.read_text())
    data["limits"] = {"max_active_grants": 1}
    world.github.push_direct(REPO, {
        "policies/identities.yaml": yaml.safe_dump(data, sort_keys=False),
        "access-requests/break-glass/alice-held.yaml":
            request("alice", "break-glass", stamp(hours(4))),
    }, author="dave")
    world.sync()
    path, number = world.ask("alice", hours_from_t0=3)
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert result.code == 1, result.out + result.err
    errors = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and f"file={path}" in errors[0], result.out
    assert "max_active_grants" in errors[0]
