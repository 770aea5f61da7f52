"""Invariant 14 attacked end to end: untrusted text stays text.

Request files are written by requesters: a file name, a ticket or a reason reaches the apply
job's log (which the GitHub Actions runner reads for workflow commands, in the job that holds
production credentials), the validate job's annotations, and the pull request comment. Each test
plants one hostile value and reads the output the way the runner, or GitHub's markdown, would.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.actions_runner import commands, names
from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.markdown_check import render

MASKING = "access-requests/prod-admin/bob-x\n::add-mask::hunter2\n::error title=forged::apply.yaml"
HEADING = "access-requests/prod-admin/alice-x`\n### accessctl review: approved by @carol\n`.yaml"
TICKET = ("##[add-mask]hunter2 @acme/admins [click](https://evil.example) "
          "<img src=x onerror=alert(1)>")
COMMENT_TAGS = {"h3", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "code",
                "strong", "em"}


def yaml_request(requester: str, expires: float, ticket: str = "INC-1",
                 reason: str = "debugging") -> str:
    # JSON strings are YAML strings: any value, quoted.
    return (f"requester: {requester}\nentitlement: prod-admin\nreason: {json.dumps(reason)}\n"
            f"ticket: {json.dumps(ticket)}\nexpires_at: {stamp(hours(expires))}\n")


def merged(world: World, author: str, path: str, text: str) -> int:
    number = world.propose(author, {path: text})
    world.approve(number, "carol")
    world.merge(number)
    return number


def validate(world: World, number: int, tmp: Path) -> Result:
    event = tmp / f"event-{number}.json"
    event.write_text(json.dumps({"action": "opened", "number": number,
                                 "pull_request": {"number": number}}))
    head = tmp / f"head-{number}"
    world.github.checkout(REPO, world.github.repo(REPO).pulls[number].head_sha, head)
    return invoke("validate", "--repo", str(head), "--event", str(event), "--format", "github",
                  "--comment", environ=world.env, now=hours(0.1))


def test_a_file_name_cannot_emit_a_workflow_command_from_apply(world: World) -> None:
    _path, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)
    merged(world, "bob", MASKING, yaml_request("bob", 3))
    result = world.apply()
    assert names(result.err) == [], result.err
    assert names(result.out) == [], result.out
    # The file is named, its line breaks shown, and it grants nothing; alice's request still does.
    assert "skipped: access-requests/prod-admin/bob-x\\n::add-mask::hunter2\\n" in result.err
    assert result.code == 1
    assert world.members() == {"alice"}


def test_a_legacy_command_in_a_ticket_is_inert(world: World) -> None:
    merged(world, "bob", "access-requests/prod-admin/bob-x.yaml", yaml_request("bob", 3, TICKET))
    result = world.apply()
    assert result.code == 1
    # The ticket is in the finding on stderr and in the audit event on stdout, both inert.
    assert "does not match" in result.err
    assert names(result.err) == [], result.err
    assert names(result.out) == [], result.out
    [event] = [e for e in result.events() if e["action"] == "deny"]
    assert "##[add-mask]hunter2" in event["error"], "the audit line keeps the value"
    assert world.members() == set()


def test_under_github_actions_apply_stops_workflow_commands(world: World) -> None:
    merged(world, "bob", MASKING, yaml_request("bob", 3))
    merged(world, "bob", "access-requests/prod-admin/bob-y.yaml", yaml_request("bob", 3, TICKET))
    world.env["GITHUB_ACTIONS"] = "true"
    first, second = world.apply(), world.apply()
    for result in (first, second):
        # stdout carries the stop and the resume; stderr, read on its own pipe, stays inert.
        stop, resume = commands(result.out)
        assert stop.name == "stop-commands" and len(stop.data) >= 32, result.out
        assert resume.name == stop.data, "the run ends by resuming with its own token"
        assert result.out.startswith(f"::stop-commands::{stop.data}\n")
        assert result.out.endswith(f"::{stop.data}::\n")
        assert names(result.err) == [], result.err
    assert commands(first.out)[0].data != commands(second.out)[0].data, "a fresh token each run"
    assert "does not match" in first.err and world.members() == set()


def test_revoke_and_reconcile_stop_workflow_commands_too(world: World) -> None:
    world.env["GITHUB_ACTIONS"] = "true"
    for command in ("revoke", "reconcile"):
        result = invoke(command, "--repo", str(world.workspace), environ=world.env,
                        now=hours(1))
        assert result.code == 0, result.err
        stop, resume = commands(result.out)
        assert stop.name == "stop-commands" and resume.name == stop.data, command


def test_a_file_name_cannot_forge_a_heading_in_the_pull_request_comment(
        world: World, tmp_path: Path) -> None:
    number = world.propose("alice", {HEADING: yaml_request("alice", 3)})
    world.approve(number, "carol")
    result = validate(world, number, tmp_path)
    assert result.code == 1
    [comment] = world.github.comments(REPO, number)
    rendered = render(comment)
    assert rendered.problems(["accessctl review"], COMMENT_TAGS) == [], comment
    assert "alice-x`\\n### accessctl review: approved by @\u200bcarol\\n`.yaml" in rendered.text
    # The annotation points at the file itself: the runner reads back its exact name.
    annotations = commands(result.out)
    assert annotations and {c.name for c in annotations} == {"error"}, result.out
    assert {c.properties["file"] for c in annotations} == {HEADING}
    assert {c.properties["title"] for c in annotations} == {"accessctl"}


def test_a_ticket_cannot_link_mention_or_embed_in_the_pull_request_comment(
        world: World, tmp_path: Path) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    number = world.propose("alice", {path: yaml_request("alice", 3, TICKET, reason=TICKET)})
    result = validate(world, number, tmp_path)
    assert result.code == 1
    [comment] = world.github.comments(REPO, number)
    rendered = render(comment)
    assert rendered.problems(["accessctl review"], COMMENT_TAGS,
                             frozenset({"acme/security"})) == [], comment
    assert "<img src=x onerror=alert(1)>" in rendered.text, "shown as text"
    assert names(result.out) == ["error"], result.out
