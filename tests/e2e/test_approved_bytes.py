"""Invariants 1, 5 and 11 attacked end to end: what is granted is byte for byte what was
approved, judged where the merge landed, found from git history rather than commit dates.

GitHub emulator through PyGithub (its commits carry real git IDs, and the checkout is a clone of
its default branch: tests/git_checkout.py), AWS IAM on moto.
"""

from __future__ import annotations

from tests.e2e.github_world import REPO, World, hours, stamp
from tests.repo_fixture import request

PATH = "access-requests/prod-admin/alice-x.yaml"


def denied_naming(world: World, reason: str, *commits: str) -> str:
    result = world.apply()
    assert result.code == 1, result.err
    events = [e for e in result.events() if e["action"] == "deny"]
    assert [e["request"] for e in events] == [PATH], result.err
    error = events[0]["error"]
    assert reason in error, error
    for commit in commits:
        assert commit[:12] in error, (commit, error)
    assert "Traceback" not in result.err
    assert world.members() == set()
    return str(error)


def granted_earlier(world: World) -> None:
    """alice's request, approved and merged, as the starting point (not applied yet)."""
    _path, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)


def main_sha(world: World) -> str:
    sha = world.github.ref(REPO, "refs/heads/main")
    assert sha is not None
    return sha


def edit_on_main(world: World, old: str, new: str) -> str:
    """A direct push that rewrites one line of alice's request on main (someone with push
    rights, or a second pull request: either way not what alice's reviewers saw)."""
    text = (world.workspace / PATH).read_text()
    assert old in text
    return world.github.push_direct(REPO, {PATH: text.replace(old, new)}, author="mallory")


def test_a_squash_over_a_moved_main_grants_only_the_approved_bytes(world: World) -> None:
    granted_earlier(world)
    # alice asks for an extension; carol approves exactly that.
    edit = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3.5)))})
    world.approve(edit, "carol")
    head = world.github.repo(REPO).pulls[edit].head_sha
    # Meanwhile main moves: another line of the same file changes.
    edit_on_main(world, "reason: debugging", "reason: nobody reviewed this line")
    world.merge(edit, "squash")
    text = (world.workspace / PATH).read_text()
    assert "nobody reviewed" in text and stamp(hours(3.5)) in text  # the squash combined both
    denied_naming(world, "not what pull request", main_sha(world), head)


def test_a_three_way_merge_combining_an_approved_edit_with_another_change(world: World) -> None:
    granted_earlier(world)
    edit = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3.5)))})
    world.approve(edit, "carol")
    head = world.github.repo(REPO).pulls[edit].head_sha
    edit_on_main(world, "reason: debugging", "reason: nobody reviewed this line")
    world.merge(edit, "merge")
    assert "nobody reviewed" in (world.workspace / PATH).read_text()
    denied_naming(world, "not what pull request", main_sha(world), head)


def test_a_rebase_merge_over_a_moved_main_grants_only_the_approved_bytes(world: World) -> None:
    granted_earlier(world)
    edit = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3.5)))})
    world.approve(edit, "carol")
    head = world.github.repo(REPO).pulls[edit].head_sha
    edit_on_main(world, "reason: debugging", "reason: nobody reviewed this line")
    world.merge(edit, "rebase")
    denied_naming(world, "not what pull request", main_sha(world), head)


def test_a_rebase_merge_of_several_commits_is_granted(world: World) -> None:
    """The commit that brought the file is one of several the rebase replayed; the state of
    main it landed on is its first parent."""
    number = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3)))})
    world.github.push_to_pull(REPO, number, {"notes/alice.md": "x"})
    world.approve(number, "carol")
    world.merge(number, "rebase")
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_a_backdated_commit_does_not_hide_a_direct_push(world: World) -> None:
    granted_earlier(world)
    # A direct push with an author date before the approved merge: newest on main, yet listed
    # below the approved commit by a date-ordered commit list.
    text = (world.workspace / PATH).read_text().replace(stamp(hours(3)), stamp(hours(4.5)))
    pushed = world.github.commit(REPO, "main", {PATH: text}, message="tweak", author="alice",
                                 at=hours(-24))
    world.sync()
    denied_naming(world, "direct push", pushed)


def test_policies_are_judged_where_the_merge_landed_not_at_a_stale_base(world: World) -> None:
    number = world.propose("alice", {PATH: request("alice", "prod-admin", stamp(hours(3)))})
    world.approve(number, "carol")
    # main moves on after the pull request was opened: security no longer approves prod-admin.
    # GitHub leaves the pull request's base.sha where it was.
    policy = "policies/entitlements/prod-admin.yaml"
    text = world.github.file_at(REPO, "refs/heads/main", policy)
    assert text is not None
    world.github.push_direct(REPO, {policy: text.decode().replace(
        'approvers: ["@acme/security"]', 'approvers: ["@acme/admins"]')}, author="dave")
    stale = world.github.repo(REPO).pulls[number].base_sha
    world.merge(number, "squash")
    assert world.github.repo(REPO).pulls[number].base_sha == stale  # not refreshed
    denied_naming(world, "not in the entitlement's approvers")
