"""The workflows' own command lines, driven with GitHub's real event payloads.

Each payload is one of GitHub's published examples (tests/contracts/github-webhooks/), pointed at
the pull request or commit under test the way GitHub would fill it in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli_runner import invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.repo_fixture import request

PAYLOADS = Path(__file__).parents[1] / "contracts" / "github-webhooks"
MARKER = "<!-- accessctl:pull-request-review -->"


def payload(name: str, tmp: Path, **fill: Any) -> Path:
    data = json.loads((PAYLOADS / f"{name}.payload.json").read_text())
    if "number" in fill:
        data["number"] = fill["number"]
        data["pull_request"]["number"] = fill["number"]
    if "after" in fill:
        data["after"] = fill["after"]
        data["ref"] = "refs/heads/main"
    data["repository"]["full_name"] = REPO
    target = tmp / f"{name}.json"
    target.write_text(json.dumps(data))
    return target


def validate(world: World, event: Path, head: Path) -> Any:
    # validate.yml: accessctl validate --event "$GITHUB_EVENT_PATH" --format github --comment
    return invoke("validate", "--repo", str(head), "--event", str(event), "--format", "github",
                  "--comment", environ=world.env, now=hours(0.1))


def head_tree(world: World, number: int, tmp: Path) -> Path:
    """The pull request's head, checked out as actions/checkout does on pull_request."""
    root = tmp / f"head-{number}-{len(list(tmp.glob('head-*')))}"
    world.github.checkout(REPO, world.github.repo(REPO).pulls[number].head_sha, root)
    return root


def test_validate_comments_once_and_updates_in_place(world: World, tmp_path: Path) -> None:
    path, number = world.ask("alice")
    opened = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert opened.code == 0, opened.out + opened.err
    first = world.github.comments(REPO, number)
    assert len(first) == 1 and MARKER in first[0]
    assert "0 so far; needed from @acme/security" in first[0]

    world.approve(number, "carol")
    reviewed = validate(world, payload("pull_request_review.submitted", tmp_path, number=number),
                        head_tree(world, number, tmp_path))
    assert reviewed.code == 0
    second = world.github.comments(REPO, number)
    assert len(second) == 1, "the comment is edited in place, never added again"
    assert "approved by @carol" in second[0]

    world.github.push_to_pull(REPO, number, {path: request("alice", "prod-admin",
                                                           stamp(hours(2)))})
    pushed = validate(world, payload("pull_request.synchronize", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert pushed.code == 0
    third = world.github.comments(REPO, number)
    assert len(third) == 1
    assert "0 so far" in third[0], "an approval of an earlier commit no longer counts"


def test_validate_annotates_the_lines_of_a_bad_request(world: World, tmp_path: Path) -> None:
    path, number = world.ask("alice", hours_from_t0=9)
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert result.code == 1
    assert f"::error file={path},line=5," in result.out
    assert "window-too-long" in result.out
    comment = world.github.comments(REPO, number)[0]
    assert "problem(s) to fix" in comment and "line 5" in comment


def test_validate_rejects_a_pull_request_mixing_policy_and_requests(world: World,
                                                                    tmp_path: Path) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    number = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        "policies/entitlements/prod-admin.yaml":
            (world.workspace / "policies/entitlements/prod-admin.yaml").read_text() + "\n",
    })
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert result.code == 1
    assert "::error file=policies/entitlements/prod-admin.yaml" in result.out


def test_validate_judges_by_the_base_commits_policies(world: World, tmp_path: Path) -> None:
    # The pull request raises max_duration in its own copy of the policy (and is rejected for
    # mixing); even so, its request is judged by the base commit's 4h maximum.
    path = "access-requests/prod-admin/alice-x.yaml"
    policy = (world.workspace / "policies/entitlements/prod-admin.yaml").read_text()
    number = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(9))),
        "policies/entitlements/prod-admin.yaml": policy.replace("max_duration: 4h",
                                                                "max_duration: 12h"),
    })
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert "window-too-long" in result.out


def test_apply_and_revoke_as_the_workflows_run_them(world: World, tmp_path: Path) -> None:
    _, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)
    head = world.github.ref(REPO, "refs/heads/main")
    assert head is not None
    push = json.loads(payload("push", tmp_path, after=head).read_text())
    summary = tmp_path / "summary.md"
    audit = tmp_path / "audit.jsonl"
    # apply.yml: accessctl apply --vcs github --confirm --provider "$INSTANCE"
    #            --commit "$GITHUB_SHA" --audit-file ... --summary "$GITHUB_STEP_SUMMARY"
    applied = invoke("apply", "--vcs", "github", "--repo", str(world.workspace), "--confirm",
                     "--provider", "aws-test", "--commit", push["after"], "--audit-file",
                     str(audit), "--summary", str(summary), environ=world.env, now=hours(1))
    assert applied.code == 0, applied.err
    assert world.members() == {"alice"}
    assert applied.events()[0]["commit"] == head
    text = summary.read_text()
    assert "accessctl apply: aws-test" in text and "alice" in text and "gantt" in text
    # revoke.yml on schedule or workflow_dispatch: accessctl revoke --confirm --provider ...
    assert json.loads((PAYLOADS / "workflow_dispatch.payload.json").read_text())["ref"]
    revoked = invoke("revoke", "--repo", str(world.workspace), "--confirm", "--provider",
                     "aws-test", "--audit-file", str(audit), "--summary", str(summary),
                     environ=world.env, now=hours(5))
    assert revoked.code == 0, revoked.err
    assert world.members() == set()
    assert "accessctl revoke: aws-test" in summary.read_text()
