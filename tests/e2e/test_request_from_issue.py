"""Asking without git, end to end on the GitHub emulator (and AWS on moto): an access request
issue becomes its pull request, opened by the request App's bot with its own token, and the
request is judged like any other. Invariant 2 holds: the issue's author is the requester, and
neither they nor the bot approve; editing the issue afterwards changes nothing granted.

The command lines are the generated request workflow's own (this repository's
.github/workflows/request-from-issue.yml, its `run:` scripts executed by bash).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from accessctl.approval.on_behalf import branch_for
from accessctl.emulators.github.state import Pull

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, T0, World, hours
from tests.e2e.test_init_flow import job_arguments
from tests.test_issue_form import body

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "request-from-issue.yml"
BOT = "acme-access[bot]"
BOT_TOKEN = "ghs_requestapptoken000000000000000000000"
WORKFLOW_TOKEN = "ghs_workflowtoken0000000000000000000000"
"""The close job's GITHUB_TOKEN, with the permissions the job asks for."""
MARKER = "<!-- accessctl:request-from-issue -->"


@pytest.fixture
def asking(world: World) -> World:
    """The world's repository with the request App: its bot, an installation token with only
    Contents, Pull requests and Issues, and its login under request_bots on main."""
    world.github.add_bot(BOT)
    world.github.add_token(BOT_TOKEN, BOT, {"contents": "write", "pull_requests": "write",
                                            "issues": "write"})
    world.github.add_bot("github-actions[bot]")
    world.github.add_token(WORKFLOW_TOKEN, "github-actions[bot]", {
        "contents": "read", "pull_requests": "read", "issues": "write"})
    identities = world.workspace / "policies" / "identities.yaml"
    world.github.push_direct(REPO, {"policies/identities.yaml": identities.read_text()
                                    + f'request_bots: ["{BOT}"]\n'}, author="dave")
    world.sync()
    return world


def issue(world: World, author: str = "alice", **fields: str | None) -> int:
    return world.github.open_issue(REPO, author, "Access request", body(**{
        "entitlement": "prod-admin", "duration": "3h", "reason": "Investigate INC-1",
        "ticket": "INC-1", **fields}), labels=("access-request",))


def run(world: World, job: str, number: int, token: str = BOT_TOKEN) -> Result:
    """The request workflow's job, as generated: its script's accessctl arguments, run in the
    checkout of the default branch with the job's token."""
    args = job_arguments(WORKFLOW, job, {"ISSUE": str(number), "PULL": str(number),
                                         "GITHUB_TOKEN": token})
    return invoke(*args, "--repo", str(world.workspace),
                  environ={**world.env, "GITHUB_TOKEN": token}, now=T0)


def the_pull(world: World, issue_number: int) -> Pull:
    [pull] = [p for p in world.github.repo(REPO).pulls.values()
              if p.head_ref == branch_for(issue_number)]
    return pull


def test_an_issue_becomes_a_pull_request_a_code_owner_approves(asking: World,
                                                               tmp_path: Path) -> None:
    number = issue(asking)
    opened = run(asking, "open-pull-request", number)
    assert opened.code == 0, opened.out + opened.err
    pull = the_pull(asking, number)
    path = f"access-requests/prod-admin/alice-issue-{number}.yaml"
    # The bot opened it; the file names the issue's author.
    assert (pull.user, pull.base_ref) == (BOT, "main")
    assert asking.github.repo(REPO).commits[pull.head_sha].author == BOT
    text = asking.github.file_at(REPO, pull.head_sha, path)
    assert text is not None
    assert yaml.load(text, Loader=yaml.BaseLoader) == {
        "requester": "alice", "entitlement": "prod-admin", "reason": "Investigate INC-1",
        "ticket": "INC-1", "expires_at": "2026-11-23T12:00:00Z"}
    [comment] = asking.github.comments(REPO, number)
    assert MARKER in comment and f"/{REPO}/pull/{pull.number}>" in comment
    assert "editing this issue changes nothing" in comment
    # Again (the issue's `edited` event): no second pull request, nothing new said.
    again = run(asking, "open-pull-request", number)
    assert again.code == 0, again.err
    assert f"already has pull request #{pull.number}" in again.out
    assert asking.github.comments(REPO, number) == [comment]
    assert len(asking.github.repo(REPO).pulls) == 1

    # The pull request's check, as validate runs it: alice's request, no finding.
    head = tmp_path / "head"
    asking.github.checkout(REPO, pull.head_sha, head)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": pull.number},
                                 "number": pull.number}))
    checked = invoke("validate", "--repo", str(head), "--event", str(event), "--comment",
                     environ=asking.env, now=hours(0.1))
    assert checked.code == 0, checked.out + checked.err
    review = asking.github.comments(REPO, pull.number)[0]
    assert "0 so far; needed from @acme/security" in review and "No problems found" in review

    asking.approve(pull.number, "carol")
    asking.merge(pull.number)
    applied = asking.apply()
    assert applied.code == 0, applied.out + applied.err
    assert asking.members() == {"alice"}

    # Closing the loop: the merged pull request's issue is told and closed.
    closed = run(asking, "close-issue", pull.number, token=WORKFLOW_TOKEN)
    assert closed.code == 0, closed.out + closed.err
    record = asking.github.issue(REPO, number)
    assert (record.state, record.state_reason) == ("closed", "completed")
    assert f"Pull request #{pull.number} was merged" in asking.github.comments(REPO, number)[-1]
    # And again: nothing new.
    assert run(asking, "close-issue", pull.number, token=WORKFLOW_TOKEN).code == 0
    assert len(asking.github.comments(REPO, number)) == 2


def test_the_issue_author_approving_her_own_request_grants_nothing(asking: World) -> None:
    # alice is a code owner and an approver of prod-admin too: her approval is the strongest
    # self-approval there is, and GitHub lets her give it (the bot, not she, opened the pull
    # request).
    asking.github.set_team_member("acme", "security", "alice")
    number = issue(asking)
    assert run(asking, "open-pull-request", number).code == 0
    pull = the_pull(asking, number)
    asking.approve(pull.number, "alice")
    asking.approve(pull.number, BOT)  # and the bot that opened it
    asking.merge(pull.number)
    applied = asking.apply()
    assert applied.code == 1
    assert "the requester cannot approve their own request" in applied.err
    assert asking.members() == set()


def test_editing_the_issue_after_the_pull_request_changes_nothing(asking: World) -> None:
    from github import Auth, Github

    number = issue(asking, duration="2h")
    assert run(asking, "open-pull-request", number).code == 0
    pull = the_pull(asking, number)
    path = f"access-requests/prod-admin/alice-issue-{number}.yaml"
    before = asking.github.file_at(REPO, pull.head_sha, path)
    # alice edits her issue through the API: another entitlement, longer, and a new reason.
    asking.github.add_token("token-alice", "alice")
    gh = Github(auth=Auth.Token("token-alice"), base_url=f"{asking.github.base_url}/api/v3",
                retry=None)
    gh.get_repo(REPO).get_issue(number).edit(body=body(
        entitlement="break-glass", duration="4h", reason="changed my mind", ticket="INC-9"))
    edited = run(asking, "open-pull-request", number)  # the `edited` event
    assert edited.code == 0, edited.err
    assert "nothing to do" in edited.out
    assert len(asking.github.repo(REPO).pulls) == 1
    pull = the_pull(asking, number)
    assert asking.github.file_at(REPO, pull.head_sha, path) == before
    asking.approve(pull.number, "carol")
    asking.merge(pull.number)
    assert asking.apply().code == 0
    # What was approved is what is granted: prod-admin, until two hours after the ask.
    assert asking.members() == {"alice"} and asking.members("break-glass") == set()
    assert b"expires_at: 2026-11-23T11:00:00Z" in (before or b"")
    assert asking.apply(hours(2.1)).code == 0
    assert asking.members() == set()


REFUSALS = [
    ("an author not in identities.yaml", dict(author="erin"),
     "@erin is not in policies/identities.yaml"),
    ("an unknown entitlement", dict(entitlement="root"),
     "Entitlement 'root' is not one of the entitlements"),
    ("a duration that is no duration", dict(duration="forever"),
     "Duration: 'forever' is not a duration"),
    ("a duration over the maximum", dict(duration="9h"),
     "Duration 9h: prod-admin allows at most 4h"),
    ("a ticket the entitlement does not take", dict(ticket="see slack"), "ticket"),
    ("an issue that is not the form", dict(text="please give me prod"),
     "does not follow the access request form"),
]


@pytest.mark.parametrize(("name", "setup", "problem"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_opens_nothing_and_says_why_on_the_issue(
        asking: World, name: str, setup: dict[str, str], problem: str) -> None:
    if "author" in setup:
        asking.github.add_user(setup["author"])
    if "text" in setup:
        number = asking.github.open_issue(REPO, "alice", "Access", setup["text"],
                                          labels=("access-request",))
    else:
        number = issue(asking, **setup)
    refused = run(asking, "open-pull-request", number)
    assert refused.code == 1, refused.out + refused.err
    assert problem in refused.err
    assert "Traceback" not in refused.err
    assert asking.github.repo(REPO).pulls == {}
    assert asking.github.ref(REPO, f"refs/heads/{branch_for(number)}") is None
    [comment] = asking.github.comments(REPO, number)
    assert MARKER in comment and "could not open a pull request" in comment
    # Said once: a second run edits the one comment in place, and says nothing new.
    assert run(asking, "open-pull-request", number).code == 1
    assert asking.github.comments(REPO, number) == [comment]


def test_a_refused_issue_fixed_by_an_edit_becomes_its_pull_request(asking: World) -> None:
    number = issue(asking, duration="9h")
    assert run(asking, "open-pull-request", number).code == 1
    asking.github.issue(REPO, number).body = body(entitlement="prod-admin", duration="3h",
                                                  reason="Investigate INC-1", ticket="INC-1")
    assert run(asking, "open-pull-request", number).code == 0
    [comment] = asking.github.comments(REPO, number)
    assert "Opened pull request" in comment and "could not" not in comment


def test_a_closed_issue_and_a_pull_request_number_are_refused(asking: World) -> None:
    number = issue(asking)
    asking.github.issue(REPO, number).state = "closed"
    refused = run(asking, "open-pull-request", number)
    assert refused.code == 1 and f"issue #{number} is closed" in refused.err
    _path, pull = asking.ask("bob")
    refused = run(asking, "open-pull-request", pull)
    assert refused.code == 1 and f"issue #{pull} is a pull request" in refused.err
    assert asking.github.comments(REPO, number) == []
    assert len(asking.github.repo(REPO).pulls) == 1


def test_a_pull_request_closed_unmerged_closes_its_issue_as_not_planned(asking: World) -> None:
    number = issue(asking)
    assert run(asking, "open-pull-request", number).code == 0
    pull = the_pull(asking, number)
    asking.github.close_pull(REPO, pull.number)
    closed = run(asking, "close-issue", pull.number, token=WORKFLOW_TOKEN)
    assert closed.code == 0, closed.err
    record = asking.github.issue(REPO, number)
    assert (record.state, record.state_reason) == ("closed", "not_planned")
    assert "closed without being merged: nothing is granted" in asking.github.comments(
        REPO, number)[-1]


def test_closing_ignores_pull_requests_no_request_bot_opened(asking: World) -> None:
    # bob opens a pull request from a branch named like the bot's, for alice's issue.
    number = issue(asking)
    pull = asking.github.open_pull(REPO, "bob", branch_for(number),
                                   {"access-requests/prod-admin/bob-x.yaml": "x\n"})
    asking.github.close_pull(REPO, pull)
    result = run(asking, "close-issue", pull, token=WORKFLOW_TOKEN)
    assert result.code == 0 and "nothing to do" in result.out
    assert asking.github.issue(REPO, number).state == "open"
    assert asking.github.comments(REPO, number) == []


ATTACKS = [
    # The bot's pull request names issue N, but someone else opened it: the file's requester
    # must be the issue's author, whatever the file says.
    ("the issue was opened by someone else", "bob", "alice", "which bob opened"),
    # A bot not under request_bots opens for alice: someone else's request.
    ("a bot the policies do not declare", "alice", "alice", "opened by helper[bot]"),
]


@pytest.mark.parametrize(("name", "issue_author", "requester", "reason"), ATTACKS,
                         ids=[a[0] for a in ATTACKS])
def test_a_bot_s_pull_request_carries_only_its_issue_author_s_request(
        asking: World, name: str, issue_author: str, requester: str, reason: str) -> None:
    number = issue(asking, author=issue_author)
    opener = "helper[bot]" if "declare" in name else BOT
    path = f"access-requests/prod-admin/{requester}-issue-{number}.yaml"
    pull = asking.github.open_pull(REPO, opener, branch_for(number), {path: (
        f"requester: {requester}\nentitlement: prod-admin\nreason: x\nticket: INC-1\n"
        "expires_at: 2026-11-23T12:00:00Z\n")}, at=T0)
    asking.approve(pull, "carol")
    asking.merge(pull)
    applied = asking.apply()
    assert applied.code == 1
    assert reason in applied.err
    assert asking.members() == set()


def test_apply_with_the_generated_job_s_permissions_reads_the_issue(asking: World) -> None:
    """The apply job's permissions (contents, pull-requests: write; issues: read), with
    Members: read for the approver team this world keeps on GitHub (an App's
    ACCESSCTL_VCS_TOKEN): enough to judge a bot's pull request. Without Issues nothing is
    granted: the start-up token check (request_bots are declared) stops the run naming it."""
    number = issue(asking)
    assert run(asking, "open-pull-request", number).code == 0
    pull = the_pull(asking, number)
    asking.approve(pull.number, "carol")
    asking.merge(pull.number)
    asking.github.add_token("ghs_applynoissues", "github-actions[bot]",
                            {"contents": "write", "pull_requests": "write", "members": "read"})
    asking.env["GITHUB_TOKEN"] = "ghs_applynoissues"
    short = asking.apply()
    assert short.code == 2, short.err
    assert "lacks Issues: read" in short.err and "Traceback" not in short.err
    assert asking.members() == set()
    asking.github.add_token("ghs_applyjob", "github-actions[bot]", {
        "contents": "write", "pull_requests": "write", "issues": "read", "members": "read"})
    asking.env["GITHUB_TOKEN"] = "ghs_applyjob"
    applied = asking.apply(hours(1.1))
    assert applied.code == 0, applied.out + applied.err
    assert asking.members() == {"alice"}
