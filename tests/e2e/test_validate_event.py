"""`accessctl validate --event` on hostile or unexpected events: one clear line, exit 2, never a
traceback, and no VCS client built for an event that is not a pull request event.

The event file is untrusted input: on GitHub it comes from the runner, but anyone can run the
command by hand, or point a workflow at the wrong trigger. The cases below are checked against the
GitHub emulator (whose request log shows that nothing was asked of the VCS), and the look-ups of
pull requests that do not exist go through the GitHub and GitLab emulators.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import Result, invoke
from tests.e2e import gitlab_world
from tests.e2e.github_world import REPO, World, hours
from tests.e2e.test_workflow_commands import MARKER, head_tree, payload

PR = {"pull_request": {"number": 1}}
EXPECT_NUMBER = "expected a whole number from 1 to 2147483647"
MAX_EVENT = 25 * 1024 * 1024


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[tuple[GitHubEmulator, dict[str, str]]]:
    """A GitHub with one repository and no pull request: what validate may ask is logged."""
    with GitHubEmulator() as github:
        github.add_user("dave")
        github.add_org("acme", members=["dave"])
        github.add_repo("acme", "access", files={"README.md": b"access\n"}, author="dave")
        github.reset_log()
        yield github, {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": github.token,
                       "GITHUB_API_URL": f"{github.base_url}/api/v3"}


def validate(event: Path, environ: dict[str, str], *extra: str) -> Result:
    return invoke("validate", "--repo", str(event.parent), "--event", str(event), *extra,
                  environ=environ, now=hours(0.1))


def one_line(result: Result, expected: str) -> None:
    """Exit 2, and stderr is exactly one line holding `expected`."""
    assert result.code == 2, result.out + result.err
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("accessctl: "), result.err
    assert expected in result.err, result.err


# (test id, the event as JSON text, extra environment, what the line must say)
SHAPES: list[tuple[str, str, dict[str, str], str]] = [
    ("number-missing", '{"pull_request": {}}', {},
     "pull_request.number is missing; " + EXPECT_NUMBER),
    ("number-null", '{"pull_request": {"number": null}}', {},
     "pull_request.number is null; " + EXPECT_NUMBER),
    ("number-zero", '{"pull_request": {"number": 0}}', {},
     "pull_request.number is 0; " + EXPECT_NUMBER),
    ("number-negative", '{"pull_request": {"number": -4}}', {},
     "pull_request.number is -4; " + EXPECT_NUMBER),
    ("number-huge-float", '{"pull_request": {"number": 1e30}}', {},
     "pull_request.number is 1e+30 (a number with a fraction or exponent); " + EXPECT_NUMBER),
    ("number-huge-int", '{"pull_request": {"number": 100000000000000000000}}', {},
     "pull_request.number is 100000000000000000000; " + EXPECT_NUMBER),
    ("number-string", '{"pull_request": {"number": "5"}}', {},
     'pull_request.number is "5" (a string); ' + EXPECT_NUMBER),
    ("number-true", '{"pull_request": {"number": true}}', {},
     "pull_request.number is true (a boolean); " + EXPECT_NUMBER),
    ("number-fraction", '{"pull_request": {"number": 1.5}}', {},
     "pull_request.number is 1.5 (a number with a fraction or exponent); " + EXPECT_NUMBER),
    ("number-object", '{"pull_request": {"number": {"id": 5}}}', {},
     "pull_request.number is an object; " + EXPECT_NUMBER),
    ("numbers-disagree", '{"number": 2, "pull_request": {"number": 1}}', {},
     "number is 2 but pull_request.number is 1; expected the same pull request in both"),
    ("numbers-true-and-1", '{"number": true, "pull_request": {"number": 1}}', {},
     "number is true (a boolean) but pull_request.number is 1; expected the same pull request "
     "in both"),
    ("top-list", "[1, 2]", {}, "the event is a list; expected a JSON object"),
    ("top-string", '"pull_request"', {}, 'the event is "pull_request" (a string); expected a '
     "JSON object"),
    ("top-null", "null", {}, "the event is null; expected a JSON object"),
    ("no-pull-request", '{"ref": "refs/heads/main", "after": "abc"}', {},
     "pull_request is missing; expected a pull_request or pull_request_review event"),
    ("pull-request-list", '{"pull_request": [1]}', {},
     "pull_request is a list; expected an object"),
    ("event-name-push", json.dumps(PR), {"GITHUB_EVENT_NAME": "push"},
     'GITHUB_EVENT_NAME is "push"; validate --event takes a pull_request or '
     "pull_request_review event"),
    ("event-name-target", json.dumps(PR), {"GITHUB_EVENT_NAME": "pull_request_target"},
     'GITHUB_EVENT_NAME is "pull_request_target"; validate --event takes a pull_request or '
     "pull_request_review event (never pull_request_target"),
    ("escaped", '{"pull_request": {"number": "1\\n::error::owned"}}', {},
     'pull_request.number is "1\\n::error::owned" (a string)'),
]


@pytest.mark.parametrize(("text", "extra", "expected"), [s[1:] for s in SHAPES],
                         ids=[s[0] for s in SHAPES])
def test_an_event_that_is_not_a_pull_request_event(
        bare: tuple[GitHubEmulator, dict[str, str]], tmp_path: Path, text: str,
        extra: dict[str, str], expected: str) -> None:
    github, environ = bare
    event = tmp_path / "event.json"
    event.write_text(text)
    result = validate(event, {**environ, **extra})
    one_line(result, f"{event}: " if "GITHUB_EVENT_NAME" not in expected else expected)
    assert expected in result.err
    assert github.log == [], "the event is checked before the VCS is asked anything"


FILES: list[tuple[str, bytes | None, str]] = [
    ("empty", b"", "the event file is empty; expected a JSON object"),
    ("blank", b" \n\t\n", "the event file is empty; expected a JSON object"),
    ("not-json", b"pull_request: {number: 1}\n",
     "the event is not JSON: Expecting value at line 1 column 1"),
    ("truncated", b'{"pull_request": {"number": 1}',
     "the event is not JSON: Expecting ',' delimiter at line 1 column 31"),
    ("not-utf8", b'{"pull_request": {"number": 1}, "x": "\xff"}',
     "the event is not JSON: it is not UTF-8 text"),
    ("deep", b"[" * 200_000, "the event is not JSON: nested too deeply"),
    ("too-large", None, f"the event is {MAX_EVENT + 1} bytes, more than the {MAX_EVENT} "
     "accepted (GitHub caps webhook payloads at 25 MB)"),
]


@pytest.mark.parametrize(("content", "expected"), [f[1:] for f in FILES],
                         ids=[f[0] for f in FILES])
def test_an_event_file_that_is_not_json(
        bare: tuple[GitHubEmulator, dict[str, str]], tmp_path: Path, content: bytes | None,
        expected: str) -> None:
    github, environ = bare
    event = tmp_path / "event.json"
    if content is None:
        with event.open("wb") as stream:
            stream.truncate(MAX_EVENT + 1)  # sparse: the size alone must refuse it
    else:
        event.write_bytes(content)
    result = validate(event, environ)
    one_line(result, f"{event}: {expected}")
    assert github.log == []


def test_a_missing_event_file(bare: tuple[GitHubEmulator, dict[str, str]],
                              tmp_path: Path) -> None:
    github, environ = bare
    event = tmp_path / "nowhere.json"
    one_line(validate(event, environ), f"{event}: cannot read the event: No such file")
    assert github.log == []


def test_a_pull_request_that_does_not_exist(bare: tuple[GitHubEmulator, dict[str, str]],
                                            tmp_path: Path) -> None:
    github, environ = bare
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "number": 99,
                                 "pull_request": {"number": 99}}))
    result = validate(event, {**environ, "GITHUB_EVENT_NAME": "pull_request"})
    one_line(result, "accessctl: pull request 99 not found in acme/access")
    # The emulator was asked, and answered 404 (the lazy client may start with the files).
    asked = [(e.method, e.path, e.status) for e in github.responses]
    assert [a for a in asked if a[1].startswith("/repos/acme/access/pulls/99")
            and a[2] == 404], asked


def test_a_repository_that_does_not_exist(bare: tuple[GitHubEmulator, dict[str, str]],
                                          tmp_path: Path) -> None:
    _github, environ = bare
    event = tmp_path / "event.json"
    event.write_text(json.dumps(PR))
    result = validate(event, {**environ, "GITHUB_REPOSITORY": "acme/elsewhere"})
    one_line(result, "accessctl: repository acme/elsewhere not found")


# -- GitLab: the merge request event the engine reads (.gitlab-ci.yml writes it) ----------------

GITLAB_SHAPES: list[tuple[str, str, str]] = [
    ("iid-string", '{"object_kind": "merge_request", "object_attributes": {"iid": "5"}}',
     'object_attributes.iid is "5" (a string); ' + EXPECT_NUMBER),
    ("iid-missing", '{"object_attributes": {"id": 5}}',
     "object_attributes.iid is missing; " + EXPECT_NUMBER),
    ("iid-true", '{"object_attributes": {"iid": true}}',
     "object_attributes.iid is true (a boolean); " + EXPECT_NUMBER),
    ("no-attributes", '{"object_kind": "merge_request"}',
     "object_attributes is missing; expected a merge request event"),
    ("issue", '{"object_kind": "issue", "object_attributes": {"iid": 5}}',
     'object_kind is "issue"; expected "merge_request" (a merge request event)'),
    ("github-shape", json.dumps(PR), "object_attributes is missing; expected a merge request"),
    ("top-list", "[]", "the event is a list; expected a JSON object"),
]


@pytest.mark.parametrize(("text", "expected"), [s[1:] for s in GITLAB_SHAPES],
                         ids=[s[0] for s in GITLAB_SHAPES])
def test_a_gitlab_event_that_is_not_a_merge_request_event(tmp_path: Path, text: str,
                                                          expected: str) -> None:
    event = tmp_path / "event.json"
    event.write_text(text)
    # Nothing listens on port 9: any attempt to build the client would fail differently.
    environ = {"CI_PROJECT_ID": "7", "CI_SERVER_URL": "http://127.0.0.1:9",
               "ACCESSCTL_VCS_TOKEN": "glpat-x"}
    one_line(validate(event, environ, "--vcs", "gitlab"), f"{event}: {expected}")


@pytest.fixture
def gitlab(tmp_path: Path, aws_endpoint: str) -> Iterator[gitlab_world.World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        yield gitlab_world.World.build(emulator, aws_endpoint, tmp_path)


def test_a_merge_request_that_does_not_exist(gitlab: gitlab_world.World,
                                             tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"object_attributes": {"iid": 41}}))  # as .gitlab-ci.yml writes
    one_line(validate(event, gitlab.env, "--vcs", "gitlab"),
             f"accessctl: merge request !41 not found in {gitlab_world.PROJECT}")


# -- what is accepted ---------------------------------------------------------------------------

def test_a_dismissed_review_re_runs_validation(world: World, tmp_path: Path) -> None:
    """The action of a pull_request_review event is not read: every event re-reads the pull
    request's reviews, so a dismissal is seen and the approval it dismissed no longer counts."""
    _path, number = world.ask("alice")
    review = world.approve(number, "carol")
    environ = {**world.env, "GITHUB_EVENT_NAME": "pull_request_review"}
    submitted = payload("pull_request_review.submitted", tmp_path, number=number)
    approved = invoke("validate", "--repo", str(head_tree(world, number, tmp_path)), "--event",
                      str(submitted), environ=environ, now=hours(0.3))
    assert approved.code == 0, approved.err
    assert "approved by @carol" in world.github.comments(REPO, number)[0]

    world.github.dismiss_review(REPO, number, review)
    dismissed = json.loads(submitted.read_text())
    dismissed["action"] = "dismissed"
    dismissed["review"]["state"] = "dismissed"
    submitted.write_text(json.dumps(dismissed))
    again = invoke("validate", "--repo", str(head_tree(world, number, tmp_path)), "--event",
                   str(submitted), environ=environ, now=hours(0.4))
    assert again.code == 0, again.err
    [comment] = world.github.comments(REPO, number)
    assert MARKER in comment and "0 so far; needed from @acme/security" in comment
