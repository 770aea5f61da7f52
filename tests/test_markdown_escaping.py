"""Invariant 14 in markdown and chat text: the one escaping helper, and every writer that puts a
requester's values into a pull request comment, a job summary, a report or a notification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from accessctl.approval.approval import Verdict
from accessctl.approval.pull_review import PullReview, render_comment
from accessctl.approval.vcs.base import PullRequest
from accessctl.change.notify import Kind, Notice, payload
from accessctl.commands.approval_steps import review_comment
from accessctl.core import console, markdown
from accessctl.core.model import Action, Change, Finding, Location, Outcome, Request, Status, Target
from accessctl.report.report import Row, render
from accessctl.report.summary import render_summary

from tests.hostile_text import HOSTILE, IDS
from tests.markdown_check import render as render_markdown

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
GROUP = Target.build("aws-prod", "aws", "iam_group", {"group": "prod-admin"})


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_markdown_text_is_inert_in_a_paragraph_and_a_table(value: str) -> None:
    escaped = markdown.text(value)
    assert "\n" not in escaped and "\r" not in escaped
    paragraph = render_markdown(f"### title\n\n- {markdown.code(value)} line 1: {escaped}\n")
    assert paragraph.problems(["title"], {"h3", "ul", "li", "code"}) == []
    table = render_markdown(f"| a | b |\n| --- | --- |\n| {escaped} | {markdown.code(value)} |\n")
    assert table.problems([], {"table", "thead", "tbody", "tr", "th", "td", "code"}) == []
    assert table.rows() == [2, 2]


def test_markdown_text_reads_as_the_value() -> None:
    rendered = render_markdown(markdown.text("a|b <i> *x* @carol #1 https://e.x") + "\n")
    assert rendered.text.strip() == "a|b <i> *x* @\u200bcarol #\u200b1 https:\u200b//e.x"


@pytest.mark.parametrize("value", ["<!channel>", "<https://evil.example|click>", "<!here>",
                                   "<@U123> & co", "a\n<!everyone>"])
def test_chat_text_cannot_mention_or_link(value: str) -> None:
    shown = markdown.chat(value)
    assert "<" not in shown and ">" not in shown and "\n" not in shown
    assert markdown.chat("<!here> & @carol") == "&lt;!here&gt; &amp; @carol"


def hostile_request(value: str) -> Request:
    return Request(path=f"access-requests/prod-admin/{value}.yaml", requester=value,
                   entitlement=value, reason=value, ticket=value, starts_at=None,
                   expires_at=NOW + timedelta(hours=2), location=Location("x"), lines={})


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_the_pull_request_comment_with_hostile_values_everywhere(value: str) -> None:
    req = hostile_request(value)
    pull = PullRequest(number=1, url="https://github.example/pull/1", author="alice",
                       author_is_bot=False, head_sha="h", base_ref="main", base_sha="b",
                       merged=False, merged_at=None, merge_commit_sha=None,
                       changed_files=(req.path,))
    verdict = Verdict(req.path, approved=False, reasons=(value,),
                      could_approve=("@acme/security",))
    review = PullReview(pull, [Finding(Location(req.path, 2), "x", f"bad {value}")], [req],
                        {req.path: verdict}, [f"access-requests/prod-admin/{value}"])
    rendered = render_markdown(render_comment(review))
    assert rendered.problems(["accessctl review"], {"h3", "p", "table", "thead", "tbody", "tr",
                                                     "th", "td", "ul", "li", "code", "strong"},
                             frozenset({"acme/security"})) == []
    assert rendered.rows() == [5, 5]


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_the_break_glass_comment_with_hostile_values(value: str) -> None:
    verdict = Verdict(f"access-requests/prod-admin/{value}.yaml", approved=True)
    rendered = render_markdown(review_comment(verdict, value, ["@acme/security"]))
    assert rendered.problems(["accessctl: break-glass access granted"],
                             {"h3", "p", "code", "strong"}, frozenset({"acme/security"})) == []


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_the_job_summary_with_hostile_values_everywhere(value: str) -> None:
    change = Change(Action.GRANT, GROUP, value, value, value, expires_at=NOW)
    text = render_summary(f"accessctl apply: {value}", [Outcome(change, Status.FAILED, value)],
                          [(f"access-requests/{value}/{value}.yaml", value)], [], NOW)
    rendered = render_markdown(text)
    # One heading, the title's, reading as the value (zero-width spaces aside).
    [heading] = rendered.headings()
    assert heading.replace("\u200b", "") == f"accessctl apply: {console.escape(value)}"
    assert rendered.problems([heading], {"h2", "p", "strong", "table", "thead", "tbody", "tr",
                                         "th", "td"}) == []
    assert rendered.rows() == [5, 5, 5]


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_the_markdown_report_with_hostile_values_everywhere(value: str) -> None:
    row = Row(*[value] * 12)
    rendered = render_markdown(render([row, row], "md"))
    assert rendered.problems([], {"table", "thead", "tbody", "tr", "th", "td"}) == []
    assert rendered.rows() == [12, 12, 12]


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_notifications_with_hostile_values(value: str) -> None:
    notice = Notice(Kind.DENIED, value, value, value, value, NOW, (value,), value)
    text = payload(notice)["text"]
    assert "<" not in text and ">" not in text and "\n" not in text
    assert payload(notice)["accessctl"]["detail"] == value, "the fields keep the data as is"


def test_a_plain_vcs_address_stays_a_working_link_and_anything_else_is_text() -> None:
    assert markdown.link("https://github.com/acme/access/pull/3") == \
        "<https://github.com/acme/access/pull/3>"
    assert markdown.link("http://127.0.0.1:8080/acme/access/pull/3") == \
        "<http://127.0.0.1:8080/acme/access/pull/3>"
    for hostile in ("https://x.test/a> [click](https://evil.test)", "javascript:alert(1)",
                    "https://x.test/\n# heading", "https://x.test/a|b"):
        assert "<http" not in markdown.link(hostile) and "\n" not in markdown.link(hostile)
