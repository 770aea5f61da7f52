"""GitHub through PyGithub (imported only when the VCS is GitHub)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from accessctl.approval.codeowners import LOCATIONS
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.approval.vcs.transport import (
    Budget,
    BudgetSettings,
    install_on_github,
    settings_from,
)
from accessctl.core.errors import ConfigError


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ApiFiles:
    """A commit's files read through the contents API (cached: each path is asked once)."""

    def __init__(self, repo: Any, sha: str) -> None:
        self.repo = repo
        self.sha = sha
        self._files: dict[str, bytes | None] = {}
        self._dirs: dict[str, list[str]] = {}

    def list(self, directory: str) -> list[str]:
        from github import GithubException

        if directory not in self._dirs:
            found: list[str] = []
            try:
                entries = self.repo.get_contents(directory, ref=self.sha)
            except GithubException as error:
                if error.status != 404:
                    raise
                entries = []
            for entry in entries if isinstance(entries, list) else [entries]:
                if entry.type == "dir":
                    found.extend(self.list(entry.path))
                elif entry.type == "file":
                    found.append(entry.path)
            self._dirs[directory] = sorted(found)
        return self._dirs[directory]

    def read(self, path: str) -> bytes | None:
        from github import GithubException

        if path not in self._files:
            try:
                content = self.repo.get_contents(path, ref=self.sha)
            except GithubException as error:
                if error.status != 404:
                    raise
                self._files[path] = None
            else:
                self._files[path] = None if isinstance(content, list) else content.decoded_content
        return self._files[path]


class GitHubVcs:
    kind = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        base_url: str = "https://api.github.com",
        default_branch: str | None = None,
        budget: Budget | None = None,
    ) -> None:
        from github import Auth, Github

        # Reads need no pacing and PyGithub's own retries are off: the budget adapter under it
        # retries, waits out limits and keeps the reserve (transport.py).
        self._client = Github(
            auth=Auth.Token(token), base_url=base_url, lazy=True, retry=None, per_page=100,
            seconds_between_requests=None,
        )
        self.budget = budget or Budget(BudgetSettings("GitHub", base_url, "GITHUB_TOKEN"))
        install_on_github(self._client, self.budget)
        self.repository = repository
        self._repo = self._client.get_repo(repository)
        # The lazy client fetches the repository only when a default branch must be looked up.
        self.default_branch = default_branch or self._default_branch(base_url)

    @property
    def sdk_repo(self) -> Any:
        """PyGithub's repository, on this client (its budget and retries): for the request
        workflow's writes (approval/vcs/github_issues.py)."""
        return self._repo

    def _default_branch(self, base_url: str) -> str:
        from github import GithubException

        try:
            return str(self._repo.default_branch)
        except GithubException as error:
            if error.status != 404:
                raise
            # GitHub answers 404 also for a private repository the token may not read.
            raise ConfigError(f"repository {self.repository} not found at {base_url} (or the "
                              "token cannot read it): check GITHUB_REPOSITORY") from None

    def codeowners_paths(self) -> tuple[str, ...]:
        return LOCATIONS["github"]

    def last_commit_touching(self, path: str, ref: str) -> str | None:
        for commit in self._repo.get_commits(sha=ref, path=path):
            return str(commit.sha)
        return None

    def merged_pull_request_for(self, commit_sha: str, path: str) -> PullRequest | None:
        candidates = []
        for pull in self._repo.get_commit(commit_sha).get_pulls():
            if pull.merged_at is not None and pull.base.ref == self.default_branch:
                candidates.append(pull)
        if not candidates:
            return None
        pull = max(
            candidates, key=lambda p: _aware(p.merged_at) or datetime.min.replace(tzinfo=UTC)
        )
        return self._record(pull)

    def pull_request(self, number: int) -> PullRequest:
        from github import GithubException

        try:
            # The lazy client asks for the pull request (and its files) only in _record.
            return self._record(self._repo.get_pull(number))
        except GithubException as error:
            if error.status != 404:
                raise
            # Exit 2: the event names a pull request this repository does not have.
            raise ConfigError(f"pull request {number} not found in {self.repository}") from None

    def recently_merged(self) -> Iterator[PullRequest]:
        # Closed pull requests, the most recently updated first, 100 a call, read lazily: the
        # ones merged since the last run are on the first page or two.
        for pull in self._repo.get_pulls(state="closed", sort="updated", direction="desc",
                                         base=self.default_branch):
            if pull.merged_at is not None:
                yield self._record(pull, files=False)

    def pulls_for_commit(self, commit_sha: str) -> list[PullRequest]:
        # One call (per 100 pull requests): the listed records carry everything but the files.
        return [self._record(pull, files=False)
                for pull in self._repo.get_commit(commit_sha).get_pulls()]

    def with_files(self, pull: PullRequest) -> PullRequest:
        import dataclasses

        # The lazy client asks for the files only (one call per 100), not the pull request.
        listed = list(self._repo.get_pull(pull.number).get_files())
        return dataclasses.replace(
            pull, changed_files=tuple(f.filename for f in listed),
            added_files=tuple(f.filename for f in listed if f.status == "added"),
            head_blobs=tuple((f.filename, f.sha) for f in listed
                             if f.status != "removed" and f.sha))

    def _record(self, pull: Any, files: bool = True) -> PullRequest:
        listed = list(pull.get_files()) if files else []
        return PullRequest(
            number=pull.number,
            url=pull.html_url,
            author=pull.user.login,
            author_is_bot=pull.user.type == "Bot",
            head_sha=pull.head.sha,
            head_ref=pull.head.ref,
            base_ref=pull.base.ref,
            base_sha=pull.base.sha,
            merged=bool(pull.merged_at),
            merged_at=_aware(pull.merged_at),
            merge_commit_sha=pull.merge_commit_sha,
            changed_files=tuple(f.filename for f in listed),
            added_files=tuple(f.filename for f in listed if f.status == "added")
            if files else None,
            head_blobs=tuple((f.filename, f.sha) for f in listed
                             if f.status != "removed" and f.sha) if files else None,
        )

    def current_login(self) -> str:
        return str(self._client.get_user().login)

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> str:
        return str(self._repo.create_pull(base=base, head=head, title=title, body=body).html_url)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        issue = self._repo.get_issue(number)
        for comment in issue.get_comments():
            if marker in (comment.body or ""):
                if comment.body != body:
                    comment.edit(body)
                return
        issue.create_comment(body)

    def approve(self, pull: PullRequest, body: str, marker: str) -> None:
        record = self._repo.get_pull(pull.number)
        for review in record.get_reviews():
            if review.state == "APPROVED" and review.commit_id == pull.head_sha \
                    and marker in (review.body or ""):
                return
        # The commit is pinned so that a push racing this run is not approved unseen.
        record.create_review(commit=self._repo.get_commit(pull.head_sha), body=body,
                             event="APPROVE")

    def ask_for_review(self, pull: PullRequest, users: Sequence[str], teams: Sequence[str],
                       body: str, marker: str) -> bool:
        from github import GithubException

        slugs = [t.lstrip("@").partition("/")[2] for t in teams]
        accepted = True
        try:
            self._repo.get_pull(pull.number).create_review_request(
                reviewers=list(users), team_reviewers=slugs)
        except GithubException as error:
            # 422: a reviewer without access, the author, or a state GitHub will not take.
            if error.status not in (403, 404, 422):
                raise
            accepted = False
        self.upsert_comment(pull.number, marker, body)
        return accepted

    def ratifications(self, pull: PullRequest) -> list[Review]:
        return []  # reviews given after the merge are reviews like any other

    def reviews(self, pull: PullRequest) -> list[Review]:
        found = []
        for review in self._repo.get_pull(pull.number).get_reviews():
            try:
                state = ReviewState(review.state)
            except ValueError:
                continue
            user = review.user
            found.append(
                Review(
                    login=user.login if user else "ghost",
                    state=state,
                    commit_id=review.commit_id,
                    submitted_at=_aware(review.submitted_at),
                    is_bot=bool(user and user.type == "Bot"),
                )
            )
        return found

    def issue_author(self, number: int) -> str | None:
        from github import GithubException

        try:
            issue = self._repo.get_issue(number)
            if issue.pull_request is not None:
                return None  # a pull request, not an issue
            return str(issue.user.login)
        except GithubException as error:
            if error.status in (404, 410):
                return None  # no such issue, or deleted
            if error.status == 403:
                raise ConfigError(
                    f"issue #{number}: GitHub refused to read it (403): the token needs Issues: "
                    "read to judge a request a bot opened from an issue") from None
            raise

    def team_members(self, team: str) -> frozenset[str] | None:
        from urllib.parse import quote

        from github import GithubException
        from github.NamedUser import NamedUser
        from github.PaginatedList import PaginatedList

        org, _, slug = team.lstrip("@").partition("/")
        try:
            # One call per 100 members: the team's member list by its slug, without first
            # reading the organisation and the team (GET /orgs/{org}/teams/{slug}/members).
            listed = PaginatedList(NamedUser, self._client.requester,
                                   f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}"
                                   "/members", {"per_page": 100})
            return frozenset(m.login.casefold() for m in listed)
        except GithubException as error:
            if error.status == 404:
                return None
            raise

    def files_at(self, sha: str) -> ApiFiles:
        return ApiFiles(self._repo, sha)

    def missing_permissions(self, team: str | None, writes: bool,
                            issues: bool = False) -> list[str]:
        """The permissions a run needs that the token lacks, from one GraphQL query (see
        approval/vcs/access.py). GraphQL answers each field it may not read with its own
        FORBIDDEN error, so one call names every missing read, and it counts against GraphQL's
        rate limit, which is separate from the REST one the run's own calls spend. `writes` is
        not tried: only writing would tell. `issues`: the run must read who opened an access
        request issue (identities.yaml declares request_bots)."""
        import requests
        from github import GithubException

        owner, _, name = self.repository.partition("/")
        org, _, slug = (team or "").lstrip("@").partition("/")
        variables = {"owner": owner, "name": name, "org": org, "team": slug,
                     "withTeam": team is not None, "withIssues": issues}
        requester = self._client.requester
        try:
            _, answer = requester.requestJsonAndCheck(
                "POST", requester.graphql_url,
                input={"query": TOKEN_CHECK, "variables": variables})
        except requests.exceptions.RequestException:
            return []  # unreachable now: the run's own calls will meet it
        except GithubException as error:
            data = error.data if isinstance(error.data, dict) else {}
            if error.status == 401:
                return [f"a valid credential (GitHub answered 401 {data.get('message') or ''}"
                        "; an installation token expires an hour after it is made: mint it in "
                        "the job)"]
            # Any other HTTP error (an outage, a rate limit) says nothing about permissions:
            # the run's own calls meet it.
            return []
        errors = answer.get("errors") if isinstance(answer, dict) else None
        found: dict[str, str] = {}
        for item in errors if isinstance(errors, list) else []:
            if not isinstance(item, dict) or item.get("type") != "FORBIDDEN":
                continue  # NOT_FOUND (a missing team, say) is judged per request
            path = [str(p) for p in item.get("path") or []]
            field_name = next((f for f in TOKEN_CHECK_FIELDS if f in path), None)
            if field_name is None:
                continue
            permission, why = TOKEN_CHECK_FIELDS[field_name]
            found.setdefault(permission, (
                f"{permission} ({why.format(team=team)}; GitHub answered FORBIDDEN on "
                f"{'.'.join(path)}: {item.get('message') or 'no message'})"))
        return list(found.values())


TOKEN_CHECK = """query AccessctlTokenCheck($owner: String!, $name: String!, $org: String!,
    $team: String!, $withTeam: Boolean!, $withIssues: Boolean!) {
  repository(owner: $owner, name: $name) {
    object(expression: "HEAD") { oid }
    pullRequests(first: 1) { totalCount }
    issues(first: 1) @include(if: $withIssues) { totalCount }
  }
  organization(login: $org) @include(if: $withTeam) {
    team(slug: $team) { members(first: 1) { totalCount } }
  }
}"""
"""The start-up check of a GitHub token: one query that reads one item behind each permission
the run needs (a git object: Contents; a pull request: Pull requests; a team's members:
Members)."""

TOKEN_CHECK_FIELDS = {
    "object": ("Contents: read", "to read commits and files"),
    "pullRequests": ("Pull requests: read", "to read pull requests and reviews"),
    "issues": ("Issues: read", "to read who opened an access request issue, since "
               "identities.yaml declares request_bots"),
    "team": ("Members: read", "to read the members of {team}"),
}
"""The field of TOKEN_CHECK a FORBIDDEN error names, and the permission it stands for."""


def from_environment(environ: Mapping[str, str]) -> GitHubVcs:
    """GitHub Actions sets these; the token is the workflow's own GITHUB_TOKEN or an app's."""
    repository = environ.get("GITHUB_REPOSITORY")
    variable = "ACCESSCTL_VCS_TOKEN" if environ.get("ACCESSCTL_VCS_TOKEN") else "GITHUB_TOKEN"
    token = environ.get(variable)
    if not repository or not token:
        raise ConfigError(
            "GitHub needs GITHUB_REPOSITORY and GITHUB_TOKEN (or "
            "ACCESSCTL_VCS_TOKEN) in the environment to verify approvals"
        )
    url = environ.get("GITHUB_API_URL", "https://api.github.com")
    return GitHubVcs(
        repository,
        token,
        url,
        environ.get("ACCESSCTL_DEFAULT_BRANCH"),
        Budget(settings_from(environ, "GitHub", url, variable)),
    )
