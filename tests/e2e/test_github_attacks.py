"""Invariants 1-6 attacked end to end: GitHub emulator through PyGithub, AWS on moto.

Each test starts from the example of a proper request and applies one attack; the engine must
deny it, say why in words a person can act on, and grant nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from accessctl.emulators.github import GitHubEmulator

from tests.e2e.github_world import REPO, World, hours, stamp
from tests.repo_fixture import request


def denied(world: World, path: str, reason: str) -> None:
    result = world.apply()
    assert result.code == 1, result.err
    events = [e for e in result.events() if e["action"] == "deny"]
    assert [e["request"] for e in events] == [path], result.err
    assert reason in events[0]["error"], events[0]["error"]
    assert "Traceback" not in result.err
    assert world.members() == set()


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_an_approved_request_is_granted_whatever_the_merge_method(world: World,
                                                                  method: str) -> None:
    _path, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number, method)
    result = world.apply()
    assert result.code == 0, result.err
    assert [(e["action"], e["outcome"], e["principal"]) for e in result.events()] == [
        ("grant", "done", "alice")]
    assert world.members() == {"alice"}


def test_self_approval(world: World) -> None:
    _path, number = world.ask("carol", name="carol", author="carol")
    world.approve(number, "carol")
    world.merge(number)
    # carol is not eligible either, but the approval is what must fail first to be explained.
    result = world.apply()
    assert result.code == 1
    assert world.members() == set()


def test_the_requester_never_counts_even_when_eligible_and_owner(world: World) -> None:
    path, number = world.ask("alice")
    world.approve(number, "alice")
    world.merge(number)
    denied(world, path, "requester cannot approve")


def test_approval_by_a_non_owner(world: World) -> None:
    path, number = world.ask("alice")
    world.approve(number, "mallory")
    world.merge(number)
    denied(world, path, "not a code owner")


def test_approval_on_an_older_commit(world: World) -> None:
    path, number = world.ask("alice")
    world.approve(number, "carol")
    world.github.push_to_pull(REPO, number, {path: request("alice", "prod-admin",
                                                           stamp(hours(3.5)))})
    world.merge(number)
    denied(world, path, "earlier commit")


def test_dismissed_approval(world: World) -> None:
    path, number = world.ask("alice")
    review = world.approve(number, "carol")
    world.github.dismiss_review(REPO, number, review)
    world.merge(number)
    denied(world, path, "DISMISSED")


def test_changes_requested_after_approval(world: World) -> None:
    path, number = world.ask("alice")
    world.approve(number, "carol")
    world.approve(number, "carol", "CHANGES_REQUESTED")
    world.merge(number)
    denied(world, path, "CHANGES_REQUESTED")


def test_a_bots_approval(world: World) -> None:
    path, number = world.ask("alice")
    world.github.add_team("acme", "bots", ["helper[bot]"])
    world.approve(number, "helper[bot]")
    world.merge(number)
    denied(world, path, "bots do not approve")


def test_pull_request_that_edits_codeowners_to_add_its_author(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    number = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        ".github/CODEOWNERS": "* @alice\n",
    })
    world.approve(number, "alice")
    world.merge(number)
    denied(world, path, "separate pull requests")


def test_pull_request_that_edits_policies_and_a_request_together(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    policy = (world.workspace / "policies/entitlements/prod-admin.yaml").read_text()
    number = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        "policies/entitlements/prod-admin.yaml": policy.replace(
            'approvers: ["@acme/security"]', 'approvers: ["@acme/security", alice]'),
    })
    world.approve(number, "carol")
    world.merge(number)
    denied(world, path, "separate pull requests")


def test_direct_push_to_main_grants_nothing_and_is_reported(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    world.github.push_direct(REPO, {path: request("alice", "prod-admin", stamp(hours(3)))},
                             author="alice")
    world.sync()
    denied(world, path, "direct push")


def test_pull_request_author_is_not_the_requester(world: World) -> None:
    path, number = world.ask("alice", author="bob")
    world.approve(number, "carol")
    world.merge(number)
    denied(world, path, "opened by bob")


def test_requester_field_forged(world: World) -> None:
    # mallory writes a request in bob's name (file name and field both say bob).
    path, number = world.ask("bob", author="mallory")
    world.approve(number, "carol")
    world.merge(number)
    denied(world, path, "only the requester may open their own request")


def test_window_over_the_maximum_at_merge_time(world: World) -> None:
    # Validation would have refused this; an admin merged it anyway.
    # 4.1 hours after the merge at 09:30; by the 10:00 run it looks like 3.6 hours.
    path, number = world.ask("alice", hours_from_t0=4.6)
    world.approve(number, "carol")
    world.merge(number)
    denied(world, path, "at merge time")


def test_extension_merged_without_fresh_approval(world: World) -> None:
    path, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)
    assert world.apply().code == 0 and world.members() == {"alice"}
    extension = world.propose("alice", {path: request("alice", "prod-admin", stamp(hours(4)))},
                              at=hours(1))
    world.merge(extension, at=hours(1.5))
    result = world.apply(hours(2))
    assert result.code == 1
    deny = [e for e in result.events() if e["action"] == "deny"]
    assert deny and "needs 1 more approval" in deny[0]["error"]
    # The earlier approval covered the earlier window only: the grant is taken back.
    assert world.members() == set()


def test_owner_who_is_not_in_the_approver_team(world: World) -> None:
    owners = world.workspace / ".github" / "CODEOWNERS"
    world.github.push_direct(REPO, {".github/CODEOWNERS": owners.read_text() +
                                    "/access-requests/prod-admin/ @acme/security @mallory\n"},
                             author="dave")
    world.sync()
    path, number = world.ask("alice")
    world.approve(number, "mallory")
    world.merge(number)
    denied(world, path, "not in the entitlement's approvers")


def test_logins_differing_only_in_case(world: World) -> None:
    _path, number = world.ask("alice", name="Alice")
    world.approve(number, "CAROL")
    world.merge(number)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_logins_differing_only_in_case_do_not_make_a_second_person(world: World) -> None:
    path = "access-requests/prod-admin/ALICE-x.yaml"
    number = world.propose("alice", {path: request("ALICE", "prod-admin", stamp(hours(3)))})
    world.approve(number, "alice")
    world.merge(number)
    denied(world, path, "requester cannot approve")


def test_approver_found_past_the_first_page_of_a_large_team(tmp_path: Path,
                                                            aws_endpoint: str) -> None:
    with GitHubEmulator() as github:
        world = World.build(github, aws_endpoint, tmp_path, big_team=140)
        _path, number = world.ask("alice")
        world.approve(number, "carol")
        world.merge(number)
        result = world.apply()
        assert result.code == 0, result.err
        assert world.members() == {"alice"}
        pages = [e for e in github.log if e.path.endswith("/teams/security/members")
                 or ("/team/" in e.path and e.path.endswith("/members"))]
        assert len(pages) >= 2


def test_denial_says_who_could_approve(world: World) -> None:
    _path, number = world.ask("alice")
    world.merge(number)
    result = world.apply()
    assert "@acme/security" in result.err
