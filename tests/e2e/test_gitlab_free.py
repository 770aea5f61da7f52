"""GitLab Free: the engine judges approvals with what Free has, and nothing Premium.

Free has the approve endpoint and `GET .../merge_requests/:iid/approvals` (who approved, and
when); the project approval settings, `approval_state`, `approval_rules` and Code Owners are
Premium and answer 404. Free never resets approvals on a push, and nothing there stops an
author approving their own merge request: the engine's own rules (the final commit, code owners,
never the requester) are then all there is, and must hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gitlab
import pytest
from accessctl.emulators.gitlab import GitLabEmulator
from gitlab.exceptions import GitlabError

from tests.e2e.gitlab_world import ENGINE, PROJECT, World, hours, stamp, token
from tests.repo_fixture import request


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        built = World.build(emulator, aws_endpoint, tmp_path)
        emulator.tier = "free"
        yield built


def test_free_answers_the_approvals_foss_has_and_404_for_premium(world: World) -> None:
    _, iid = world.ask("alice")
    world.approve(iid, "carol")
    client = gitlab.Gitlab(world.gitlab.base_url, private_token=token(ENGINE))
    project = client.projects.get(world.project_id)
    mr = project.mergerequests.get(iid)
    approvals = mr.approvals.get()
    assert set(approvals.attributes) >= {"user_has_approved", "user_can_approve", "approved",
                                         "approved_by"}
    assert "approval_rules_left" not in approvals.attributes
    assert [a["user"]["username"] for a in approvals.approved_by] == ["carol"]
    assert approvals.approved_by[0]["approved_at"]
    for premium in (lambda: project.approvals.get(),
                    lambda: mr.approval_state.get(),
                    lambda: mr.approval_rules.list(get_all=True)):
        with pytest.raises(GitlabError) as raised:
            premium()
        assert raised.value.response_code == 404


def test_an_approved_request_is_granted_on_free(world: World) -> None:
    _, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_free_keeps_an_approval_across_a_push_and_the_engine_does_not_count_it(
        world: World) -> None:
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.gitlab.push_to_mr(PROJECT, iid, {path: request("alice", "prod-admin",
                                                         stamp(hours(3.5)))})
    assert world.gitlab.mr(PROJECT, iid).approvals  # Free has no reset on push
    world.merge(iid)
    result = world.apply()
    assert result.code == 1, result.err
    (event,) = [e for e in result.events() if e["action"] == "deny"]
    assert "before the last push" in event["error"], event["error"]
    assert world.members() == set()


def test_free_lets_the_author_approve_and_the_engine_does_not(world: World) -> None:
    path, iid = world.ask("alice")
    world.approve(iid, "alice")
    world.merge(iid)
    result = world.apply()
    assert result.code == 1, result.err
    (event,) = [e for e in result.events() if e["action"] == "deny"]
    assert event["request"] == path
    assert "the requester cannot approve their own request" in event["error"]
    assert world.members() == set()


def test_without_code_owners_on_free_the_engine_still_asks_for_one(world: World) -> None:
    # Free enforces no CODEOWNERS: mallory's approval satisfies GitLab, not the engine.
    _, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    result = world.apply()
    assert result.code == 1, result.err
    (event,) = [e for e in result.events() if e["action"] == "deny"]
    assert "mallory: not a code owner" in event["error"], event["error"]
    assert world.members() == set()
