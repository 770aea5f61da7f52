"""Invariant 14 on the console: annotations escaped by GitHub's rules, values that stay on their
line, the guard every command's output goes through, and the stop of workflow commands under
GitHub Actions. The end-to-end attacks are in tests/e2e/test_untrusted_text.py."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from accessctl.core import console, workflow_commands
from accessctl.core.model import Action, Change, Outcome, Status, Target
from accessctl.report.render import print_changes, print_outcomes

from tests.actions_runner import commands, names
from tests.cli_runner import invoke
from tests.hostile_text import HOSTILE, IDS
from tests.repo_fixture import request, write_repo

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
GROUP = Target.build("aws-prod", "aws", "iam_group", {"group": "prod-admin"})


# -- workflow commands ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [*HOSTILE, "a,b:c%d", "%0A", "x\r\ny"], ids=lambda v: repr(v))
def test_an_annotation_carries_any_value_back_exactly(value: str) -> None:
    line = workflow_commands.annotation("error", f"message {value}", file=f"path/{value}",
                                        line=3, col=4, title=f"title {value}")
    assert "\n" not in line and "\r" not in line
    [command] = commands(line)
    assert command.name == "error"
    assert command.data == f"message {value}"
    assert command.properties == {"file": f"path/{value}", "line": "3", "col": "4",
                                  "title": f"title {value}"}


def test_github_escaping_rules() -> None:
    assert workflow_commands.escape_data("50%\r\n:,") == "50%25%0D%0A:,"
    assert workflow_commands.escape_property("50%\r\n:,") == "50%25%0D%0A%3A%2C"


def test_validate_annotations_cannot_be_redirected_by_a_file_name(tmp_path: Path) -> None:
    path = "access-requests/prod-admin/alice-x,title=pwned,line=999.yaml"
    write_repo(tmp_path, requests={path: request("alice", "prod-admin", "2026-11-23T12:00:00Z")})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "github",
                    "--now", "2026-11-23T10:00:00Z")
    assert result.code == 1
    found = commands(result.out)
    assert found and all(c.name == "error" for c in found)
    assert [(c.properties["file"], c.properties["title"]) for c in found] == [
        (path, "accessctl")] * len(found)


def test_under_github_actions_validate_resumes_commands_for_its_annotations(
        tmp_path: Path) -> None:
    write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml":
                                   request("alice", "prod-admin", "2026-11-30T00:00:00Z")})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "github",
                    "--now", "2026-11-23T10:00:00Z", environ={"GITHUB_ACTIONS": "true"})
    assert result.code == 1
    acted = commands(result.out)
    assert [c.name for c in acted] == ["stop-commands", acted[0].data, "error", "stop-commands",
                                       acted[3].data], result.out
    assert "window-too-long" in acted[2].data
    assert acted[0].data != acted[3].data
    assert result.out.endswith(f"::{acted[3].data}::\n"), "the step ends with commands on"


def test_commands_resume_when_a_run_ends_in_an_error(tmp_path: Path) -> None:
    write_repo(tmp_path)
    result = invoke("revoke", "--repo", str(tmp_path), "--provider", "nope",
                    environ={"GITHUB_ACTIONS": "true"})
    assert result.code == 2, result.err
    stop, resume = commands(result.out)
    assert stop.name == "stop-commands" and resume.name == stop.data


def test_without_github_actions_nothing_is_stopped(tmp_path: Path) -> None:
    write_repo(tmp_path)
    result = invoke("validate", "--repo", str(tmp_path), "--format", "github")
    assert result.code == 0 and result.out == ""


# -- the console -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_a_console_value_stays_on_its_line(value: str) -> None:
    shown = console.escape(value)
    assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029\u202e"
                   for c in shown), repr(shown)
    out = io.StringIO()
    console.GuardedStream(out).write(f"skipped: {shown}\n")
    assert out.getvalue().count("\n") == 1
    assert names(out.getvalue()) == []


def test_console_escapes_are_visible() -> None:
    assert console.escape("a\nb\rc\td\x1be\x85f\u2028") == "a\\nb\\rc\\td\\x1be\\x85f\\u2028"
    assert console.escape("plain-text_1.yaml ünïcode") == "plain-text_1.yaml ünïcode"


@pytest.mark.parametrize(("line", "guarded"), [
    ("::add-mask::x", ":\\u003aadd-mask::x"),
    ("   \t::error::x", "   \t:\\u003aerror::x"),
    ("text ::error::x", "text ::error::x"),
    ("a ##[add-mask]x ###[error]y", "a ##\\u005badd-mask]x ###\\u005berror]y"),
    ("bell\x07 esc\x1b[2J cr\r", "bell\\x07 esc\\x1b[2J cr\\r"),
    ("tab\tkept", "tab\tkept"),
])
def test_the_guard_neutralises_commands_in_a_line(line: str, guarded: str) -> None:
    assert console.guard_line(line) == guarded
    assert names(guarded) == []


def test_the_guard_keeps_json_lines_valid_and_equal() -> None:
    event = {"error": "ticket '##[add-mask]x' ::stop:: \u2028", "n": 1}
    out = io.StringIO()
    stream = console.GuardedStream(out)
    stream.write(json.dumps(event) + "\n")
    assert names(out.getvalue()) == []
    assert json.loads(out.getvalue()) == event


@pytest.mark.parametrize("pieces", [
    ["#", "#", "[add-mask]x\n"],
    [":", ":add-mask::x\n"],
    ["  :", ":error::x\n"],
    ["ok\n::", "error::x\n"],
])
def test_the_guard_sees_commands_split_across_writes(pieces: list[str]) -> None:
    out = io.StringIO()
    stream = console.GuardedStream(out)
    for piece in pieces:
        stream.write(piece)
        stream.flush()
    assert names(out.getvalue()) == [], out.getvalue()


def test_the_guard_lets_the_engines_own_commands_through() -> None:
    out = io.StringIO()
    stream = console.GuardedStream(out)
    stream.write("partial")
    stream.command(["::error file=a::b"])
    stream.write("::error::not mine\n")
    assert names(out.getvalue()) == ["error"]
    assert out.getvalue().startswith("partial\n::error file=a::b\n")


def test_rich_tables_show_hostile_values_as_text() -> None:
    change = Change(Action.GRANT, GROUP, "alice", "aws-prod-admin", "\n::add-mask::x [/]",
                    expires_at=NOW)
    out = io.StringIO()
    print_changes(out, [change], "Plan")
    print_outcomes(out, [Outcome(change, Status.FAILED, "HTTP 400 [/api/v1/groups] :warning:")])
    text = out.getvalue()
    assert "[/api/v1/groups]" in text and ":warning:" in text and "\\n::add-mask::x" in text
    assert names(text) == []
