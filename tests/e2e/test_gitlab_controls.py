"""Auto-approval and break-glass on GitLab: the GitLab emulator through python-gitlab, AWS on
moto. GitLab takes no approval on a merged merge request, so there a code owner ratifies a
break-glass grant with an `accessctl: ratified` note after the merge; without one it ends at its
review deadline (docs/policy-controls.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import Result, invoke
from tests.e2e.gitlab_world import ENGINE, PROJECT, World, hours

RULE = """\
auto_approve:
  - name: short
    max_duration: 1h
"""
GLASS = "break_glass:\n  max_duration: 2h\n  review_within: 1h\n"


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        built = World.build(emulator, aws_endpoint, tmp_path)
        prod = (built.workspace / "policies/entitlements/prod-admin.yaml").read_text()
        glass = (built.workspace / "policies/entitlements/break-glass.yaml").read_text()
        emulator.push_direct(PROJECT, {"policies/entitlements/prod-admin.yaml": prod + RULE,
                                       "policies/entitlements/break-glass.yaml": glass + GLASS},
                             author="dave")
        built.sync()
        yield built


def validate(world: World, iid: int, tmp: Path) -> Result:
    event = tmp / "event.json"
    event.write_text(json.dumps({"object_kind": "merge_request", "object_attributes":
                                 {"iid": iid}}))
    head = world.sync(f"change-{world.branches}")  # the merge request's head, checked out
    try:
        return invoke("validate", "--repo", str(head), "--event", str(event), "--vcs",
                      "gitlab", "--comment", environ=world.env, now=hours(0.1))
    finally:
        world.sync()


def approvers(world: World, iid: int) -> list[str]:
    mr = world.client("dave").projects.get(world.project_id).mergerequests.get(iid)
    return [a["user"]["username"] for a in mr.approvals.get().approved_by]


def test_a_rule_approves_the_merge_request_and_apply_grants(world: World,
                                                            tmp_path: Path) -> None:
    _path, iid = world.ask("alice", hours_from_t0=1.0)
    checked = validate(world, iid, tmp_path)
    assert checked.code == 0, checked.out + checked.err
    assert approvers(world, iid) == [ENGINE], checked.out + checked.err
    assert validate(world, iid, tmp_path).code == 0  # no second approval, no error
    world.merge(iid)
    result = world.apply(hours(0.6))
    assert result.code == 0, result.err
    assert [(e["action"], e.get("approved_by_rule")) for e in result.events()] == [
        ("approve", "short"), ("grant", None)], result.out + result.err
    assert world.members() == {"alice"}


def test_the_engines_own_approval_grants_nothing_without_the_rule(world: World,
                                                                  tmp_path: Path) -> None:
    _path, iid = world.ask("alice", hours_from_t0=3)  # 2.5h: beyond the rule's hour
    world.approve(iid, ENGINE)
    world.merge(iid)
    result = world.apply()
    assert result.code == 1
    [deny] = [e for e in result.events() if e["action"] == "deny"]
    assert "bots do not approve" in deny["error"] and "rule short does not apply" in deny["error"]
    assert world.members() == set()


def test_break_glass_mentions_the_owners_and_ends_at_the_deadline(world: World) -> None:
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    world.merge(iid)
    applied = world.apply(hours(0.6))
    assert applied.code == 0, applied.err
    assert world.members("break-glass") == {"alice"}
    notes = [n.body for n in world.gitlab.projects[world.project_id].merge_requests[iid].notes]
    assert any("@acme/security" in body and "break-glass" in body
               and "first line is `accessctl: ratified`" in body for body in notes), notes
    swept = invoke("revoke", "--repo", str(world.workspace), "--confirm", "--vcs", "gitlab",
                   "--audit-file", str(world.workspace.parent / "audit.jsonl"),
                   environ=world.env, now=hours(1.6))
    assert swept.code == 0, swept.err
    assert ("break-glass", "not-ratified") in [(e["action"], e["outcome"])
                                              for e in swept.events()]
    assert world.members("break-glass") == set()


def note(world: World, iid: int, login: str, body: str, at: float) -> None:
    """`login` writes a note on the merge request at T0 + `at` hours."""
    world.gitlab.clock = lambda: hours(at)
    mr = world.client(login).projects.get(world.project_id, lazy=True).mergerequests.get(
        iid, lazy=True)
    mr.notes.create({"body": body})


def sweep(world: World, at: float) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--vcs", "gitlab",
                  "--audit-file", str(world.workspace.parent / "audit.jsonl"),
                  environ=world.env, now=hours(at))


def test_a_code_owners_ratify_note_after_the_merge_keeps_break_glass(world: World) -> None:
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    world.merge(iid)  # at T0 + 0.5h: the deadline is T0 + 1.5h
    assert world.apply(hours(0.6)).code == 0
    note(world, iid, "carol", "accessctl: ratified\nChecked the incident, fine.", at=0.9)
    swept = sweep(world, 1.6)
    assert swept.code == 0, swept.err
    assert not [e for e in swept.events() if e["action"] in ("revoke", "break-glass")]
    assert world.members("break-glass") == {"alice"}
    # At its expiry (T0 + 2h) the sweep ends it as usual.
    assert sweep(world, 2.1).code == 0
    assert world.members("break-glass") == set()


@pytest.mark.parametrize(("who", "at", "body"), [
    pytest.param("alice", 0.9, "accessctl: ratified", id="by-the-requester"),
    pytest.param("mallory", 0.9, "accessctl: ratified", id="by-a-non-owner"),
    pytest.param("carol", 0.2, "accessctl: ratified", id="before-the-merge"),
    pytest.param("carol", 1.55, "accessctl: ratified", id="after-the-deadline"),
    pytest.param("carol", 0.9, "LGTM, accessctl: ratified", id="not-the-first-line"),
    pytest.param("project_7_bot_3f9a", 0.9, "accessctl: ratified", id="by-a-bot"),
])
def test_a_ratify_note_that_does_not_count_lets_break_glass_end(world: World, who: str,
                                                                at: float, body: str) -> None:
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    if at < 0.5:
        note(world, iid, who, body, at=at)
    world.merge(iid)
    assert world.apply(hours(0.6)).code == 0
    assert world.members("break-glass") == {"alice"}
    if at >= 0.5:
        note(world, iid, who, body, at=at)
    swept = sweep(world, 1.6)
    assert swept.code == 0, swept.err
    assert ("break-glass", "not-ratified") in [(e["action"], e["outcome"])
                                              for e in swept.events()]
    assert world.members("break-glass") == set()


def as_user(world: World, login: str, iid: int) -> Any:
    return world.client(login).projects.get(world.project_id, lazy=True).mergerequests.get(
        iid, lazy=True)


def glass_granted(world: World) -> int:
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    world.merge(iid)  # at T0 + 0.5h: the deadline is T0 + 1.5h
    assert world.apply(hours(0.6)).code == 0
    assert world.members("break-glass") == {"alice"}
    return iid


def not_ratified(world: World) -> None:
    swept = sweep(world, 1.6)
    assert swept.code == 0, swept.err
    assert ("break-glass", "not-ratified") in [(e["action"], e["outcome"])
                                              for e in swept.events()]
    assert world.members("break-glass") == set()


@pytest.mark.parametrize("written", [0.2, 0.7], ids=["before-the-merge", "after-the-merge"])
def test_a_maintainer_cannot_turn_a_code_owners_comment_into_a_ratification(
        world: World, written: float) -> None:
    """alice, a Maintainer of the project, edits carol's comment: GitLab lets her, and the
    note still names carol as its author."""
    world.gitlab.add_member(PROJECT, "alice", 40, kind="projects")
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    if written < 0.5:
        note(world, iid, "carol", "Looking at the incident now.", at=written)
    world.merge(iid)
    assert world.apply(hours(0.6)).code == 0
    if written >= 0.5:
        note(world, iid, "carol", "Will check the logs tomorrow.", at=written)
    world.gitlab.clock = lambda: hours(0.9)
    [comment] = [n for n in as_user(world, "alice", iid).notes.list(get_all=True)
                 if n.author["username"] == "carol"]
    comment.body = "accessctl: ratified"
    comment.save()
    carol = world.gitlab.user_id("carol")
    assert [n.body for n in world.gitlab.mr(PROJECT, iid).notes if n.author_id == carol] == [
        "accessctl: ratified"]
    not_ratified(world)


def test_a_thread_resolved_after_the_merge_does_not_date_its_note_after_it(
        world: World) -> None:
    _, iid = world.ask("alice", hours_from_t0=2.0, entitlement="break-glass")
    world.gitlab.clock = lambda: hours(0.2)
    thread = as_user(world, "carol", iid).discussions.create({"body": "accessctl: ratified"})
    world.merge(iid)
    assert world.apply(hours(0.6)).code == 0
    world.gitlab.clock = lambda: hours(0.9)
    thread.resolved = True
    thread.save()
    [resolved] = [n for n in world.gitlab.mr(PROJECT, iid).notes if n.resolvable]
    assert (resolved.created_at, resolved.updated_at) == (hours(0.2), hours(0.9))
    not_ratified(world)


def test_a_ratify_note_touched_within_a_second_of_its_writing_still_counts(
        world: World) -> None:
    iid = glass_granted(world)
    note(world, iid, "carol", "accessctl: ratified", at=0.9)
    world.gitlab.clock = lambda: hours(0.9) + timedelta(milliseconds=400)
    [mine] = [n for n in as_user(world, "carol", iid).notes.list(get_all=True)
              if n.author["username"] == "carol"]
    mine.body = "accessctl: ratified\nChecked the incident."
    mine.save()
    swept = sweep(world, 1.6)
    assert swept.code == 0, swept.err
    assert not [e for e in swept.events() if e["action"] in ("revoke", "break-glass")]
    assert world.members("break-glass") == {"alice"}


def test_a_code_owner_editing_her_own_note_into_a_ratification_later_does_not_count(
        world: World) -> None:
    """An edit is an edit: the notes API does not say who made it, so none counts."""
    iid = glass_granted(world)
    note(world, iid, "carol", "Looking.", at=0.7)
    world.gitlab.clock = lambda: hours(0.9)
    [mine] = [n for n in as_user(world, "carol", iid).notes.list(get_all=True)
              if n.author["username"] == "carol"]
    mine.body = "accessctl: ratified"
    mine.save()
    not_ratified(world)
