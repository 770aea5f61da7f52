"""What `accessctl request --from-issue` asks of GitHub, through PyGithub on the same client,
budget and retries as the rest of the engine (approval/vcs/github.py): read an issue, find the
pull requests of a branch, put one file on a new branch, open the pull request, comment on and
close the issue. Nothing here is used to judge approvals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accessctl.approval.vcs.github import GitHubVcs
from accessctl.core.errors import ConfigError


@dataclass(frozen=True)
class IssueRecord:
    number: int
    url: str
    author: str
    author_is_bot: bool
    state: str
    body: str
    is_pull: bool


@dataclass(frozen=True)
class PullRecord:
    number: int
    url: str
    author: str
    author_is_bot: bool
    state: str
    merged: bool
    head_ref: str


def _pull(pull: Any) -> PullRecord:
    return PullRecord(pull.number, str(pull.html_url), str(pull.user.login),
                      pull.user.type == "Bot", str(pull.state), pull.merged_at is not None,
                      str(pull.head.ref))


class GitHubIssues:
    def __init__(self, vcs: GitHubVcs) -> None:
        self.vcs = vcs
        self._repo = vcs.sdk_repo

    def issue(self, number: int) -> IssueRecord | None:
        from github import GithubException

        try:
            issue = self._repo.get_issue(number)
            return IssueRecord(issue.number, str(issue.html_url), str(issue.user.login),
                               issue.user.type == "Bot", str(issue.state), issue.body or "",
                               issue.pull_request is not None)
        except GithubException as error:
            if error.status in (404, 410):
                return None
            raise

    def pull(self, number: int) -> PullRecord | None:
        from github import GithubException

        try:
            return _pull(self._repo.get_pull(number))
        except GithubException as error:
            if error.status == 404:
                return None
            raise

    def pulls_from(self, branch: str) -> list[PullRecord]:
        """Every pull request, open or closed, whose head is `branch` of this repository."""
        owner = self.vcs.repository.split("/", 1)[0]
        return [_pull(p) for p in self._repo.get_pulls(state="all", head=f"{owner}:{branch}")]

    def put_on_new_branch(self, branch: str, path: str, text: str, message: str) -> None:
        """Branch `branch` off the default branch's head, with one commit adding `path`. A branch
        or file already there from an earlier run that stopped half-way is taken as it is."""
        from github import GithubException

        base = self._repo.get_git_ref(f"heads/{self.vcs.default_branch}").object.sha
        try:
            self._repo.create_git_ref(ref=f"refs/heads/{branch}", sha=base)
        except GithubException as error:
            if error.status != 422:  # "Reference already exists": an earlier run made it
                raise
        try:
            self._repo.create_file(path, message, text, branch=branch)
        except GithubException as error:
            if error.status != 422:  # the file is there already ("sha" wasn't supplied)
                raise

    def open_pull(self, branch: str, title: str, body: str) -> PullRecord:
        return _pull(self._repo.create_pull(base=self.vcs.default_branch, head=branch,
                                            title=title, body=body))

    def comment(self, number: int, marker: str, body: str) -> None:
        """The issue's one comment holding `marker`: written, or edited in place when it
        differs (so a run repeated says nothing new)."""
        self.vcs.upsert_comment(number, marker, body)

    def close(self, number: int, reason: str) -> None:
        """Close the issue with `reason` ("completed" or "not_planned")."""
        from github import GithubException

        try:
            self._repo.get_issue(number).edit(state="closed", state_reason=reason)
        except GithubException as error:
            raise ConfigError(f"issue #{number} could not be closed ({error.status}): the token "
                              "needs Issues: write") from None
