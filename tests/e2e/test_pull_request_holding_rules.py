"""On the pull request, the rules on what one person holds at once see what is already on main.

Separation of duties (conflicts_with) and the cap on active grants compare a proposed request with
the requester's other requests. The pull request changes only its own file, so those others are
read from the checkout (as on the base branch): a conflict shows on the pull request, before
anyone approves it, not only at apply. GitHub emulator through PyGithub.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import Result
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.e2e.test_workflow_commands import head_tree, payload, validate
from tests.repo_fixture import request


@pytest.fixture
def separated(world: World) -> World:
    """prod-admin may not be held together with break-glass; alice holds break-glass on main."""
    policy = world.workspace / "policies/entitlements/prod-admin.yaml"
    world.github.push_direct(REPO, {
        "policies/entitlements/prod-admin.yaml":
            policy.read_text() + "conflicts_with: [break-glass]\n",
        "access-requests/break-glass/alice-held.yaml":
            request("alice", "break-glass", stamp(hours(4))),
    }, author="dave")
    world.sync()
    return world


def check(world: World, number: int, tmp_path: Path) -> Result:
    return validate(world, payload("pull_request.opened", tmp_path, number=number),
                    head_tree(world, number, tmp_path))


def test_a_request_conflicting_with_one_on_main_fails_on_the_pull_request(
        separated: World, tmp_path: Path) -> None:
    path, number = separated.ask("alice", hours_from_t0=3)
    result = check(separated, number, tmp_path)
    assert result.code == 1, result.out + result.err
    annotations = [line for line in result.out.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1, result.out
    assert f"file={path}" in annotations[0]
    assert "break-glass" in annotations[0] and "access-requests/break-glass" in annotations[0]
    # The other file is not this pull request's to judge: no annotation on it.
    assert "alice-held.yaml," not in annotations[0].split("::", 2)[1]
    comment = separated.github.comments(REPO, number)
    assert len(comment) == 1 and "separation of duties forbids it" in comment[0]


def test_someone_else_or_a_window_after_the_held_one_passes(
        separated: World, tmp_path: Path) -> None:
    _, bobs = separated.ask("bob", hours_from_t0=3)
    assert check(separated, bobs, tmp_path).code == 0
    later = "access-requests/prod-admin/alice-later.yaml"
    number = separated.propose("alice", {later: request(
        "alice", "prod-admin", stamp(hours(7)), starts=stamp(hours(4)))})
    result = check(separated, number, tmp_path)
    assert result.code == 0, result.out + result.err
