"""Requests a bot opened for someone: a pull request opened from an access request issue.

`accessctl request --from-issue N` turns issue N into a pull request on the branch
`access-request/issue-N`, opened by a bot (the GitHub App whose token the workflow mints), so
the pull request's author is the bot, not the requester. Invariant 2 then reads: the requester
is the author of the issue the branch names, and neither the requester nor the bot counts as an
approver. A bot may do this only when the judged policies declare it (identities.yaml
`request_bots`), only for the issue its branch names, and only for that issue's author, asked
of the VCS whenever the request is judged: the file may say anything, who opened the issue is
GitHub's record. What is granted is still the file on the pull request's final head, approved
there; editing the issue later changes nothing. Pure.
"""

from __future__ import annotations

import re

from accessctl.approval.vcs.base import PullRequest
from accessctl.core.model import Policies, Request

BRANCH_PREFIX = "access-request/issue-"
_BRANCH = re.compile(r"^access-request/issue-([1-9][0-9]{0,9})$")


def branch_for(issue: int) -> str:
    """The branch a request bot opens issue `issue`'s pull request from."""
    return f"{BRANCH_PREFIX}{issue}"


def issue_of(head_ref: str) -> int | None:
    """The issue a request bot's branch names, or None for any other branch."""
    match = _BRANCH.match(head_ref)
    return int(match[1]) if match else None


def is_request_bot(pull: PullRequest, policies: Policies | None) -> bool:
    """The pull request's author is a bot account that the policies declare a request bot."""
    return (policies is not None and pull.author_is_bot
            and pull.author.casefold() in {b.casefold() for b in policies.request_bots})


def needs_issue_author(pull: PullRequest, request: Request, policies: Policies | None) -> bool:
    """Whether the VCS must say who opened the pull request's issue to judge `request`."""
    return (pull.author.casefold() != request.requester.casefold()
            and is_request_bot(pull, policies) and issue_of(pull.head_ref) is not None)


def opener_problem(request: Request, pull: PullRequest, policies: Policies | None) -> str | None:
    """Why the pull request may not carry `request` (None: it may): it must be the requester's
    own, or a declared request bot's, opened from an issue the requester opened."""
    if pull.author.casefold() == request.requester.casefold():
        return None
    mine = (f"pull request #{pull.number} was opened by {pull.author}, but the request names "
            f"{request.requester}: only the requester may open their own request")
    if not is_request_bot(pull, policies):
        return mine
    issue = issue_of(pull.head_ref)
    if issue is None:
        return (f"{mine} (a request bot opens only from an access request issue, on a branch "
                f"{BRANCH_PREFIX}N: this one is not from an access request issue)")
    if pull.opened_for is None:
        return (f"pull request #{pull.number} was opened by {pull.author} from issue #{issue}, "
                "which cannot be read as an issue of this repository, so who asked is unknown")
    if pull.opened_for.casefold() != request.requester.casefold():
        return (f"pull request #{pull.number} was opened by {pull.author} from issue #{issue}, "
                f"which {pull.opened_for} opened, but the request names {request.requester}: a "
                "request from an issue is for the issue's author only")
    return None
