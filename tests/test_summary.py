"""The job summary: its table rows, its escaping, and the shape of its mermaid chart."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from accessctl.core.markdown import text as escape_markdown
from accessctl.core.model import Action, Change, Grant, Outcome, Status, Target
from accessctl.report.summary import MAX_BARS, MAX_ROWS, escape_mermaid, render_summary

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
GROUP = Target.build("aws-prod", "aws", "iam_group", {"group": "prod-admin"})
TEAM = Target.build("github-acme", "github", "team", {"org": "acme", "team": "infra"})


def outcome(action: Action, status: Status, principal: str = "alice", target: Target = GROUP,
            entitlement: str = "aws-prod-admin", detail: str = "", why: str = "",
            native: bool = False) -> Outcome:
    change = Change(action, target, principal, entitlement, why,
                    expires_at=NOW + timedelta(hours=4) if action is Action.GRANT else None)
    return Outcome(change, status, detail, native_expiry_set=native)


def grant(principal: str, entitlement: str = "aws-prod-admin", hours: float = 4,
          starts: datetime | None = None) -> Grant:
    return Grant(GROUP, principal, principal, entitlement, starts, NOW + timedelta(hours=hours),
                 (f"access-requests/{entitlement}/{principal}.yaml",))


def table_rows(text: str) -> list[list[str]]:
    """The table's body rows, split into cells on unescaped pipes."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| Status |") and set(rows[1]) <= set("|- ")
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


def gantt_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("```mermaid")
    end = lines.index("```", start + 1)
    return lines[start + 1:end]


TASK = re.compile(r"^    (?P<name>[^:#;\n]+) :(?P<id>g\d+), "
                  r"(?P<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d), "
                  r"(?P<end>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)$")


@pytest.mark.parametrize(("outcomes", "denied", "expected"), [
    pytest.param(
        [outcome(Action.GRANT, Status.DONE, why="INC-4211", native=True)], [],
        [["granted", "aws-prod-admin", "alice", "aws-prod:iam\\_group(group=prod-admin)",
          "INC-4211; until 2026-11-23T14:00:00Z (platform expiry)"]],
        id="granted with native expiry"),
    pytest.param(
        [outcome(Action.REVOKE, Status.DONE, "bob", why="expired")], [],
        [["revoked", "aws-prod-admin", "bob", "aws-prod:iam\\_group(group=prod-admin)",
          "expired"]],
        id="revoked"),
    pytest.param(
        [], [("access-requests/okta-prod-vpn/alice.yaml", "no approval by a code owner")],
        [["denied", "okta-prod-vpn", "", "",
          "access-requests/okta-prod-vpn/alice.yaml: no approval by a code owner"]],
        id="denied names the request"),
    pytest.param(
        [outcome(Action.GRANT, Status.FAILED, "carol", TEAM, "github-infra-maintain",
                 detail="GitHub HTTP 404: Not Found")], [],
        [["failed", "github-infra-maintain", "carol", "github-acme:team(org=acme,team=infra)",
          "until 2026-11-23T14:00:00Z; GitHub HTTP 404: Not Found"]],
        id="failed keeps the platform's error"),
    pytest.param(
        [outcome(Action.GRANT, Status.UNCHANGED), outcome(Action.REVOKE, Status.UNCHANGED)], [],
        [], id="unchanged is counted, not listed"),
    pytest.param(
        [outcome(Action.REVOKE, Status.DONE, "zed"), outcome(Action.GRANT, Status.DONE, "amy"),
         outcome(Action.GRANT, Status.FAILED, "bob"), outcome(Action.REVOKE, Status.SKIPPED, "x")],
        [("access-requests/aws-prod-admin/eve.yaml", "expired approval")],
        [["failed", "aws-prod-admin", "bob"], ["denied", "aws-prod-admin", ""],
         ["skipped", "aws-prod-admin", "x"], ["granted", "aws-prod-admin", "amy"],
         ["revoked", "aws-prod-admin", "zed"]],
        id="trouble first"),
])
def test_table_rows(outcomes: list[Outcome], denied: list[tuple[str, str]],
                    expected: list[list[str]]) -> None:
    text = render_summary("accessctl apply", outcomes, denied, [], NOW)
    assert text.startswith("## accessctl apply\n")
    if not expected:
        assert "| Status |" not in text
        assert "Nothing was granted, revoked, denied or failed." in text
        return
    rows = table_rows(text)
    assert [row[:len(expected[0])] for row in rows] == expected


def test_counts_line() -> None:
    text = render_summary("accessctl revoke", [
        outcome(Action.GRANT, Status.DONE), outcome(Action.GRANT, Status.DONE, "b"),
        outcome(Action.REVOKE, Status.DONE), outcome(Action.REVOKE, Status.FAILED),
        outcome(Action.GRANT, Status.UNCHANGED), outcome(Action.REVOKE, Status.SKIPPED),
    ], [("access-requests/x/y.yaml", "no")], [], NOW)
    assert ("**2 granted, 1 revoked, 1 denied, 1 failed**; 1 unchanged, 1 skipped "
            "(as of 2026-11-23T10:00:00Z)") in text


@pytest.mark.parametrize(("raw", "cell"), [
    ("a|b", "a\\|b"),
    ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)\\>"),
    # A zero-width space after a URL's scheme (GitHub would link it bare) and after a sigil
    # before a word (~s is a GitLab label reference).
    ("**bold** _it_ `code` [link](http://x) ~~s~~", "\\*\\*bold\\*\\* \\_it\\_ \\`code\\` "
     "\\[link\\](http:&#8203;//x) \\~\\~&#8203;s\\~\\~"),
    ("back\\slash", "back\\\\slash"),
    # Line breaks are shown, not kept: a value stays on its line (core/markdown.py).
    ("two\nlines\r\nthree", "two\\\\nlines\\\\r\\\\nthree"),
])
def test_markdown_escaping(raw: str, cell: str) -> None:
    assert escape_markdown(raw) == cell
    text = render_summary("t", [outcome(Action.GRANT, Status.FAILED, detail=raw)], [], [], NOW)
    (row,) = table_rows(text)
    assert len(row) == 5, "a value from a request file must not add table cells"
    assert row[4].endswith(cell)


@pytest.mark.parametrize(("raw", "escaped"), [
    ("arn:aws:iam::1:user/a", "arn\u2236aws\u2236iam\u2236\u22361\u2236user/a"),
    ("#team", "\uff03team"),
    ("a;b %% c", "a\uff1bb \uff05\uff05 c"),
    ("multi\nline", "multi line"),
    ("section admins", "\u200bsection admins"),
    ("Title", "\u200bTitle"),
    ("   ", "(unnamed)"),
    ("alice@acme.com", "alice@acme.com"),
])
def test_mermaid_escaping(raw: str, escaped: str) -> None:
    assert escape_mermaid(raw) == escaped


def test_gantt_is_well_formed_with_hostile_names() -> None:
    grants = [
        grant("arn:aws:iam::123456789012:user/alice", hours=2),
        grant("bob#1; click", "github:infra", hours=30),
        grant("carol", "okta-vpn", hours=1, starts=NOW - timedelta(hours=3)),
        grant("dave", "okta-vpn", hours=8, starts=NOW + timedelta(hours=1)),
        grant("gone", "okta-vpn", hours=-1),  # already over: no bar
    ]
    block = gantt_block(render_summary("accessctl apply", [], [], grants, NOW))
    assert block[0] == "gantt"
    assert "    dateFormat YYYY-MM-DD HH:mm:ss" in block
    assert any(line.startswith("    axisFormat ") for line in block)
    sections = [line for line in block if line.startswith("    section ")]
    tasks = [TASK.match(line) for line in block[1:]
             if not line.startswith(("    section ", "    title ", "    dateFormat ",
                                     "    axisFormat "))]
    assert all(tasks), [line for line in block if not TASK.match(line)]
    bars = {m["name"]: (m["id"], m["start"], m["end"]) for m in tasks if m}
    assert len(sections) == 3
    assert all(re.fullmatch(r"    section [^:#;\n]+", s) for s in sections)
    assert len({bar[0] for bar in bars.values()}) == len(bars) == 4
    assert bars["carol"][1:] == ("2026-11-23 10:00:00", "2026-11-23 11:00:00"), "clipped to now"
    assert bars["dave"][1:] == ("2026-11-23 11:00:00", "2026-11-23 18:00:00"), "future start"
    assert bars["bob\uff031\uff1b click"][2] == "2026-11-24 16:00:00"
    assert "gone" not in bars


def test_no_active_grants_means_no_chart() -> None:
    text = render_summary("accessctl revoke", [], [], [grant("old", hours=-2)], NOW)
    assert "```mermaid" not in text
    assert "No grants are active." in text


def test_large_runs_are_capped_not_cut() -> None:
    outcomes = [outcome(Action.REVOKE, Status.DONE, f"user{i:04}") for i in range(MAX_ROWS + 7)]
    grants = [grant(f"user{i:04}") for i in range(MAX_BARS + 3)]
    text = render_summary("accessctl revoke", outcomes, [], grants, NOW)
    assert len(table_rows(text)) == MAX_ROWS
    assert "7 more rows are in the audit log." in text
    assert len([line for line in gantt_block(text) if TASK.match(line)]) == MAX_BARS
    assert "3 more active grants are not charted." in text


def test_title_is_escaped() -> None:
    assert render_summary("apply <b>x</b>", [], [], [], NOW).startswith(
        "## apply \\<b\\>x\\</b\\>\n")
