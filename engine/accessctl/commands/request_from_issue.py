"""`accessctl request --from-issue N` and `--close-issue-for-pr N`: asking without git.

Someone opens an access request issue from the form (.github/ISSUE_TEMPLATE/access-request.yml);
the request workflow runs `--from-issue` with a GitHub App token. The issue's author is the
requester: they must be in policies/identities.yaml under their GitHub login, and the form's
values must make a request the policies accept. The command then writes the request file on the
branch access-request/issue-N through the API, opens the pull request (the App is its author,
which identities.yaml `request_bots` must declare), and comments its link on the issue. From
then on the pull request is the request: its file is what the code owners approve and what is
granted, judged like any other (approval/on_behalf.py: the requester is the issue's author,
read again at every judgement, and neither they nor the bot approve). Editing the issue changes
nothing once the pull request is open; running the command again opens nothing and says nothing
new. A problem is commented on the issue (one comment, edited in place) and exits 1, so the
author can edit the issue and the workflow tries again.

When the pull request is merged or closed, `--close-issue-for-pr N` says so on the issue and
closes it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from accessctl.approval.on_behalf import branch_for, issue_of
from accessctl.approval.vcs.github_issues import GitHubIssues, IssueRecord, PullRecord
from accessctl.core import markdown
from accessctl.core.durations import format_duration, parse_duration
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Policies, Severity, isoformat
from accessctl.judge.evaluate import evaluate
from accessctl.read import issue_form
from accessctl.read.load import (
    IDENTITIES_FILE,
    REQUESTS_DIR,
    MemorySource,
    TreeSource,
    load_policies,
    load_request,
)

MARKER = "<!-- accessctl:request-from-issue -->"
CLOSED_MARKER = "<!-- accessctl:request-from-issue-closed -->"
NOT_GRANTED_BY_EDITS = (
    "What is granted is the request file in that pull request, as its code owners approve it "
    "there: editing this issue changes nothing now. To change the request, close the pull "
    "request and open a new issue.")


def _client(env: Environment) -> GitHubIssues:
    from accessctl.approval.vcs.github import GitHubVcs
    from accessctl.approval.vcs.select import from_environment

    vcs = from_environment(env.environ, "github")
    assert isinstance(vcs, GitHubVcs)
    return GitHubIssues(vcs)


def _policies(repo: Path) -> Policies:
    policies, _ = load_policies(TreeSource(repo))
    if policies is None:
        raise FindingsError(f"the policies in {repo} cannot be read: run 'accessctl validate'")
    return policies


def open_from_issue(env: Environment, repo: Path, number: int, now: datetime) -> None:
    policies = _policies(repo)
    github = _client(env)
    issue = github.issue(number)
    if issue is None or issue.is_pull:
        what = "a pull request" if issue is not None else "not found"
        raise FindingsError(f"issue #{number} is {what}: --from-issue takes an access request "
                            "issue")
    if issue.state != "open":
        raise FindingsError(f"issue #{number} is closed: nothing is opened for a closed issue "
                            "(open a new one to ask again)")
    branch = branch_for(number)
    existing = github.pulls_from(branch)
    if existing:
        # Idempotent: the pull request is the request now. Its link comment is written (or left
        # as it is) and nothing else happens, whatever the issue says today.
        pull = existing[0]
        github.comment(number, MARKER, _opened_comment(issue.author, pull))
        env.stdout.write(f"issue #{number} already has pull request #{pull.number} "
                         f"({pull.url}, {_state(pull)}): nothing to do; its file is what is "
                         "judged, not the issue\n")
        return
    problems, text, path, summary = _request_from(issue, policies, now)
    if problems:
        github.comment(number, MARKER, _refusal_comment(issue, problems))
        for problem in problems:
            env.stderr.write(f"issue #{number}: {problem}\n")
        raise FindingsError(f"issue #{number}: no pull request opened (the problems are "
                            "commented on the issue)")
    assert text is not None and path is not None
    login = policies.people[issue.author.casefold()].login
    github.put_on_new_branch(branch, path, text,
                             f"Request from issue #{number} for {login}\n\n{summary}")
    pull = github.open_pull(branch, f"Access request from issue #{number}: {login}",
                            _pull_body(number, login, path, summary))
    github.comment(number, MARKER, _opened_comment(issue.author, pull))
    env.stdout.write(f"opened {pull.url} for {login}: {path}\n")
    declared = {b.casefold() for b in policies.request_bots}
    if not pull.author_is_bot or pull.author.casefold() not in declared:
        # Opened, but apply will refuse it until the policies name its author.
        raise FindingsError(
            f"pull request #{pull.number} was opened by {pull.author}, which {IDENTITIES_FILE} "
            "does not list under request_bots: it is judged as someone else's request (and "
            "denied) until it does; run this command with the request App's token")


def _request_from(issue: IssueRecord, policies: Policies, now: datetime
                  ) -> tuple[list[str], str | None, str | None, str]:
    """(problems, file text, path, a one-line summary) for the issue's request."""
    from accessctl.commands.request import render as write

    person = policies.people.get(issue.author.casefold())
    if person is None:
        return ([f"@{issue.author} is not in {IDENTITIES_FILE}: access is asked for by the "
                 "people it names, under their GitHub login; ask its owners to add you"],
                None, None, "")
    asked, problems = issue_form.parse(issue.body)
    if asked is None:
        return problems, None, None, ""
    entitlement = policies.entitlements.get(asked.entitlement)
    if entitlement is None:
        return ([f"Entitlement {asked.entitlement!r} is not one of the entitlements in "
                 "policies/entitlements/: choose one from the form's list"], None, None, "")
    try:
        length = parse_duration(asked.duration)
    except ValueError as error:
        return [f"Duration: {error}"], None, None, ""
    now = now.replace(microsecond=0)
    expires = now + length
    path = f"{REQUESTS_DIR}/{entitlement.name}/{person.login}-issue-{issue.number}.yaml"
    text = write(person.login, entitlement.name, asked.reason, asked.ticket, None, expires)
    request, found = load_request(MemorySource({path: text}), path)
    findings = list(found)
    if request is not None:
        # Teams only from identities.yaml: the request App reads no team. One known not to
        # hold the requester refuses; one it cannot read is left to the pull request's check.
        findings += evaluate(policies, [request], now, fresh=[path],
                             teams=lambda name: policies.teams.get(name.casefold())).findings
    problems = []
    for finding in findings:
        if finding.severity is not Severity.ERROR or finding.code == "eligibility-unknown":
            continue
        if finding.code == "window-too-long":
            problems.append(f"Duration {asked.duration}: {entitlement.name} allows at most "
                            f"{format_duration(entitlement.max_duration)}")
        else:
            problems.append(finding.message)
    summary = (f"{person.login} asks for {entitlement.name} for {format_duration(length)}, "
               f"until {isoformat(expires)}")
    return problems, (None if problems else text), path, summary


def _state(pull: PullRecord) -> str:
    return "merged" if pull.merged else pull.state


def _opened_comment(author: str, pull: PullRecord) -> str:
    return (f"{MARKER}\nOpened pull request #{pull.number} for @{author}: "
            f"{markdown.link(pull.url)}\n\nThe code owners of the entitlement approve it by "
            f"reviewing it there; your own review does not count. {NOT_GRANTED_BY_EDITS}\n")


def _refusal_comment(issue: IssueRecord, problems: list[str]) -> str:
    lines = [MARKER, "accessctl could not open a pull request for this issue:", ""]
    lines += [f"- {markdown.text(p)}" for p in problems]
    lines += ["", "Edit the issue to fix it: the request is made again when you save."]
    return "\n".join(lines) + "\n"


def _pull_body(number: int, login: str, path: str, summary: str) -> str:
    return (f"Opened by accessctl from issue #{number}, for @{login} (the issue's author, who "
            f"is the requester).\n\n{markdown.text(summary)}: {markdown.code(path)}.\n\n"
            "Approve by reviewing this pull request: a code owner of the entitlement, other "
            f"than @{login}. This pull request's file is what is granted; later edits to the "
            f"issue change nothing. When it is merged or closed, issue #{number} is told and "
            "closed.\n")


def close_issue_for(env: Environment, repo: Path, number: int) -> None:
    policies = _policies(repo)
    github = _client(env)
    pull = github.pull(number)
    if pull is None:
        raise FindingsError(f"pull request #{number} not found")
    issue_number = issue_of(pull.head_ref)
    declared = {b.casefold() for b in policies.request_bots}
    if issue_number is None or not pull.author_is_bot or pull.author.casefold() not in declared:
        env.stdout.write(f"pull request #{number} was not opened from an access request issue "
                         "by a request bot: nothing to do\n")
        return
    if pull.state == "open":
        raise FindingsError(f"pull request #{number} is still open: its issue is closed when "
                            "it is merged or closed")
    issue = github.issue(issue_number)
    if issue is None or issue.is_pull:
        env.stdout.write(f"issue #{issue_number} is gone: nothing to do\n")
        return
    if pull.merged:
        body = (f"{CLOSED_MARKER}\nPull request #{pull.number} was merged: the access is "
                "granted by the next apply run, and taken away when the request's expires_at "
                "passes.\n")
    else:
        body = (f"{CLOSED_MARKER}\nPull request #{pull.number} was closed without being "
                "merged: nothing is granted. To ask again, open a new access request issue.\n")
    github.comment(issue_number, CLOSED_MARKER, body)
    if issue.state == "open":
        github.close(issue_number, "completed" if pull.merged else "not_planned")
    env.stdout.write(f"issue #{issue_number}: told that pull request #{pull.number} was "
                     f"{'merged' if pull.merged else 'closed'}, and closed\n")


def check_github(vcs_kind: str | None) -> None:
    if vcs_kind not in (None, "github"):
        raise ConfigError("--from-issue and --close-issue-for-pr are for GitHub (issue forms)")
