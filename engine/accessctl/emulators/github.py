"""A GitHub REST API emulator: users, orgs, teams, repositories with a small git store, pulls.

It answers under `/api/v3` (GitHub Enterprise Server's prefix, which PyGithub uses for any
`base_url` that is not api.github.com) in GitHub's wire format: `Authorization: token ...`,
`Link` pagination with `page`/`per_page` (default 30, at most 100), error bodies
`{"message": ..., "documentation_url": ...}` (422 with `errors`), `x-ratelimit-*` headers, and a
429 with `Retry-After`. Every URL in a response is absolute on the emulator's own base URL, so
PyGithub follows them back here. Every response is kept in `responses` so tests can check it
against GitHub's OpenAPI description.

Behaviours modelled on purpose because approval verification depends on them:
- `commits/{sha}/pulls` finds the merged pull request behind a commit on the default branch
  whether it was merged with a merge commit, squashed, or rebased; off the default branch it also
  lists open pull requests that contain the commit.
- A review keeps the commit it was given on (`commit_id`); pushing to a pull request moves its
  head but leaves earlier reviews on the older commit, as GitHub does without "dismiss stale
  reviews". A dismissed review turns into state DISMISSED.
- Listing commits with `path=` simplifies history like `git log -- path` (a merge that took the
  file from one parent is skipped), so the newest commit touching a request file is the pull
  request's own commit, the squash commit or the rebased commit.
- Commits, trees and blobs have real git object IDs (`git_objects` hands out the objects, as a
  fetch would), so a local clone of the emulator's default branch has the very SHAs the API
  names: the engine reads history from git and asks the API about the same commits.
- `commits?path=` lists newest first by author date, as GitHub shows commits: a backdated commit
  sorts below older ones.
- A pull request's `base.sha` is where its base branch stood when it was opened or last pushed
  to; merging does not refresh it. Merges are three-way per line: changes to different lines of
  one file from both sides combine (a conflict only where they touch).
- Adding an outside collaborator creates a pending invitation (201) that the user must accept; an
  organization member is added at once (204). Adding a non-member of the organization to a team
  leaves a pending membership until they join.
- Teams nest (`add_team(..., parent=...)`): the REST member list and membership look-up of a
  team include its child teams' members, as GitHub documents; GraphQL's `members(membership:
  IMMEDIATE)` (the one query `POST /api/graphql` answers) lists only its own.
- A team synchronized with an identity provider (`sync_team_with_idp`, or an Enterprise
  Managed Users external group) refuses membership changes through the API with a 403 (GitHub
  documents the refusal, not its wording, which is ours), and names its groups under
  `.../team-sync/group-mappings` (or `.../external-groups`).

The seeding helpers at the bottom (`add_user`, `add_org`, `add_team`, `add_repo`, `commit`,
`open_pull`, `submit_review`, `merge_pull`, `push_direct`, ...) build scenarios for tests and for
`accessctl demo`; they take and return plain values and never go through HTTP.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import itertools
import math
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

API = "/api/v3"
DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000
GRAPHQL_POINTS = 5_000
"""GraphQL's own hourly budget, in points (one per query the size the engine sends)."""
DEFAULT_TOKEN = "ghp_emulatortoken0000000000000000000000"
DEFAULT_LOGIN = "accessctl-admin"

# Repository roles, weakest first; the API takes the legacy names pull/push as well.
ROLES = ("read", "triage", "write", "maintain", "admin")
ROLE_ALIASES = {"pull": "read", "push": "write"}
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED")
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                 "COMMENT": "COMMENTED"}

FileContent = str | bytes | None
"""A file as the seeding helpers take it: text, bytes, or None to delete the path."""


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(login: str) -> str:
    """GitHub logins compare case-insensitively; the stored login keeps its case."""
    return login.casefold()


def _node(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def github_error(status: int, message: str, errors: list[JSON] | None = None) -> HttpError:
    body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return HttpError(status, body)


def not_found() -> HttpError:
    return github_error(404, "Not Found")


def invalid(message: str, resource: str = "", field_name: str = "", code: str = "invalid"
            ) -> HttpError:
    """A 422 "Validation Failed" with one entry in `errors`, as GitHub words them."""
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return github_error(422, "Validation Failed", [error])


def role_of(permission: str) -> str:
    """The repository role for a permission name (`pull` -> `read`); 422 when unknown."""
    name = ROLE_ALIASES.get(permission, permission)
    if name not in ROLES:
        raise invalid(f"{permission} is not a valid permission", "Repository", "permission")
    return name


def required_permission(method: str, route: str) -> tuple[str, str] | None:
    """The GitHub App permission (name, read|write) a route needs, for the routes this emulator
    serves; None where only Metadata (always granted) is needed."""
    level = "read" if method == "GET" else "write"
    if route == "/api/graphql":
        return None  # GraphQL checks each field: FORBIDDEN errors in a 200 (see _graphql)
    if route.startswith(("/orgs/{org}/teams", "/organizations/{org_id}/team")):
        return "members", level
    if not route.startswith("/repos/{owner}/{repo}/"):
        return None
    rest = route[len("/repos/{owner}/{repo}/"):]
    section = rest.split("/", 1)[0]
    if section in ("commits", "contents", "git", "compare", "branches"):
        return "contents", level
    if section == "pulls":
        return "pull_requests", level
    if section == "issues":
        # Pull request comments go through the issues API; GitHub takes either permission.
        return "pull_requests", level
    if section in ("collaborators", "invitations"):
        return "administration", level
    if section in ("statuses", "check-runs"):
        return ("statuses" if section == "statuses" else "checks"), level
    return None


# -- state ----------------------------------------------------------------------------------------
@dataclass
class Account:
    id: int
    login: str
    type: str  # "User", "Bot" or "Organization"
    name: str | None = None
    email: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Org:
    account: Account
    members: dict[str, str] = field(default_factory=dict)  # key -> role "member" | "admin"


@dataclass
class Team:
    id: int
    org: str  # org key
    slug: str
    name: str
    description: str | None
    members: dict[str, str] = field(default_factory=dict)  # key -> role "member" | "maintainer"
    pending: dict[str, str] = field(default_factory=dict)  # invited to the org, not joined yet
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    parent: int | None = None  # the parent team's id
    idp_groups: list[JSON] = field(default_factory=list)
    """Identity-provider groups the team is synchronized with (team synchronization)."""
    external_groups: list[JSON] = field(default_factory=list)
    """Enterprise Managed Users external groups connected to the team."""


@dataclass
class Commit:
    sha: str
    parents: list[str]
    tree: dict[str, bytes]
    message: str
    author: str  # login
    date: datetime
    seq: int


@dataclass
class Review:
    id: int
    user: str
    state: str
    body: str
    commit_id: str
    submitted_at: datetime


@dataclass
class Comment:
    id: int
    issue: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Pull:
    number: int
    id: int
    user: str
    title: str
    body: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    merged: bool = False
    merged_at: datetime | None = None
    merged_by: str | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    merge_base: str = ""
    commits: list[str] = field(default_factory=list)
    """The pull request's own commits, oldest first (frozen when it merges)."""
    landed: list[str] = field(default_factory=list)
    """The commits its merge put on the base branch: merge, squash or rebased commits."""
    reviews: list[Review] = field(default_factory=list)
    requested_users: list[str] = field(default_factory=list)
    """Review requested from these logins (keys); a review they submit clears it."""
    requested_teams: list[str] = field(default_factory=list)
    """Review requested from these teams of the repository's organisation (slugs)."""


@dataclass
class Invitation:
    id: int
    invitee: str
    inviter: str
    role: str
    created_at: datetime


@dataclass
class Repo:
    id: int
    owner: str  # login with its case
    name: str
    default_branch: str
    private: bool
    created_at: datetime
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> sha
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)  # key -> role
    invitations: dict[int, Invitation] = field(default_factory=dict)
    statuses: list[JSON] = field(default_factory=list)
    check_runs: dict[int, JSON] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def branch_sha(self, branch: str) -> str | None:
        return self.refs.get(f"refs/heads/{branch}")


@dataclass
class LoggedResponse:
    """What the emulator answered. `route` is the matched template (for injected faults and
    unmatched paths, None); `path` is relative to `/api/v3`."""

    method: str
    path: str
    route: str | None
    status: int
    body: JSON
    headers: dict[str, str]


# -- the emulator ---------------------------------------------------------------------------------
class GitHubEmulator(Emulator):
    name = "github"

    def __init__(self, token: str = DEFAULT_TOKEN, login: str = DEFAULT_LOGIN) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.orgs: dict[str, Org] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, str] = {}
        self.token_permissions: dict[str, dict[str, str]] = {}
        """Tokens that carry GitHub App / fine-grained permissions ({"contents": "read", ...});
        a call needing a permission the token lacks answers 403 "Resource not accessible by
        integration" with `X-Accepted-GitHub-Permissions`, as GitHub does. Tokens not listed
        here may do anything (a classic token of an owner)."""
        self.responses: list[LoggedResponse] = []
        self.accept_invitations = False
        """When True, repository invitations are accepted as soon as they are sent."""
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0)
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.objects: GitObjects = {}
        """Every commit, tree and blob, by its git object ID."""
        self._templates: list[tuple[str, str]] = []
        self.rate_limit = RATE_LIMIT
        """Requests allowed per window (`set_budget`); the primary rate limit."""
        self.rate_used = 0
        self.rate_reset = int(time.time()) + 3600
        self.graphql_used = 0
        """GraphQL calls answered: GitHub meters GraphQL apart from REST (its own points per
        hour, `x-ratelimit-resource: graphql`), so they never spend `rate_limit`."""
        self.exhausted_status = 403
        """GitHub answers a spent primary limit with 403 or 429 (both documented)."""
        self.limited = 0
        """Requests answered as rate limited (primary or secondary)."""
        self.secondary: list[int] = []
        """Scripted secondary limits: each item answers one request 403 with that Retry-After."""
        self._register_routes()
        self.add_user(login)
        self.add_token(token, login)
        self.token = token

    # -- routes ------------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        r = "/repos/{owner}/{repo}"
        team = "/orgs/{org}/teams/{team_slug}"
        legacy = "/organizations/{org_id}/team/{team_id}"
        routes: list[tuple[str, str, Callable[[Request], Response | JSON]]] = [
            ("GET", "/user", self._get_self),
            ("GET", "/users/{username}", self._get_user),
            ("GET", "/user/{account_id}", self._get_user_by_id),
            ("GET", "/rate_limit", self._rate_limit),
            ("PATCH", "/user/repository_invitations/{invitation_id}", self._accept_invitation),
            ("GET", "/orgs/{org}", self._get_org),
            ("GET", "/orgs/{org}/members", self._org_members),
            ("GET", "/orgs/{org}/members/{username}", self._org_member),
            ("GET", "/orgs/{org}/teams", self._list_teams),
            ("GET", team, self._get_team),
            ("GET", f"{team}/members", self._team_members),
            ("GET", f"{team}/invitations", self._team_invitations),
            ("GET", f"{team}/memberships/{{username}}", self._get_membership),
            ("PUT", f"{team}/memberships/{{username}}", self._put_membership),
            ("DELETE", f"{team}/memberships/{{username}}", self._delete_membership),
            ("GET", f"{team}/team-sync/group-mappings", self._team_sync_groups),
            ("GET", f"{team}/external-groups", self._team_external_groups),
            # The `url` GitHub gives a team is this legacy form; PyGithub follows it.
            ("GET", legacy, self._get_team),
            ("GET", f"{legacy}/members", self._team_members),
            ("GET", f"{legacy}/invitations", self._team_invitations),
            ("GET", f"{legacy}/memberships/{{username}}", self._get_membership),
            ("PUT", f"{legacy}/memberships/{{username}}", self._put_membership),
            ("DELETE", f"{legacy}/memberships/{{username}}", self._delete_membership),
            ("GET", r, self._get_repo),
            ("GET", f"{r}/pulls", self._list_pulls),
            ("POST", f"{r}/pulls", self._create_pull),
            ("GET", f"{r}/pulls/{{pull_number}}", self._get_pull),
            ("GET", f"{r}/pulls/{{pull_number}}/reviews", self._list_reviews),
            ("POST", f"{r}/pulls/{{pull_number}}/reviews", self._create_review),
            ("GET", f"{r}/pulls/{{pull_number}}/reviews/{{review_id}}", self._get_review),
            ("PUT", f"{r}/pulls/{{pull_number}}/reviews/{{review_id}}/dismissals",
             self._dismiss_review),
            ("GET", f"{r}/pulls/{{pull_number}}/requested_reviewers", self._requested_reviewers),
            ("POST", f"{r}/pulls/{{pull_number}}/requested_reviewers", self._request_reviewers),
            ("GET", f"{r}/pulls/{{pull_number}}/files", self._pull_files),
            ("GET", f"{r}/pulls/{{pull_number}}/commits", self._pull_commits),
            ("GET", f"{r}/commits", self._list_commits),
            ("GET", f"{r}/commits/{{commit_sha}}/pulls", self._commit_pulls),
            ("GET", f"{r}/commits/{{ref}}", self._get_commit),
            ("GET", f"{r}/compare/{{basehead}}", self._compare),
            ("GET", f"{r}/issues/{{issue_number}}", self._get_issue),
            ("GET", f"{r}/issues/{{issue_number}}/comments", self._list_comments),
            ("POST", f"{r}/issues/{{issue_number}}/comments", self._create_comment),
            ("GET", f"{r}/issues/comments/{{comment_id}}", self._get_comment),
            ("PATCH", f"{r}/issues/comments/{{comment_id}}", self._update_comment),
            ("GET", f"{r}/contents", self._contents),
            ("GET", f"{r}/contents/", self._contents),
            ("GET", f"{r}/contents/{{path:path}}", self._contents),
            ("GET", f"{r}/git/ref/{{ref:path}}", self._get_ref),
            ("POST", f"{r}/git/refs", self._create_ref),
            ("PATCH", f"{r}/git/refs/{{ref:path}}", self._update_ref),
            ("DELETE", f"{r}/git/refs/{{ref:path}}", self._delete_ref),
            ("GET", f"{r}/branches", self._list_branches),
            ("GET", f"{r}/branches/{{branch:path}}", self._get_branch),
            ("POST", f"{r}/statuses/{{sha}}", self._create_status),
            ("POST", f"{r}/check-runs", self._create_check_run),
            ("GET", f"{r}/check-runs/{{check_run_id}}", self._get_check_run),
            ("PATCH", f"{r}/check-runs/{{check_run_id}}", self._update_check_run),
            ("GET", f"{r}/collaborators", self._list_collaborators),
            ("GET", f"{r}/collaborators/{{username}}", self._is_collaborator),
            ("PUT", f"{r}/collaborators/{{username}}", self._add_collaborator),
            ("DELETE", f"{r}/collaborators/{{username}}", self._remove_collaborator),
            ("GET", f"{r}/collaborators/{{username}}/permission", self._permission),
            ("GET", f"{r}/invitations", self._list_invitations),
            ("DELETE", f"{r}/invitations/{{invitation_id}}", self._delete_invitation),
        ]
        for method, template, handler in routes:
            self.route(method, API + template, handler)
            self._templates.append((method, template))
        # GitHub Enterprise Server's GraphQL endpoint (PyGithub derives it from /api/v3).
        self.route("POST", "/api/graphql", self._graphql)
        self._templates.append(("POST", "/api/graphql"))

    # -- the wire: auth, error bodies, rate-limit headers, the response log -----------------------
    def error_body(self, status: int, message: str) -> JSON:
        return {"message": message, "documentation_url": DOCS, "status": str(status)}

    def fault_response(self, kind: str) -> Response:
        if kind == "403-secondary":
            # docs.github.com "Rate limits for the REST API": a secondary limit may answer 403
            # with retry-after.
            response = Response(403, self.error_body(
                403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                     "before you try again."), {"Retry-After": str(self.faults.retry_after)})
            self._log("?", "?", None, response)
            return response
        if kind == "403-primary":
            # The primary limit spent: 403, x-ratelimit-remaining 0, and when it resets.
            response = Response(403, self.error_body(
                403, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                     "for help, please include the request ID."))
            response.headers.update(self._rate_headers(remaining=0))
            response.headers["x-ratelimit-reset"] = str(int(time.time())
                                                        + self.faults.retry_after)
            self._log("?", "?", None, response)
            return response
        if kind == "429":
            # GitHub's secondary rate limit: 429 (or 403) with Retry-After.
            response = Response(429, self.error_body(
                429, "You have exceeded a secondary rate limit. Please wait a few minutes "
                     "before you try again."), {"Retry-After": str(self.faults.retry_after)})
            response.headers.update(self._rate_headers(remaining=0))
        else:
            status = int(kind)
            message = "Server Error" if status == 500 else "Service Unavailable"
            response = Response(status, self.error_body(status, message))
        self._log("?", "?", None, response)
        return response

    def set_budget(self, limit: int, reset_in: float = 3600.0, status: int = 403,
                   used: int = 0) -> None:
        """A primary rate-limit window of `limit` requests, `used` of them already spent (by
        someone else), resetting `reset_in` seconds from now; past it, requests are answered
        `status` (403 or 429) with x-ratelimit-remaining: 0 and GitHub's documented message.
        The next window is `limit` requests again."""
        with self.lock:
            self.rate_limit, self.rate_used = limit, used
            self.rate_reset = int(time.time() + reset_in)
            self.exhausted_status, self.limited = status, 0

    def dispatch(self, request: Request) -> Response:
        path = request.path[len(API):] if request.path.startswith(API) else request.path
        route = self._template_for(request.method, path)
        actor = self._authenticate(request.headers.get("authorization", ""))
        if actor is None:
            message = ("Requires authentication" if not request.headers.get("authorization")
                       else "Bad credentials")
            response = Response(401, self.error_body(401, message))
        elif (limited := self._limited(path)) is not None:
            response = limited
        elif (refused := self._lacks_permission(request, route)) is not None:
            response = refused
        else:
            response = super().dispatch(request)
        response.headers = {**self._rate_headers(graphql=path == "/graphql"), **response.headers}
        self._log(request.method, path, route, response)
        return response

    def _limited(self, path: str) -> Response | None:
        """The rate-limited answer this request gets, if any (GET /rate_limit is free)."""
        if path == "/rate_limit":
            return None
        with self.lock:
            if path == "/graphql":
                self.graphql_used += 1
                return None
            if time.time() >= self.rate_reset:
                self.rate_used, self.rate_reset = 0, int(time.time()) + 3600
            if self.secondary:
                wait = self.secondary.pop(0)
                self.limited += 1
                return Response(403, self.error_body(
                    403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                         "before you try again. If you reach out to GitHub Support for help, "
                         "please include the request ID 0000:0000:000000:000000:00000000."),
                    {"retry-after": str(wait)})
            if self.rate_used >= self.rate_limit:
                self.limited += 1
                return Response(self.exhausted_status, {
                    "message": "API rate limit exceeded for user ID 1. If you reach out to "
                               "GitHub Support for help, please include the request ID "
                               "0000:0000:000000:000000:00000000.",
                    "documentation_url": "https://docs.github.com/rest/overview/"
                                         "rate-limits-for-the-rest-api",
                    "status": str(self.exhausted_status)}, self._rate_headers(remaining=0))
            self.rate_used += 1
        return None

    def _template_for(self, method: str, path: str) -> str | None:
        for known_method, template in self._templates:
            if known_method != method:
                continue
            pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
            if re.fullmatch(pattern, path):
                return template
        return None

    def _lacks_permission(self, request: Request, route: str | None) -> Response | None:
        """The 403 GitHub gives a token without the permission a call needs, or None."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self.token_permissions.get(token.strip())
        needed = required_permission(request.method, route) if route else None
        if granted is None or needed is None:
            return None
        name, level = needed
        if level == "read" and granted.get(name) in ("read", "write"):
            return None
        if level == "write" and granted.get(name) == "write":
            return None
        return Response(403, self.error_body(403, "Resource not accessible by integration"),
                        {"X-Accepted-GitHub-Permissions": f"{name}={level}"})

    def _authenticate(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        return self.tokens.get(token.strip())

    def _actor(self, request: Request) -> Account:
        login = self._authenticate(request.headers.get("authorization", ""))
        assert login is not None  # dispatch refused the request otherwise
        return self.accounts[_key(login)]

    def _rate_headers(self, remaining: int | None = None, graphql: bool = False
                      ) -> dict[str, str]:
        with self.lock:
            used, limit, reset = self.rate_used, self.rate_limit, self.rate_reset
            if graphql:
                used, limit = self.graphql_used, GRAPHQL_POINTS
        left = max(limit - used, 0) if remaining is None else remaining
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(left),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "graphql" if graphql else "core",
            "X-GitHub-Media-Type": "github.v3; format=json",
        }

    def _log(self, method: str, path: str, route: str | None, response: Response) -> None:
        with self.lock:
            self.responses.append(LoggedResponse(method, path, route, response.status,
                                                 response.body, dict(response.headers)))

    # -- URLs and pagination -----------------------------------------------------------------------
    @property
    def api(self) -> str:
        return self.base_url + API

    @property
    def web(self) -> str:
        """Where html_url links point: the emulator's own root."""
        return self.base_url

    def _paginate(self, request: Request, items: list[JSON]) -> Response:
        per_page = min(max(_int_arg(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(_int_arg(request, "page", 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        query = {k: v[0] for k, v in request.query.items() if k not in ("page", "per_page")}

        def link(number: int) -> str:
            params = {**query, "per_page": str(per_page), "page": str(number)}
            return f"{self.base_url}{request.path}?{urlencode(params)}"

        links = []
        if page < last:
            links += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            links += [f'<{link(1)}>; rel="first"', f'<{link(min(page - 1, last))}>; rel="prev"']
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, chunk, headers)

    # -- JSON shapes -------------------------------------------------------------------------------
    def _user_json(self, login: str | None) -> JSON:
        """A `simple-user`; for a login that no longer exists, GitHub's ghost."""
        if login is None:
            return None
        account = self.accounts.get(_key(login)) or Account(10137, "ghost", "User")
        base = f"{self.api}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": _node("U", account.id),
            "avatar_url": f"{self.web}/avatars/u/{account.id}",
            "gravatar_id": "",
            "url": base,
            "html_url": f"{self.web}/{account.login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": account.type,
            "site_admin": False,
            "user_view_type": "public",
        }

    def _public_user_json(self, account: Account) -> JSON:
        return {
            **self._user_json(account.login),
            "name": account.name, "company": None, "blog": "", "location": None,
            "email": account.email, "hireable": None, "bio": None, "twitter_username": None,
            "public_repos": sum(1 for r in self.repos.values() if _key(r.owner) == _key(
                account.login)),
            "public_gists": 0, "followers": 0, "following": 0,
            "created_at": _stamp(account.created_at), "updated_at": _stamp(account.created_at),
        }

    def _repo_json(self, repo: Repo, full: bool = False) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        open_issues = sum(1 for p in repo.pulls.values() if p.state == "open")
        templates = {
            "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}", "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors", "deployments_url": "/deployments",
            "downloads_url": "/downloads", "events_url": "/events", "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
            "languages_url": "/languages", "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers", "subscription_url": "/subscription",
            "tags_url": "/tags", "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
        }
        body: dict[str, Any] = {
            "id": repo.id, "node_id": _node("R", repo.id), "name": repo.name,
            "full_name": repo.full_name, "owner": self._user_json(repo.owner),
            "private": repo.private, "html_url": html, "description": None, "fork": False,
            "url": url, **{k: url + v for k, v in templates.items()},
            "git_url": f"git://{self._host}/{repo.full_name}.git",
            "ssh_url": f"git@{self._host}:{repo.full_name}.git",
            "clone_url": f"{html}.git", "svn_url": html, "mirror_url": None, "homepage": None,
            "language": None, "forks_count": 0, "forks": 0, "stargazers_count": 0,
            "watchers_count": 0, "watchers": 0, "size": 0,
            "default_branch": repo.default_branch, "open_issues_count": open_issues,
            "open_issues": open_issues, "is_template": False, "topics": [],
            "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False,
            "has_downloads": True, "has_discussions": False, "archived": False,
            "disabled": False, "visibility": "private" if repo.private else "public",
            "pushed_at": _stamp(self._pushed_at(repo)), "created_at": _stamp(repo.created_at),
            "updated_at": _stamp(self._pushed_at(repo)), "license": None,
            "allow_forking": True, "web_commit_signoff_required": False,
        }
        if full:
            body.update({"network_count": 0, "subscribers_count": 0,
                         "allow_merge_commit": True, "allow_squash_merge": True,
                         "allow_rebase_merge": True, "delete_branch_on_merge": False})
        return body

    @property
    def _host(self) -> str:
        return self.base_url.split("://", 1)[1]

    def _pushed_at(self, repo: Repo) -> datetime:
        return max((c.date for c in repo.commits.values()), default=repo.created_at)

    def _commit_json(self, repo: Repo, commit: Commit, with_files: bool = False) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/commits/{commit.sha}"
        account = self.accounts.get(_key(commit.author))
        person = {"name": account.name if account and account.name else commit.author,
                  "email": (account.email if account and account.email
                            else f"{commit.author}@users.noreply.github.com"),
                  "date": _stamp(commit.date)}
        body: dict[str, Any] = {
            "sha": commit.sha, "node_id": _node("C", commit.seq), "url": url,
            "html_url": f"{self.web}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{self.api}/repos/{repo.full_name}/git/commits/{commit.sha}",
                "author": person, "committer": person, "message": commit.message,
                "comment_count": 0,
                "tree": {"sha": self._tree_of(commit),
                         "url": f"{self.api}/repos/{repo.full_name}/git/trees/"
                                f"{self._tree_of(commit)}"},
                "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                 "payload": None, "verified_at": None},
            },
            "author": self._user_json(commit.author) if account else None,
            "committer": self._user_json(commit.author) if account else None,
            "parents": [{"sha": p, "url": f"{self.api}/repos/{repo.full_name}/commits/{p}",
                         "html_url": f"{self.web}/{repo.full_name}/commit/{p}"}
                        for p in commit.parents],
        }
        if with_files:
            old = repo.commits[commit.parents[0]].tree if commit.parents else {}
            files = self._diff_entries(repo, old, commit.tree, commit.sha)
            body["files"] = files
            body["stats"] = {"additions": sum(f["additions"] for f in files),
                             "deletions": sum(f["deletions"] for f in files),
                             "total": sum(f["changes"] for f in files)}
        return body

    def _tree_of(self, commit: Commit) -> str:
        return self.objects[commit.sha][1][5:45].decode()

    def _diff_entries(self, repo: Repo, old: Mapping[str, bytes], new: Mapping[str, bytes],
                      ref: str) -> list[JSON]:
        entries = []
        for path in sorted(set(old) | set(new)):
            before, after = old.get(path), new.get(path)
            if before == after:
                continue
            status = "added" if before is None else "removed" if after is None else "modified"
            a = (before or b"").decode("utf-8", "replace").splitlines()
            b = (after or b"").decode("utf-8", "replace").splitlines()
            diff = list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]
            additions = sum(1 for line in diff if line.startswith("+"))
            deletions = sum(1 for line in diff if line.startswith("-"))
            quoted = quote(path)
            entries.append({
                "sha": _blob_sha(after) if after is not None else None,
                "filename": path, "status": status, "additions": additions,
                "deletions": deletions, "changes": additions + deletions,
                "blob_url": f"{self.web}/{repo.full_name}/blob/{ref}/{quoted}",
                "raw_url": f"{self.web}/{repo.full_name}/raw/{ref}/{quoted}",
                "contents_url": f"{self.api}/repos/{repo.full_name}/contents/{quoted}?ref={ref}",
                "patch": "\n".join(diff),
            })
        return entries

    def _pull_json(self, repo: Repo, pull: Pull, full: bool = False) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}"
        html = f"{self.web}/{repo.full_name}/pull/{pull.number}"
        issue = f"{self.api}/repos/{repo.full_name}/issues/{pull.number}"
        statuses = f"{self.api}/repos/{repo.full_name}/statuses/{pull.head_sha}"
        repo_json = self._repo_json(repo)
        owner = self._user_json(repo.owner)

        def side(ref: str, sha: str) -> JSON:
            return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha, "user": owner,
                    "repo": repo_json}

        body: dict[str, Any] = {
            "url": url, "id": pull.id, "node_id": _node("PR", pull.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue,
            "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.api}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments", "statuses_url": statuses,
            "number": pull.number, "state": pull.state, "locked": False, "title": pull.title,
            "user": self._user_json(pull.user), "body": pull.body or None, "labels": [],
            "milestone": None, "active_lock_reason": None,
            "created_at": _stamp(pull.created_at), "updated_at": _stamp(pull.updated_at),
            "closed_at": _stamp(pull.closed_at) if pull.closed_at else None,
            "merged_at": _stamp(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha, "assignee": None, "assignees": [],
            "requested_reviewers": [self._user_json(k) for k in pull.requested_users],
            "requested_teams": [self._team_json(self.teams[(_key(repo.owner), slug)])
                                for slug in pull.requested_teams],
            "head": side(pull.head_ref, pull.head_sha),
            "base": side(pull.base_ref, pull.base_sha),
            "_links": {
                "self": {"href": url}, "html": {"href": html}, "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{self.api}/repos/{repo.full_name}/pulls/comments"
                                           "{/number}"},
                "commits": {"href": f"{url}/commits"}, "statuses": {"href": statuses},
            },
            "author_association": self._association(repo, pull.user), "auto_merge": None,
            "draft": False,
        }
        if full:
            files = self._pull_file_entries(repo, pull)
            body.update({
                "merged": pull.merged, "mergeable": None if pull.state == "closed" else True,
                "rebaseable": None if pull.state == "closed" else True,
                "mergeable_state": "clean" if pull.state == "open" else "unknown",
                "merged_by": self._user_json(pull.merged_by), "comments": sum(
                    1 for c in repo.comments.values() if c.issue == pull.number),
                "review_comments": 0, "maintainer_can_modify": False,
                "commits": len(self._pull_commit_list(repo, pull)),
                "additions": sum(f["additions"] for f in files),
                "deletions": sum(f["deletions"] for f in files), "changed_files": len(files),
            })
        return body

    def _association(self, repo: Repo, login: str) -> str:
        key = _key(login)
        if key == _key(repo.owner):
            return "OWNER"
        org = self.orgs.get(_key(repo.owner))
        if org is not None and key in org.members:
            return "MEMBER"
        if key in repo.collaborators:
            return "COLLABORATOR"
        return "CONTRIBUTOR"

    def _review_json(self, repo: Repo, pull: Pull, review: Review) -> JSON:
        pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}"
        html = f"{self.web}/{repo.full_name}/pull/{pull.number}#pullrequestreview-{review.id}"
        return {
            "id": review.id, "node_id": _node("PRR", review.id),
            "user": self._user_json(review.user), "body": review.body, "state": review.state,
            "html_url": html, "pull_request_url": pull_url,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
            "submitted_at": _stamp(review.submitted_at), "commit_id": review.commit_id,
            "author_association": self._association(repo, review.user),
        }

    def _comment_json(self, repo: Repo, comment: Comment) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/issues/comments/{comment.id}"
        return {
            "id": comment.id, "node_id": _node("IC", comment.id), "url": url,
            "html_url": f"{self.web}/{repo.full_name}/pull/{comment.issue}"
                        f"#issuecomment-{comment.id}",
            "issue_url": f"{self.api}/repos/{repo.full_name}/issues/{comment.issue}",
            "body": comment.body, "user": self._user_json(comment.user),
            "created_at": _stamp(comment.created_at), "updated_at": _stamp(comment.updated_at),
            "author_association": self._association(repo, comment.user),
        }

    def _org_json(self, org: Org) -> JSON:
        login = org.account.login
        url = f"{self.api}/orgs/{login}"
        return {
            "login": login, "id": org.account.id, "node_id": _node("O", org.account.id),
            "url": url, "repos_url": f"{url}/repos", "events_url": f"{url}/events",
            "hooks_url": f"{url}/hooks", "issues_url": f"{url}/issues",
            "members_url": f"{url}/members{{/member}}",
            "public_members_url": f"{url}/public_members{{/member}}",
            "avatar_url": f"{self.web}/avatars/u/{org.account.id}", "description": None,
        }

    def _org_full_json(self, org: Org) -> JSON:
        return {
            **self._org_json(org), "name": org.account.name, "is_verified": False,
            "has_organization_projects": True, "has_repository_projects": True,
            "public_repos": sum(1 for r in self.repos.values()
                                if _key(r.owner) == _key(org.account.login)),
            "public_gists": 0, "followers": 0, "following": 0,
            "html_url": f"{self.web}/{org.account.login}", "type": "Organization",
            "created_at": _stamp(org.account.created_at),
            "updated_at": _stamp(org.account.created_at), "archived_at": None,
        }

    def _team_json(self, team: Team, full: bool = False) -> JSON:
        org = self.orgs[team.org]
        url = f"{self.api}/organizations/{org.account.id}/team/{team.id}"
        body: dict[str, Any] = {
            "id": team.id, "node_id": _node("T", team.id), "url": url,
            "html_url": f"{self.web}/orgs/{org.account.login}/teams/{team.slug}",
            "name": team.name, "slug": team.slug, "description": team.description,
            "privacy": "closed", "notification_setting": "notifications_enabled",
            "permission": "pull", "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "parent": self._team_json(self._team_by_id(team.parent)) if team.parent else None,
            "type": "organization",
            "organization_id": org.account.id,
        }
        if full:
            body.update({
                "members_count": len(team.members), "repos_count": 0,
                "created_at": _stamp(team.created_at), "updated_at": _stamp(team.created_at),
                "organization": self._org_full_json(org),
            })
        return body

    def _invitation_json(self, repo: Repo, invitation: Invitation) -> JSON:
        return {
            "id": invitation.id, "node_id": _node("RI", invitation.id),
            "repository": self._repo_json(repo), "invitee": self._user_json(invitation.invitee),
            "inviter": self._user_json(invitation.inviter), "permissions": invitation.role,
            "created_at": _stamp(invitation.created_at), "expired": False,
            "url": f"{self.api}/user/repository_invitations/{invitation.id}",
            "html_url": f"{self.web}/{repo.full_name}/invitations",
        }

    # -- look-ups ----------------------------------------------------------------------------------
    def _account(self, login: str) -> Account:
        account = self.accounts.get(_key(login))
        if account is None:
            raise not_found()
        return account

    def _user(self, login: str) -> Account:
        account = self._account(login)
        if account.type == "Organization":
            raise not_found()
        return account

    def _org(self, login: str) -> Org:
        org = self.orgs.get(_key(login))
        if org is None:
            raise not_found()
        return org

    def _team(self, request: Request) -> Team:
        params = request.params
        if "team_slug" in params:
            team = self.teams.get((_key(params["org"]), params["team_slug"].casefold()))
        else:
            team = next((t for t in self.teams.values()
                         if str(t.id) == params["team_id"]
                         and str(self.orgs[t.org].account.id) == params["org_id"]), None)
        if team is None:
            raise not_found()
        return team

    def _repo(self, request: Request) -> Repo:
        repo = self.repos.get((_key(request.params["owner"]), request.params["repo"].casefold()))
        if repo is None:
            raise not_found()
        return repo

    def _pull(self, request: Request) -> tuple[Repo, Pull]:
        repo = self._repo(request)
        pull = repo.pulls.get(_int_param(request, "pull_number"))
        if pull is None:
            raise not_found()
        return repo, pull

    def _resolve(self, repo: Repo, ref: str | None) -> Commit:
        """A branch, tag, full ref or (abbreviated) SHA; 404 when none matches."""
        ref = ref or repo.default_branch
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}"):
            if name in repo.refs:
                return repo.commits[repo.refs[name]]
        if ref in repo.commits:
            return repo.commits[ref]
        if len(ref) >= 7:
            found = [c for sha, c in repo.commits.items() if sha.startswith(ref.lower())]
            if len(found) == 1:
                return found[0]
        raise github_error(404, f"No commit found for the ref {ref}")

    def _ancestors(self, repo: Repo, sha: str) -> set[str]:
        seen: set[str] = set()
        todo = [sha]
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(repo.commits[current].parents)
        return seen

    def _merge_base(self, repo: Repo, one: str, other: str) -> str:
        common = self._ancestors(repo, one) & self._ancestors(repo, other)
        return max(common, key=lambda sha: repo.commits[sha].seq)

    def _range(self, repo: Repo, base: str, head: str) -> list[str]:
        """Commits reachable from `head` but not from `base`, oldest first."""
        excluded = self._ancestors(repo, base)
        return sorted(self._ancestors(repo, head) - excluded, key=lambda s: repo.commits[s].seq)

    def _pull_commit_list(self, repo: Repo, pull: Pull) -> list[str]:
        if pull.merged:
            return pull.commits
        return self._range(repo, pull.base_sha, pull.head_sha)

    def _pull_file_entries(self, repo: Repo, pull: Pull) -> list[JSON]:
        base = repo.commits[pull.merge_base or pull.base_sha].tree
        return self._diff_entries(repo, base, repo.commits[pull.head_sha].tree, pull.head_sha)

    # -- users, orgs, rate limit -------------------------------------------------------------------
    def _get_self(self, request: Request) -> JSON:
        account = self._actor(request)
        return {**self._public_user_json(account), "user_view_type": "private",
                "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
                "disk_usage": 0, "collaborators": 0, "two_factor_authentication": True,
                "plan": {"name": "free", "space": 976562499, "private_repos": 10000,
                         "collaborators": 0}}

    def _get_user(self, request: Request) -> JSON:
        with self.lock:
            account = self._account(request.params["username"])
            body = self._public_user_json(account)
            if account.type == "Organization":
                body["type"] = "Organization"
            return body

    def _get_user_by_id(self, request: Request) -> JSON:
        """`GET /user/{account_id}`: the account with that id, under its login of today."""
        with self.lock:
            number = _int_param(request, "account_id")
            account = next((a for a in self.accounts.values() if a.id == number), None)
            if account is None:
                raise not_found()
            body = self._public_user_json(account)
            if account.type == "Organization":
                body["type"] = "Organization"
            return body

    def _rate_limit(self, request: Request) -> JSON:
        headers = self._rate_headers()
        core = {"limit": self.rate_limit, "remaining": int(headers["x-ratelimit-remaining"]),
                "reset": int(headers["x-ratelimit-reset"]),
                "used": int(headers["x-ratelimit-used"])}
        search = {"limit": 30, "remaining": 30, "reset": core["reset"], "used": 0}
        return {"resources": {"core": core, "search": search}, "rate": core}

    def _get_org(self, request: Request) -> JSON:
        with self.lock:
            return self._org_full_json(self._org(request.params["org"]))

    def _org_members(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            role = request.arg("role", "all")
            if role not in ("all", "admin", "member"):
                raise invalid("role must be all, admin or member", "Organization", "role")
            keys = [k for k, r in org.members.items() if role in ("all", r)]
            return self._paginate(request, self._users_sorted(keys))

    def _org_member(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            if _key(request.params["username"]) in org.members:
                return Response(204)
            raise github_error(404, "User does not exist or is not a member of the organization")

    def _users_sorted(self, keys: Iterable[str]) -> list[JSON]:
        accounts = sorted((self.accounts[k] for k in keys), key=lambda a: a.id)
        return [self._user_json(a.login) for a in accounts]

    # -- teams -------------------------------------------------------------------------------------
    def _list_teams(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            teams = sorted((t for t in self.teams.values() if t.org == _key(org.account.login)),
                           key=lambda t: t.slug)
            return self._paginate(request, [self._team_json(t) for t in teams])

    def _get_team(self, request: Request) -> JSON:
        with self.lock:
            return self._team_json(self._team(request), full=True)

    def _team_by_id(self, team_id: int) -> Team:
        return next(t for t in self.teams.values() if t.id == team_id)

    def _descendants(self, team: Team) -> list[Team]:
        """The team's child teams, their children, and so on."""
        found: list[Team] = []
        todo = [team.id]
        while todo:
            parent = todo.pop()
            children = [t for t in self.teams.values() if t.parent == parent]
            found.extend(children)
            todo.extend(c.id for c in children)
        return found

    def _all_members(self, team: Team) -> dict[str, str]:
        """Members as the REST API lists them: the team's own, then its child teams'."""
        members = dict(team.members)
        for child in self._descendants(team):
            for key, role in child.members.items():
                members.setdefault(key, role)
        return members

    def _team_members(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            role = request.arg("role", "all")
            if role not in ("all", "member", "maintainer"):
                raise invalid("role must be all, member or maintainer", "Team", "role")
            # "Team members will include the members of child teams." (GitHub's REST docs)
            keys = [k for k, r in self._all_members(team).items() if role in ("all", r)]
            listed = self.listing_lag.listed(team.id, ((k, k) for k in keys))
            return self._paginate(request, self._users_sorted(listed))

    def _synced(self, team: Team) -> None:
        """GitHub refuses API changes to the membership of a team its IdP manages."""
        if team.idp_groups or team.external_groups:
            raise github_error(403, "This team's membership is managed by an identity provider "
                                    "and cannot be changed through the API.")

    def _team_sync_groups(self, request: Request) -> JSON:
        with self.lock:
            return {"groups": list(self._team(request).idp_groups)}

    def _team_external_groups(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            if not team.external_groups:
                raise not_found()
            return {"groups": list(team.external_groups)}

    def _granted(self, request: Request, name: str) -> bool:
        """Whether the request's token may read what App permission `name` guards."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self.token_permissions.get(token.strip())
        return granted is None or granted.get(name) in ("read", "write")

    @staticmethod
    def _forbidden(path: list[str]) -> JSON:
        """GraphQL's answer for a field the token's permissions do not cover."""
        return {"type": "FORBIDDEN", "path": path, "locations": [],
                "extensions": {"saml_failure": False},
                "message": "Resource not accessible by integration"}

    def _token_check(self, request: Request, variables: dict[str, Any]) -> JSON:
        """The VCS token check (`query AccessctlTokenCheck`): a repository's HEAD object and
        first pull request, and a team's first member when `withTeam`; each field the token may
        not read is null with a FORBIDDEN error, as GitHub answers an App token."""
        errors: list[JSON] = []
        data: JSON = {}
        with self.lock:
            repo = self.repos.get((_key(str(variables.get("owner", ""))),
                                   str(variables.get("name", "")).casefold()))
            if repo is None:
                errors.append({"type": "NOT_FOUND", "path": ["repository"], "locations": [],
                               "message": "Could not resolve to a Repository with the name "
                                          f"'{variables.get('owner')}/{variables.get('name')}'."})
                data["repository"] = None
            else:
                found: JSON = {}
                if self._granted(request, "contents"):
                    head = repo.refs.get(f"refs/heads/{repo.default_branch}")
                    found["object"] = {"oid": head} if head else None
                else:
                    found["object"] = None
                    errors.append(self._forbidden(["repository", "object"]))
                if self._granted(request, "pull_requests"):
                    found["pullRequests"] = {"totalCount": len(repo.pulls)}
                else:
                    found["pullRequests"] = None
                    errors.append(self._forbidden(["repository", "pullRequests"]))
                # `pullRequests` is non-null in the schema: its error nulls the repository, as
                # GraphQL propagates a null to the nearest nullable parent.
                data["repository"] = None if found["pullRequests"] is None else found
            if variables.get("withTeam"):
                org = self.orgs.get(_key(str(variables.get("org", ""))))
                team = None if org is None else self.teams.get(
                    (_key(org.account.login), str(variables.get("team", "")).casefold()))
                if org is None:
                    data["organization"] = None
                elif not self._granted(request, "members"):
                    data["organization"] = {"team": None}
                    errors.append(self._forbidden(["organization", "team"]))
                else:
                    data["organization"] = {"team": None if team is None else {
                        "members": {"totalCount": len(team.members)}}}
        return {"data": data, **({"errors": errors} if errors else {})}

    def _graphql(self, request: Request) -> JSON:
        """The GraphQL queries the engine sends: the VCS token check (`_token_check`), and the
        GitHub provider's organization team members, `membership: IMMEDIATE | CHILD_TEAM |
        ALL`, paged with `first`/`after`."""
        body = request.json() or {}
        query = str(body.get("query") or "")
        variables = body.get("variables") or {}
        if query.startswith("query AccessctlTokenCheck("):
            return self._token_check(request, variables)
        if not self._granted(request, "members"):
            return {"data": {"organization": {"team": None}},
                    "errors": [self._forbidden(["organization", "team"])]}
        kind = re.search(r"membership:\s*(IMMEDIATE|CHILD_TEAM|ALL)", query)
        first = re.search(r"members\(\s*first:\s*(\d+)", query)
        if not (kind and first and "organization(login: $org)" in query
                and "team(slug: $team)" in query):
            return {"errors": [{"message": "the emulator answers one query: a team's members"}]}
        with self.lock:
            org = self.orgs.get(_key(str(variables.get("org", ""))))
            if org is None:
                return {"data": {"organization": None}, "errors": [{
                    "type": "NOT_FOUND", "path": ["organization"], "locations": [],
                    "message": "Could not resolve to an Organization with the login of "
                               f"'{variables.get('org')}'."}]}
            team = self.teams.get((_key(org.account.login),
                                   str(variables.get("team", "")).casefold()))
            if team is None:
                return {"data": {"organization": {"team": None}}}
            children: dict[str, str] = {}
            for child in self._descendants(team):
                for key, role in child.members.items():
                    children.setdefault(key, role)
            chosen = {"IMMEDIATE": team.members, "CHILD_TEAM": children,
                      "ALL": self._all_members(team)}[kind.group(1)]
            # The same lag as the REST listing: a membership written moments ago may not be
            # listed yet (eventual consistency).
            keys = sorted(self.listing_lag.listed(team.id, ((k, k) for k in chosen))
                          if kind.group(1) == "IMMEDIATE" else chosen,
                          key=lambda k: self.accounts[k].id)
            start = int(str(variables.get("after") or "0") or 0)
            size = min(int(first.group(1)), 100)
            page = keys[start:start + size]
            more = start + size < len(keys)
            wants_id = "databaseId" in query
            nodes = [{"login": self.accounts[k].login,
                      **({"databaseId": self.accounts[k].id} if wants_id else {})}
                     for k in page]
            return {"data": {"organization": {"team": {"members": {
                "nodes": nodes,
                "pageInfo": {"hasNextPage": more,
                             "endCursor": str(start + len(page)) if page else None}}}}}}

    def _team_invitations(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            org = self.orgs[team.org]
            items = []
            for key, role in sorted(team.pending.items()):
                account = self.accounts[key]
                items.append({
                    "id": account.id * 1000 + team.id, "node_id": _node("OI", account.id),
                    "login": account.login, "email": account.email,
                    "role": "direct_member" if role == "member" else role,
                    "created_at": _stamp(team.created_at), "failed_at": None,
                    "failed_reason": None, "inviter": self._user_json(DEFAULT_LOGIN),
                    "team_count": 1, "invitation_source": "member",
                    "invitation_teams_url": f"{self.api}/organizations/{org.account.id}"
                                            f"/invitations/{account.id}/teams",
                })
            return self._paginate(request, items)

    def _membership_json(self, team: Team, login: str, role: str, state: str) -> JSON:
        org = self.orgs[team.org]
        return {"url": f"{self.api}/organizations/{org.account.id}/team/{team.id}"
                       f"/memberships/{login}", "role": role, "state": state}

    def _get_membership(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            account = self._user(request.params["username"])
            key = _key(account.login)
            everyone = self._all_members(team)  # child teams' members included, as on GitHub
            if key in everyone:
                return self._membership_json(team, account.login, everyone[key], "active")
            if key in team.pending:
                return self._membership_json(team, account.login, team.pending[key], "pending")
            raise not_found()

    def _put_membership(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            self._synced(team)
            account = self._user(request.params["username"])
            role = (request.json() or {}).get("role", "member")
            if role not in ("member", "maintainer"):
                raise invalid("role must be member or maintainer", "TeamMember", "role")
            key = _key(account.login)
            if key in self.orgs[team.org].members:
                if key not in team.members:
                    self.listing_lag.wrote(team.id, key, True)
                team.members[key] = role
                team.pending.pop(key, None)
                return self._membership_json(team, account.login, role, "active")
            # Not in the organization: GitHub invites them; the membership waits for them.
            team.pending[key] = role
            return self._membership_json(team, account.login, role, "pending")

    def _delete_membership(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            self._synced(team)
            account = self._user(request.params["username"])
            key = _key(account.login)
            if key not in team.members and key not in team.pending:
                raise not_found()
            if key in team.members:
                self.listing_lag.wrote(team.id, key, False, key)
            team.members.pop(key, None)
            team.pending.pop(key, None)
            return Response(204)

    # -- repositories, branches, refs, contents ----------------------------------------------------
    def _get_repo(self, request: Request) -> JSON:
        with self.lock:
            return self._repo_json(self._repo(request), full=True)

    def _branch_json(self, repo: Repo, name: str) -> JSON:
        commit = repo.commits[repo.refs[f"refs/heads/{name}"]]
        url = f"{self.api}/repos/{repo.full_name}/branches/{quote(name)}"
        return {
            "name": name, "commit": self._commit_json(repo, commit),
            "_links": {"self": url, "html": f"{self.web}/{repo.full_name}/tree/{quote(name)}"},
            "protected": False,
            "protection": {"enabled": False, "required_status_checks": {
                "enforcement_level": "off", "contexts": [], "checks": []}},
            "protection_url": f"{url}/protection",
        }

    def _list_branches(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            items = []
            for ref, sha in sorted(repo.refs.items()):
                if ref.startswith("refs/heads/"):
                    name = ref[len("refs/heads/"):]
                    items.append({"name": name, "protected": False, "commit": {
                        "sha": sha, "url": f"{self.api}/repos/{repo.full_name}/commits/{sha}"}})
            return self._paginate(request, items)

    def _get_branch(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            name = request.params["branch"]
            if repo.branch_sha(name) is None:
                raise github_error(404, "Branch not found")
            return self._branch_json(repo, name)

    def _ref_json(self, repo: Repo, ref: str) -> JSON:
        sha = repo.refs[ref]
        return {
            "ref": ref, "node_id": _node("REF", abs(hash(ref)) % 10**9),
            "url": f"{self.api}/repos/{repo.full_name}/git/{ref}",
            "object": {"sha": sha, "type": "commit",
                       "url": f"{self.api}/repos/{repo.full_name}/git/commits/{sha}"},
        }

    def _get_ref(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            if ref not in repo.refs:
                raise not_found()
            return self._ref_json(repo, ref)

    def _create_ref(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            data = request.json() or {}
            ref, sha = data.get("ref"), data.get("sha")
            if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
                raise invalid("", "Reference", "ref") if ref else invalid(
                    "", "Reference", "ref", "missing_field")
            if not isinstance(sha, str) or sha not in repo.commits:
                raise github_error(422, "Object does not exist")
            if ref in repo.refs:
                raise github_error(422, "Reference already exists")
            repo.refs[ref] = sha
            return Response(201, self._ref_json(repo, ref),
                            {"Location": f"{self.api}/repos/{repo.full_name}/git/{ref}"})

    def _update_ref(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            data = request.json() or {}
            sha = data.get("sha")
            if ref not in repo.refs:
                raise github_error(422, "Reference does not exist")
            if not isinstance(sha, str) or sha not in repo.commits:
                raise github_error(422, "Object does not exist")
            if not data.get("force") and repo.refs[ref] not in self._ancestors(repo, sha):
                raise github_error(422, "Update is not a fast forward")
            repo.refs[ref] = sha
            return self._ref_json(repo, ref)

    def _delete_ref(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            if ref not in repo.refs:
                raise github_error(422, "Reference does not exist")
            del repo.refs[ref]
            return Response(204)

    def _contents(self, request: Request) -> Response | JSON:
        with self.lock:
            repo = self._repo(request)
            commit = self._resolve(repo, request.arg("ref"))
            path = request.params.get("path", "").strip("/")
            ref = request.arg("ref") or repo.default_branch
            if path in commit.tree:
                data = commit.tree[path]
                encoded = base64.b64encode(data).decode()
                # GitHub wraps the base64 at 60 columns; clients must join the lines.
                wrapped = "\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60))
                return {**self._content_entry(repo, path, "file", _blob_sha(data), len(data),
                                              ref), "content": wrapped + "\n",
                        "encoding": "base64"}
            prefix = f"{path}/" if path else ""
            children: dict[str, str] = {}
            for name in commit.tree:
                if name.startswith(prefix):
                    head, sep, _ = name[len(prefix):].partition("/")
                    children[head] = "dir" if sep else "file"
            if not children:
                raise not_found()
            entries = []
            for child, kind in sorted(children.items()):
                full = prefix + child
                if kind == "file":
                    blob = commit.tree[full]
                    entries.append(self._content_entry(repo, full, "file", _blob_sha(blob),
                                                       len(blob), ref))
                else:
                    sub = {k: v for k, v in commit.tree.items() if k.startswith(full + "/")}
                    entries.append(self._content_entry(repo, full, "dir",
                                                       _tree_sha(sub, full + "/"), 0, ref))
            return entries

    def _content_entry(self, repo: Repo, path: str, kind: str, sha: str, size: int,
                       ref: str) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/contents/{quote(path)}?ref={quote(ref)}"
        git = f"{self.api}/repos/{repo.full_name}/git/{'blobs' if kind == 'file' else 'trees'}/"
        html = f"{self.web}/{repo.full_name}/{'blob' if kind == 'file' else 'tree'}/{ref}/{path}"
        return {
            "type": kind, "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha,
            "size": size, "url": url, "git_url": git + sha, "html_url": html,
            "download_url": f"{self.web}/{repo.full_name}/raw/{ref}/{path}"
            if kind == "file" else None,
            "_links": {"self": url, "git": git + sha, "html": html},
        }

    # -- commits -----------------------------------------------------------------------------------
    def _get_commit(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            return self._commit_json(repo, self._resolve(repo, request.params["ref"]), True)

    def _list_commits(self, request: Request) -> Response:
        """`git log <sha> [-- path]` with git's default history simplification, newest first."""
        with self.lock:
            repo = self._repo(request)
            start = self._resolve(repo, request.arg("sha"))
            path = (request.arg("path") or "").strip("/") or None
            found: list[Commit] = []
            seen: set[str] = set()
            todo = [start.sha]
            while todo:
                commit = repo.commits[todo.pop()]
                if commit.sha in seen:
                    continue
                seen.add(commit.sha)
                if path is None:
                    found.append(commit)
                    todo.extend(commit.parents)
                    continue
                mine = _subtree(commit.tree, path)
                same = [p for p in commit.parents if _subtree(repo.commits[p].tree, path) == mine]
                if same:
                    todo.append(same[0])  # TREESAME to a parent: follow only that one
                    continue
                if mine or commit.parents:
                    found.append(commit)
                todo.extend(commit.parents)
            found.sort(key=lambda c: (c.date, c.seq), reverse=True)
            return self._paginate(request, [self._commit_json(repo, c) for c in found])

    def _commit_pulls(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            sha = self._resolve(repo, request.params["commit_sha"]).sha
            default = repo.branch_sha(repo.default_branch)
            on_default = default is not None and sha in self._ancestors(repo, default)
            pulls = []
            for pull in sorted(repo.pulls.values(), key=lambda p: p.number, reverse=True):
                if on_default:
                    # On the default branch: the merged pull request that brought it there.
                    if pull.merged and (sha in pull.landed or sha in pull.commits):
                        pulls.append(pull)
                elif (pull.state == "open" or pull.merged) and (
                        sha in self._pull_commit_list(repo, pull) or sha in pull.landed):
                    pulls.append(pull)
            return self._paginate(request, [self._pull_json(repo, p) for p in pulls])

    def _compare(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            base_ref, sep, head_ref = request.params["basehead"].partition("...")
            if not sep:
                raise not_found()
            base, head = self._resolve(repo, base_ref), self._resolve(repo, head_ref)
            merge_base = repo.commits[self._merge_base(repo, base.sha, head.sha)]
            ahead = self._range(repo, base.sha, head.sha)
            behind = self._range(repo, head.sha, base.sha)
            status = ("identical" if not ahead and not behind else "ahead" if not behind
                      else "behind" if not ahead else "diverged")
            url = f"{self.api}/repos/{repo.full_name}/compare/{base.sha}...{head.sha}"
            html = f"{self.web}/{repo.full_name}/compare/{base.sha}...{head.sha}"
            return {
                "url": url, "html_url": html, "permalink_url": html,
                "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                "base_commit": self._commit_json(repo, base),
                "merge_base_commit": self._commit_json(repo, merge_base),
                "status": status, "ahead_by": len(ahead), "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [self._commit_json(repo, repo.commits[s]) for s in ahead],
                "files": self._diff_entries(repo, merge_base.tree, head.tree, head.sha),
            }

    # -- pull requests and reviews -----------------------------------------------------------------
    def _list_pulls(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            state = request.arg("state", "open")
            if state not in ("open", "closed", "all"):
                raise invalid("state must be open, closed or all", "PullRequest", "state")
            head, base = request.arg("head"), request.arg("base")
            sort = request.arg("sort", "created")
            if sort not in ("created", "updated", "popularity", "long-running"):
                raise invalid("sort is not valid", "PullRequest", "sort")
            ascending = request.arg("direction", "desc") == "asc"
            pulls = []
            ordered = sorted(repo.pulls.values(), reverse=not ascending,
                             key=lambda p: (p.updated_at, p.number) if sort == "updated"
                             else (p.created_at, p.number))
            for pull in ordered:
                if state != "all" and pull.state != state:
                    continue
                if base and pull.base_ref != base:
                    continue
                if head and head.split(":")[-1] != pull.head_ref:
                    continue
                pulls.append(self._pull_json(repo, pull))
            return self._paginate(request, pulls)

    def _create_pull(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            actor = self._actor(request)
            data = request.json() or {}
            title, head, base = data.get("title"), data.get("head"), data.get("base")
            if not title:
                raise invalid("", "PullRequest", "title", "missing_field")
            if not isinstance(head, str) or repo.branch_sha(head.split(":")[-1]) is None:
                raise invalid("", "PullRequest", "head")
            if not isinstance(base, str) or repo.branch_sha(base) is None:
                raise invalid("", "PullRequest", "base")
            head = head.split(":")[-1]
            if any(p.state == "open" and p.head_ref == head and p.base_ref == base
                   for p in repo.pulls.values()):
                raise invalid(f"A pull request already exists for {repo.owner}:{head}.",
                              "PullRequest", "", "custom")
            number = self._open(repo, actor.login, head, base, str(title),
                                str(data.get("body") or ""))
            body = self._pull_json(repo, repo.pulls[number], full=True)
            return Response(201, body, {"Location": body["url"]})

    def _get_pull(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            return self._pull_json(repo, pull, full=True)

    def _list_reviews(self, request: Request) -> Response:
        with self.lock:
            repo, pull = self._pull(request)
            return self._paginate(request, [self._review_json(repo, pull, r)
                                            for r in pull.reviews])

    def _create_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            actor = self._actor(request)
            data = request.json() or {}
            event = data.get("event")
            if event not in REVIEW_EVENTS:
                raise invalid("event must be APPROVE, REQUEST_CHANGES or COMMENT",
                              "PullRequestReview", "event")
            if _key(actor.login) == _key(pull.user) and event != "COMMENT":
                raise github_error(422, "Unprocessable Entity", [
                    "Can not approve your own pull request"
                    if event == "APPROVE" else "Can not request changes on your own pull request"])
            review = self._review(repo, pull, actor.login, REVIEW_EVENTS[event],
                                  data.get("commit_id"), str(data.get("body") or ""), None)
            return self._review_json(repo, pull, review)

    def _get_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            review_id = _int_param(request, "review_id")
            for review in pull.reviews:
                if review.id == review_id:
                    return self._review_json(repo, pull, review)
            raise not_found()

    def _dismiss_review(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            data = request.json() or {}
            if not data.get("message"):
                raise invalid("", "PullRequestReview", "message", "missing_field")
            review_id = _int_param(request, "review_id")
            for review in pull.reviews:
                if review.id == review_id:
                    if review.state not in ("APPROVED", "CHANGES_REQUESTED"):
                        raise github_error(422, "Can not dismiss a commented pull request "
                                                "review")
                    review.state = "DISMISSED"
                    return self._review_json(repo, pull, review)
            raise not_found()

    def _review_requests_json(self, repo: Repo, pull: Pull) -> JSON:
        return {"users": [self._user_json(k) for k in pull.requested_users],
                "teams": [self._team_json(self.teams[(_key(repo.owner), slug)])
                          for slug in pull.requested_teams]}

    def _requested_reviewers(self, request: Request) -> JSON:
        with self.lock:
            repo, pull = self._pull(request)
            return self._review_requests_json(repo, pull)

    def _request_reviewers(self, request: Request) -> Response:
        """POST requested_reviewers: 201 with the pull request; 422 when a reviewer cannot be
        asked (the author, or a user without access to the repository: the contract's "not a
        collaborator") or a team is not one of the owner organisation's."""
        with self.lock:
            repo, pull = self._pull(request)
            data = request.json() or {}
            users = [str(u) for u in data.get("reviewers") or []]
            teams = [str(t) for t in data.get("team_reviewers") or []]
            org = self.orgs.get(_key(repo.owner))
            for login in users:
                key = _key(login)
                if key == _key(pull.user):
                    raise github_error(422, "Review cannot be requested from pull request "
                                            "author.")
                if key not in self.accounts or not (
                        key in repo.collaborators or key == _key(repo.owner)
                        or (org is not None and key in org.members)):
                    raise github_error(422, "Reviews may only be requested from "
                                            "collaborators. One or more of the users or teams "
                                            f"you specified is not a collaborator of the "
                                            f"{repo.full_name} repository.")
            for slug in teams:
                if (_key(repo.owner), slug.casefold()) not in self.teams:
                    raise github_error(422, "Reviews may only be requested from "
                                            "collaborators. One or more of the users or teams "
                                            f"you specified is not a collaborator of the "
                                            f"{repo.full_name} repository.")
            for login in users:
                if _key(login) not in pull.requested_users:
                    pull.requested_users.append(_key(login))
            for slug in teams:
                if slug.casefold() not in pull.requested_teams:
                    pull.requested_teams.append(slug.casefold())
            pull.updated_at = self.clock()
            return Response(201, self._pull_json(repo, pull))

    def requested_reviewers(self, repo: str, number: int) -> tuple[list[str], list[str]]:
        """(logins, team slugs) whose review is requested on the pull request."""
        with self.lock:
            pull = self.repo(repo).pulls[number]
            return ([self.accounts[k].login for k in pull.requested_users],
                    list(pull.requested_teams))

    def _pull_files(self, request: Request) -> Response:
        with self.lock:
            repo, pull = self._pull(request)
            # GitHub lists at most 3000 files of a pull request.
            return self._paginate(request, self._pull_file_entries(repo, pull)[:3000])

    def _pull_commits(self, request: Request) -> Response:
        with self.lock:
            repo, pull = self._pull(request)
            shas = self._pull_commit_list(repo, pull)[:250]
            return self._paginate(request, [self._commit_json(repo, repo.commits[s])
                                            for s in shas])

    # -- issue comments ----------------------------------------------------------------------------
    def _issue_number(self, request: Request, repo: Repo) -> int:
        number = _int_param(request, "issue_number")
        if number not in repo.pulls:
            raise not_found()
        return number

    def _get_issue(self, request: Request) -> JSON:
        """A pull request seen as an issue (the only issues this emulator has)."""
        with self.lock:
            repo = self._repo(request)
            pull = repo.pulls[self._issue_number(request, repo)]
            url = f"{self.api}/repos/{repo.full_name}/issues/{pull.number}"
            html = f"{self.web}/{repo.full_name}/pull/{pull.number}"
            return {
                "id": pull.id, "node_id": _node("I", pull.id), "url": url,
                "repository_url": f"{self.api}/repos/{repo.full_name}",
                "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments",
                "events_url": f"{url}/events", "html_url": html, "number": pull.number,
                "state": pull.state, "state_reason": None, "title": pull.title,
                "body": pull.body or None, "user": self._user_json(pull.user), "labels": [],
                "assignee": None, "assignees": [], "milestone": None, "locked": False,
                "active_lock_reason": None,
                "comments": sum(1 for c in repo.comments.values() if c.issue == pull.number),
                "created_at": _stamp(pull.created_at), "updated_at": _stamp(pull.updated_at),
                "closed_at": _stamp(pull.closed_at) if pull.closed_at else None,
                "author_association": self._association(repo, pull.user),
                "pull_request": {
                    "url": f"{self.api}/repos/{repo.full_name}/pulls/{pull.number}",
                    "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                    "merged_at": _stamp(pull.merged_at) if pull.merged_at else None,
                },
            }

    def _list_comments(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            number = self._issue_number(request, repo)
            comments = [self._comment_json(repo, c)
                        for c in sorted(repo.comments.values(), key=lambda c: c.id)
                        if c.issue == number]
            return self._paginate(request, comments)

    def _create_comment(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            number = self._issue_number(request, repo)
            body = (request.json() or {}).get("body")
            if not isinstance(body, str) or not body:
                raise invalid("", "IssueComment", "body", "missing_field")
            if len(body) > 65536:
                raise invalid("Body is too long (maximum is 65536 characters)", "IssueComment",
                              "body", "custom")
            now = self.clock()
            comment = Comment(next(self._ids), number, self._actor(request).login, body, now,
                              now)
            repo.comments[comment.id] = comment
            payload = self._comment_json(repo, comment)
            return Response(201, payload, {"Location": payload["url"]})

    def _comment(self, request: Request) -> tuple[Repo, Comment]:
        repo = self._repo(request)
        comment = repo.comments.get(_int_param(request, "comment_id"))
        if comment is None:
            raise not_found()
        return repo, comment

    def _get_comment(self, request: Request) -> JSON:
        with self.lock:
            repo, comment = self._comment(request)
            return self._comment_json(repo, comment)

    def _update_comment(self, request: Request) -> JSON:
        with self.lock:
            repo, comment = self._comment(request)
            body = (request.json() or {}).get("body")
            if not isinstance(body, str) or not body:
                raise invalid("", "IssueComment", "body", "missing_field")
            comment.body, comment.updated_at = body, self.clock()
            return self._comment_json(repo, comment)

    # -- statuses and check runs -------------------------------------------------------------------
    def _create_status(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            sha = request.params["sha"]
            if sha not in repo.commits:
                raise github_error(422, f"No commit found for SHA: {sha}")
            data = request.json() or {}
            state = data.get("state")
            if state not in ("error", "failure", "pending", "success"):
                raise invalid("", "Status", "state")
            now, status_id = _stamp(self.clock()), next(self._ids)
            status = {
                "url": f"{self.api}/repos/{repo.full_name}/statuses/{sha}", "id": status_id,
                "node_id": _node("SC", status_id), "state": state,
                "avatar_url": None, "description": data.get("description"),
                "target_url": data.get("target_url"), "context": data.get("context", "default"),
                "created_at": now, "updated_at": now,
                "creator": self._user_json(self._actor(request).login),
            }
            repo.statuses.append({**status, "sha": sha})
            return Response(201, status)

    def _create_check_run(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            data = request.json() or {}
            if not data.get("name") or data.get("head_sha") not in repo.commits:
                raise invalid("", "CheckRun", "head_sha" if data.get("name") else "name")
            run_id = next(self._ids)
            now = _stamp(self.clock())
            run: dict[str, Any] = {
                "id": run_id, "node_id": _node("CR", run_id), "head_sha": data["head_sha"],
                "name": data["name"], "external_id": data.get("external_id", ""),
                "url": f"{self.api}/repos/{repo.full_name}/check-runs/{run_id}",
                "html_url": f"{self.web}/{repo.full_name}/runs/{run_id}",
                "details_url": data.get("details_url"), "status": "queued",
                "conclusion": None, "started_at": now, "completed_at": None,
                "output": {"title": None, "summary": None, "text": None,
                           "annotations_count": 0,
                           "annotations_url": f"{self.api}/repos/{repo.full_name}/check-runs/"
                                              f"{run_id}/annotations"},
                "check_suite": {"id": run_id}, "app": None, "pull_requests": [],
            }
            self._apply_check_run(run, data)
            repo.check_runs[run_id] = run
            return Response(201, run)

    def _apply_check_run(self, run: dict[str, Any], data: Mapping[str, Any]) -> None:
        for name in ("name", "details_url", "external_id", "started_at"):
            if name in data:
                run[name] = data[name]
        if "status" in data:
            if data["status"] not in ("queued", "in_progress", "completed"):
                raise invalid("", "CheckRun", "status")
            run["status"] = data["status"]
        if "conclusion" in data:
            run["conclusion"] = data["conclusion"]
            run["status"] = "completed"
        if run["status"] == "completed":
            if run["conclusion"] is None:
                raise invalid("conclusion is required when status is completed", "CheckRun",
                              "conclusion", "missing_field")
            run["completed_at"] = data.get("completed_at") or _stamp(self.clock())
        output = data.get("output")
        if isinstance(output, Mapping):
            for name in ("title", "summary", "text"):
                if name in output:
                    run["output"][name] = output[name]

    def _check_run(self, request: Request) -> dict[str, Any]:
        repo = self._repo(request)
        run: dict[str, Any] | None = repo.check_runs.get(_int_param(request, "check_run_id"))
        if run is None:
            raise not_found()
        return run

    def _get_check_run(self, request: Request) -> JSON:
        with self.lock:
            return self._check_run(request)

    def _update_check_run(self, request: Request) -> JSON:
        with self.lock:
            run = self._check_run(request)
            self._apply_check_run(run, request.json() or {})
            return run

    # -- collaborators and invitations -------------------------------------------------------------
    def _collaborator_json(self, repo: Repo, key: str, role: str) -> JSON:
        level = ROLES.index(role)
        return {**self._user_json(self.accounts[key].login),
                "permissions": {"pull": level >= 0, "triage": level >= 1, "push": level >= 2,
                                "maintain": level >= 3, "admin": level >= 4},
                "role_name": role}

    def _list_collaborators(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            affiliation = request.arg("affiliation", "all")
            if affiliation not in ("all", "direct", "outside"):
                raise invalid("affiliation must be all, direct or outside", "Repository",
                              "affiliation")
            permission = request.arg("permission")
            minimum = ROLES.index(role_of(permission)) if permission else 0
            org = self.orgs.get(_key(repo.owner))
            items = []
            for key, role in sorted(repo.collaborators.items(),
                                    key=lambda kv: self.accounts[kv[0]].id):
                if affiliation == "outside" and org is not None and key in org.members:
                    continue
                if ROLES.index(role) >= minimum:
                    items.append(self._collaborator_json(repo, key, role))
            return self._paginate(request, items)

    def _is_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            if _key(request.params["username"]) in repo.collaborators:
                return Response(204)
            raise not_found()

    def _add_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            role = role_of(str((request.json() or {}).get("permission", "push")))
            key = _key(account.login)
            org = self.orgs.get(_key(repo.owner))
            if key in repo.collaborators or (org is not None and key in org.members):
                # An existing collaborator or a member of the owning organization: the role is
                # set at once, no invitation.
                repo.collaborators[key] = role
                return Response(204)
            if key == _key(repo.owner):
                raise invalid("Repository owner cannot be a collaborator", "Repository",
                              "collaborator", "custom")
            invitation = next((i for i in repo.invitations.values() if i.invitee == key), None)
            if invitation is None:
                invitation = Invitation(next(self._ids), key, self._actor(request).login, role,
                                        self.clock())
                repo.invitations[invitation.id] = invitation
            invitation.role = role
            body = self._invitation_json(repo, invitation)
            if self.accept_invitations:
                self._accept(repo, invitation)
            return Response(201, body)

    def _remove_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            key = _key(account.login)
            repo.collaborators.pop(key, None)
            # GitHub also cancels the user's outstanding invitations to the repository.
            for invitation_id in [i.id for i in repo.invitations.values() if i.invitee == key]:
                del repo.invitations[invitation_id]
            return Response(204)

    def _permission(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            key = _key(account.login)
            role = "admin" if key == _key(repo.owner) else repo.collaborators.get(key, "none")
            legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                      "read": "read"}.get(role, "none")
            user = (self._collaborator_json(repo, key, role) if role in ROLES
                    else {**self._user_json(account.login), "role_name": role})
            return {"permission": legacy, "role_name": role, "user": user}

    def _list_invitations(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            return self._paginate(request, [self._invitation_json(repo, i)
                                            for i in sorted(repo.invitations.values(),
                                                            key=lambda i: i.id)])

    def _delete_invitation(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            if repo.invitations.pop(_int_param(request, "invitation_id"), None) is None:
                raise not_found()
            return Response(204)

    def _accept_invitation(self, request: Request) -> Response:
        with self.lock:
            actor = self._actor(request)
            invitation_id = _int_param(request, "invitation_id")
            for repo in self.repos.values():
                invitation = repo.invitations.get(invitation_id)
                if invitation is not None and invitation.invitee == _key(actor.login):
                    self._accept(repo, invitation)
                    return Response(204)
            raise not_found()

    def _accept(self, repo: Repo, invitation: Invitation) -> None:
        repo.collaborators[invitation.invitee] = invitation.role
        repo.invitations.pop(invitation.id, None)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_token(self, token: str, login: str,
                  permissions: Mapping[str, str] | None = None) -> None:
        """A token for `login`; with `permissions`, only those (a GitHub App installation token
        or a fine-grained token: {"contents": "read", "pull_requests": "write", ...})."""
        with self.lock:
            self.tokens[token] = self.accounts[_key(login)].login
            if permissions is not None:
                self.token_permissions[token] = dict(permissions)

    def add_user(self, login: str, name: str | None = None, email: str | None = None) -> int:
        return self._add_account(login, "User", name, email)

    def add_bot(self, login: str) -> int:
        """A GitHub App's bot account, e.g. "renovate[bot]" (type Bot)."""
        return self._add_account(login, "Bot", None, None)

    def _add_account(self, login: str, kind: str, name: str | None, email: str | None) -> int:
        with self.lock:
            key = _key(login)
            if key in self.accounts:
                raise ValueError(f"login {login!r} is taken")
            account = Account(next(self._ids), login, kind, name, email, self.clock())
            self.accounts[key] = account
            return account.id

    def add_org(self, login: str, members: Iterable[str] = (), admins: Iterable[str] = ()
                ) -> int:
        with self.lock:
            org_id = self._add_account(login, "Organization", login, None)
            org = Org(self.accounts[_key(login)])
            self.orgs[_key(login)] = org
            for member in members:
                org.members[_key(self._existing(member).login)] = "member"
            for admin in admins:
                org.members[_key(self._existing(admin).login)] = "admin"
            return org_id

    def add_org_member(self, org: str, login: str, role: str = "member") -> None:
        with self.lock:
            key = _key(self._existing(login).login)
            self.orgs[_key(org)].members[key] = role
            # Joining the organization activates team memberships that waited for it.
            for team in self.teams.values():
                if team.org == _key(org) and key in team.pending:
                    team.members[key] = team.pending.pop(key)

    def rename_user(self, login: str, new_login: str) -> None:
        """The user changes their login, as GitHub lets anyone do. The account keeps its id, and
        everything that refers to it follows: organization and team memberships, pending
        invitations, collaborators, pull requests, reviews, comments, commits, tokens. The old
        login is free at once for anyone to take."""
        with self.lock:
            account = self._existing(login)
            old, new = _key(account.login), _key(new_login)
            if account.type == "Organization":
                raise ValueError(f"{login!r} is an organization")
            if new in self.accounts and new != old:
                raise ValueError(f"login {new_login!r} is taken")

            def key(value: str) -> str:
                return new if value == old else value

            def name(value: str) -> str:
                return new_login if _key(value) == old else value

            del self.accounts[old]
            account.login = new_login
            self.accounts[new] = account
            for org in self.orgs.values():
                org.members = {key(k): role for k, role in org.members.items()}
            for team in self.teams.values():
                team.members = {key(k): role for k, role in team.members.items()}
                team.pending = {key(k): role for k, role in team.pending.items()}
            for repo in self.repos.values():
                repo.collaborators = {key(k): role for k, role in repo.collaborators.items()}
                for invitation in repo.invitations.values():
                    invitation.invitee = key(invitation.invitee)
                    invitation.inviter = name(invitation.inviter)
                for commit in repo.commits.values():
                    commit.author = name(commit.author)
                for comment in repo.comments.values():
                    comment.user = name(comment.user)
                for pull in repo.pulls.values():
                    pull.user = name(pull.user)
                    pull.merged_by = name(pull.merged_by) if pull.merged_by else None
                    pull.requested_users = [key(k) for k in pull.requested_users]
                    for review in pull.reviews:
                        review.user = name(review.user)
            self.tokens = {token: name(holder) for token, holder in self.tokens.items()}

    def add_team(self, org: str, slug: str, members: Iterable[str] = (),
                 maintainers: Iterable[str] = (), name: str | None = None,
                 parent: str | None = None) -> int:
        """A team in `org` (a child of the team `parent`, by slug); its members join the
        organization too."""
        with self.lock:
            owner = self.orgs[_key(org)]
            team = Team(next(self._ids), _key(org), slug.casefold(), name or slug, None)
            if parent is not None:
                team.parent = self.teams[(_key(org), parent.casefold())].id
            self.teams[(_key(org), slug.casefold())] = team
            for login, role in [(m, "member") for m in members] + [
                    (m, "maintainer") for m in maintainers]:
                key = _key(self._existing(login).login)
                owner.members.setdefault(key, "member")
                team.members[key] = role
            return team.id

    def sync_team_with_idp(self, org: str, slug: str, group_name: str,
                           emu: bool = False) -> None:
        """Connect the team to an identity-provider group (team synchronization, or with
        `emu` an Enterprise Managed Users external group): its membership is the IdP's now."""
        with self.lock:
            team = self.teams[(_key(org), slug.casefold())]
            if emu:
                team.external_groups.append({"group_id": team.id, "group_name": group_name,
                                             "updated_at": _stamp(self.clock())})
            else:
                team.idp_groups.append({"group_id": f"{team.id:08x}-idp", "group_name": group_name,
                                        "group_description": f"{group_name} (IdP group)"})

    def team_members(self, org: str, slug: str) -> dict[str, str]:
        """Active members: login (with its case) -> role."""
        with self.lock:
            team = self.teams[(_key(org), slug.casefold())]
            return {self.accounts[k].login: r for k, r in team.members.items()}

    def team_pending(self, org: str, slug: str) -> dict[str, str]:
        with self.lock:
            team = self.teams[(_key(org), slug.casefold())]
            return {self.accounts[k].login: r for k, r in team.pending.items()}

    def set_team_member(self, org: str, slug: str, login: str, role: str | None = "member"
                        ) -> None:
        """Add (or, with role None, remove) a team member without going through the API."""
        with self.lock:
            team = self.teams[(_key(org), slug.casefold())]
            key = _key(self._existing(login).login)
            if role is None:
                team.members.pop(key, None)
                team.pending.pop(key, None)
            else:
                self.orgs[team.org].members.setdefault(key, "member")
                team.members[key] = role

    def add_repo(self, owner: str, name: str, default_branch: str = "main",
                 files: Mapping[str, FileContent] | None = None, private: bool = True,
                 author: str | None = None) -> str:
        """A repository with one initial commit of `files` on `default_branch`; returns its SHA."""
        with self.lock:
            account = self._existing(owner)
            repo = Repo(next(self._ids), account.login, name, default_branch, private,
                        self.clock())
            self.repos[(_key(owner), name.casefold())] = repo
            tree = {p: c for p, c in _encode(files or {"README.md": f"# {name}\n"}) if c}
            who = author or (account.login if account.type != "Organization"
                             else DEFAULT_LOGIN)
            return self._make_commit(repo, [], tree, "Initial commit", who,
                                     f"refs/heads/{default_branch}")

    def repo(self, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        with self.lock:
            return self.repos[(_key(owner), name.casefold())]

    def commit(self, repo: str, branch: str, files: Mapping[str, FileContent],
               message: str = "Update files", author: str = DEFAULT_LOGIN,
               start: str | None = None, at: datetime | None = None) -> str:
        """Commit `files` on `branch` (created from `start`, or the default branch, when new); a
        value of None deletes that path. Returns the new SHA."""
        with self.lock:
            store = self.repo(repo)
            ref = f"refs/heads/{branch}"
            if ref not in store.refs:
                store.refs[ref] = self._resolve(store, start or store.default_branch).sha
            parent = store.commits[store.refs[ref]]
            tree = dict(parent.tree)
            for path, content in _encode(files):
                if content is None:
                    tree.pop(path, None)
                else:
                    tree[path] = content
            return self._make_commit(store, [parent.sha], tree, message,
                                     self._existing(author).login, ref, at)

    def push_direct(self, repo: str, files: Mapping[str, FileContent],
                    branch: str | None = None, message: str = "Direct push",
                    author: str = DEFAULT_LOGIN) -> str:
        """A commit straight onto a branch (the default one unless named), no pull request."""
        with self.lock:
            return self.commit(repo, branch or self.repo(repo).default_branch, files, message,
                               author)

    def open_pull(self, repo: str, author: str, head_branch: str,
                  files: Mapping[str, FileContent] | None = None, *, base: str | None = None,
                  title: str | None = None, body: str = "", at: datetime | None = None) -> int:
        """Open a pull request from `head_branch`, first committing `files` there (the branch is
        created off the base when new). Returns its number."""
        with self.lock:
            store = self.repo(repo)
            base = base or store.default_branch
            if files is not None:
                self.commit(repo, head_branch, files, title or f"Add {', '.join(files)}",
                            author, start=base, at=at)
            return self._open(store, self._existing(author).login, head_branch, base,
                              title or f"Update from {head_branch}", body, at)

    def push_to_pull(self, repo: str, number: int, files: Mapping[str, FileContent],
                     message: str = "Update", author: str | None = None) -> str:
        """A new commit on an open pull request's head branch; earlier reviews stay on the
        commit they were given on."""
        with self.lock:
            store = self.repo(repo)
            pull = store.pulls[number]
            if pull.state != "open":
                raise ValueError(f"pull request #{number} is {pull.state}")
            sha = self.commit(repo, pull.head_ref, files, message, author or pull.user)
            self._refresh(store, pull)
            return sha

    def submit_review(self, repo: str, number: int, login: str, state: str = "APPROVED",
                      commit_id: str | None = None, body: str = "",
                      at: datetime | None = None) -> int:
        """A review on the pull request's head (or on `commit_id`); returns the review id."""
        if state not in REVIEW_STATES:
            raise ValueError(f"review state must be one of {REVIEW_STATES}")
        with self.lock:
            store = self.repo(repo)
            pull = store.pulls[number]
            return self._review(store, pull, self._existing(login).login, state, commit_id,
                                body, at).id

    def dismiss_review(self, repo: str, number: int, review_id: int) -> None:
        with self.lock:
            for review in self.repo(repo).pulls[number].reviews:
                if review.id == review_id:
                    review.state = "DISMISSED"
                    return
            raise KeyError(f"no review {review_id} on #{number}")

    def merge_pull(self, repo: str, number: int, method: str = "merge",
                   merged_by: str = DEFAULT_LOGIN, at: datetime | None = None) -> str:
        """Merge like GitHub: `merge` (a merge commit with two parents), `squash` (one new
        commit with one parent) or `rebase` (the pull request's commits replayed on the base).
        Returns the commit the base branch now points at (GitHub's `merge_commit_sha`)."""
        with self.lock:
            store = self.repo(repo)
            pull = store.pulls[number]
            if pull.state != "open":
                raise ValueError(f"pull request #{number} is {pull.state}")
            ref = f"refs/heads/{pull.base_ref}"
            target = store.refs[ref]
            # GitHub leaves base.sha where the base branch stood at the last push: a merge over
            # a base branch that moved since does not refresh it.
            self._refresh(store, pull, base=False)
            pull.merge_base = self._merge_base(store, pull.head_sha, target)
            own = self._range(store, target, pull.head_sha)
            pull.commits = own
            who = self._existing(merged_by).login
            when = at or self.clock()
            tree = self._three_way(store, pull.merge_base, target, pull.head_sha)
            if method == "merge":
                message = (f"Merge pull request #{number} from {store.owner}/{pull.head_ref}"
                           f"\n\n{pull.title}")
                landed = [self._make_commit(store, [target, pull.head_sha], tree, message, who,
                                            ref, when)]
            elif method == "squash":
                message = f"{pull.title} (#{number})"
                landed = [self._make_commit(store, [target], tree, message, pull.user, ref,
                                            when)]
            elif method == "rebase":
                landed = []
                parent = target
                for sha in own:
                    original = store.commits[sha]
                    before = store.commits[original.parents[0]].tree
                    replayed = _apply(store.commits[parent].tree, before, original.tree, sha)
                    parent = self._make_commit(store, [parent], replayed, original.message,
                                               original.author, ref, when)
                    landed.append(parent)
            else:
                raise ValueError(f"unknown merge method {method!r}")
            pull.landed = landed
            pull.merge_commit_sha = landed[-1] if landed else target
            pull.state, pull.merged, pull.merged_at = "closed", True, when
            pull.closed_at = pull.updated_at = when
            pull.merged_by = who
            return store.refs[ref]

    def close_pull(self, repo: str, number: int) -> None:
        with self.lock:
            pull = self.repo(repo).pulls[number]
            pull.state, pull.closed_at = "closed", self.clock()

    def add_collaborator(self, repo: str, login: str, permission: str = "write") -> None:
        """A direct collaborator without an invitation (as if already accepted)."""
        with self.lock:
            self.repo(repo).collaborators[_key(self._existing(login).login)] = role_of(
                permission)

    def collaborators(self, repo: str) -> dict[str, str]:
        """Direct collaborators: login (with its case) -> role (read ... admin)."""
        with self.lock:
            return {self.accounts[k].login: r for k, r in self.repo(repo).collaborators.items()}

    def pending_invitations(self, repo: str) -> dict[str, str]:
        """Invitees who have not accepted yet: login -> role."""
        with self.lock:
            return {self.accounts[i.invitee].login: i.role
                    for i in self.repo(repo).invitations.values()}

    def accept_invitation(self, repo: str, login: str) -> None:
        with self.lock:
            store = self.repo(repo)
            for invitation in list(store.invitations.values()):
                if invitation.invitee == _key(login):
                    self._accept(store, invitation)
                    return
            raise KeyError(f"{login} has no invitation to {repo}")

    def file_at(self, repo: str, ref: str, path: str) -> bytes | None:
        with self.lock:
            store = self.repo(repo)
            return self._resolve(store, ref).tree.get(path)

    def ref(self, repo: str, ref: str) -> str | None:
        """The SHA a full ref ("refs/heads/main") points at."""
        with self.lock:
            return self.repo(repo).refs.get(ref)

    def checkout(self, repo: str, ref: str, dest: Path) -> None:
        """Write the files at `ref` (a full ref such as refs/heads/main, or a SHA) into `dest`,
        replacing whatever was there: what a CI checkout of that commit holds."""
        with self.lock:
            store = self.repo(repo)
            tree = dict(store.commits[store.refs.get(ref, ref)].tree)
        if dest.exists():
            shutil.rmtree(dest)
        for path, content in tree.items():
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    def comments(self, repo: str, number: int) -> list[str]:
        with self.lock:
            return [c.body for c in sorted(self.repo(repo).comments.values(), key=lambda c: c.id)
                    if c.issue == number]

    # -- internals for the helpers -----------------------------------------------------------------
    def _existing(self, login: str) -> Account:
        account = self.accounts.get(_key(login))
        if account is None:
            raise KeyError(f"no account {login!r}")
        return account

    def _make_commit(self, repo: Repo, parents: list[str], tree: dict[str, bytes], message: str,
                     author: str, ref: str | None, at: datetime | None = None) -> str:
        seq = next(self._seq)
        when = at or self.clock()
        account = self.accounts.get(_key(author))
        name = account.name if account and account.name else author
        email = account.email if account and account.email \
            else f"{author}@users.noreply.github.com"
        person = f"{name} <{email}> {int(when.timestamp())} +0000".encode()
        body = b"tree " + _git_tree(tree, self.objects).encode() + b"\n"
        body += b"".join(b"parent " + p.encode() + b"\n" for p in parents)
        body += b"author " + person + b"\ncommitter " + person + b"\n\n"
        body += message.encode() + (b"" if message.endswith("\n") else b"\n")
        sha = _git_hash(b"commit", body)
        self.objects[sha] = ("commit", body)
        if sha not in repo.commits:  # the same commit made twice is one object, as in git
            repo.commits[sha] = Commit(sha, parents, tree, message, author, when, seq)
        if ref is not None:
            repo.refs[ref] = sha
        return sha

    def git_objects(self, repo: str, ref: str, have: Callable[[str], bool]
                    ) -> list[tuple[str, str, bytes]]:
        """The git objects (sha, kind, body) of every commit reachable from `ref` for which
        `have(sha)` is false, with their trees and blobs: what a fetch would send. Parents
        first, so that a reader can write them in order."""
        with self.lock:
            store = self.repo(repo)
            start = store.refs.get(ref, ref)
            wanted: list[str] = []
            seen: set[str] = set()
            todo = [start]
            while todo:
                sha = todo.pop()
                if sha in seen or have(sha):
                    continue
                seen.add(sha)
                wanted.append(sha)
                todo.extend(store.commits[sha].parents)
            found: list[tuple[str, str, bytes]] = []
            sent: set[str] = set()

            def walk(sha: str) -> None:
                if sha in sent:
                    return
                sent.add(sha)
                kind, body = self.objects[sha]
                if kind == "tree":
                    for entry in _tree_entries(body):
                        walk(entry)
                found.append((sha, kind, body))

            for sha in sorted(wanted, key=lambda s: store.commits[s].seq):
                kind, body = self.objects[sha]
                walk(body[5:45].decode())
                found.append((sha, kind, body))
            return found

    def _open(self, repo: Repo, author: str, head: str, base: str, title: str, body: str,
              at: datetime | None = None) -> int:
        now = at or self.clock()
        head_sha, base_sha = repo.branch_sha(head), repo.branch_sha(base)
        if head_sha is None or base_sha is None:
            raise ValueError(f"no branch {head if head_sha is None else base}")
        pull = Pull(repo.next_number, next(self._ids), author, title, body, head, head_sha,
                    base, base_sha, now, now)
        pull.merge_base = self._merge_base(repo, head_sha, base_sha)
        repo.pulls[pull.number] = pull
        repo.next_number += 1
        return pull.number

    def _refresh(self, repo: Repo, pull: Pull, base: bool = True) -> None:
        head, tip = repo.branch_sha(pull.head_ref), repo.branch_sha(pull.base_ref)
        if head is not None:
            pull.head_sha = head
        if tip is not None and base:
            pull.base_sha = tip
        pull.merge_base = self._merge_base(repo, pull.head_sha, pull.base_sha)
        pull.updated_at = self.clock()

    def _review(self, repo: Repo, pull: Pull, login: str, state: str, commit_id: Any,
                body: str, at: datetime | None) -> Review:
        if commit_id is not None and commit_id not in repo.commits:
            raise invalid("", "PullRequestReview", "commit_id")
        review = Review(next(self._ids), login, state, body, commit_id or pull.head_sha,
                        at or self.clock())
        pull.reviews.append(review)
        if _key(login) in pull.requested_users:  # a requested reviewer who reviews is done
            pull.requested_users.remove(_key(login))
        pull.updated_at = review.submitted_at
        return review

    def _three_way(self, repo: Repo, base: str, ours: str, theirs: str) -> dict[str, bytes]:
        return _apply(repo.commits[ours].tree, repo.commits[base].tree,
                      repo.commits[theirs].tree, theirs)


# -- helpers --------------------------------------------------------------------------------------
def _apply(onto: Mapping[str, bytes], before: Mapping[str, bytes], after: Mapping[str, bytes],
           what: str) -> dict[str, bytes]:
    """Apply the change `before -> after` on top of `onto`, file by file; a path changed
    differently on both sides is a conflict."""
    result = dict(onto)
    for path in set(before) | set(after):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        mine = onto.get(path)
        if mine not in (old, new):
            merged = _merge_lines(old, mine, new) if None not in (old, mine, new) else None
            if merged is None:
                raise ValueError(f"merge conflict in {path} applying {what[:7]}")
            new = merged
        if new is None:
            result.pop(path, None)
        else:
            result[path] = new
    return result


def _merge_lines(base: bytes | None, ours: bytes | None, theirs: bytes | None) -> bytes | None:
    """A three-way merge of one file by lines, as git merges: both sides' changes where they
    change different lines; None (a conflict) where they touch or overlap."""
    assert base is not None and ours is not None and theirs is not None
    lines = base.splitlines(keepends=True)

    def hunks(other: bytes) -> list[tuple[int, int, list[bytes]]]:
        changed = other.splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(None, lines, changed, autojunk=False)
        return [(i1, i2, changed[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                if tag != "equal"]

    mine, yours = hunks(ours), hunks(theirs)
    for a1, a2, a_lines in mine:
        for b1, b2, b_lines in yours:
            if a1 <= b2 and b1 <= a2 and (a1, a2, a_lines) != (b1, b2, b_lines):
                return None
    result = list(lines)
    for start, end, replacement in sorted({(a, b, tuple(c)) for a, b, c in mine + yours},
                                          reverse=True):
        result[start:end] = replacement
    return b"".join(result)


def _subtree(tree: Mapping[str, bytes], path: str) -> dict[str, bytes]:
    """The files at `path` (a file or a directory) in a tree."""
    return {k: v for k, v in tree.items() if k == path or k.startswith(path + "/")}


def _git_hash(kind: bytes, body: bytes) -> str:
    return hashlib.sha1(kind + b" %d\0" % len(body) + body).hexdigest()


def _blob_sha(data: bytes) -> str:
    return _git_hash(b"blob", data)


GitObjects = dict[str, tuple[str, bytes]]
"""sha -> (kind, body): the emulator's git object store."""


def _git_tree(tree: Mapping[str, bytes], objects: GitObjects | None = None) -> str:
    """The git tree ID of a flat {path: content} tree (nested trees built as git builds them);
    every tree and blob is kept in `objects` when given."""
    nested: dict[str, Any] = {}
    for path, content in tree.items():
        *dirs, name = path.split("/")
        node = nested
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = content
    return _tree_object(nested, objects)


def _tree_object(node: Mapping[str, Any], objects: GitObjects | None) -> str:
    entries = []
    for name, value in node.items():
        if isinstance(value, dict):
            entries.append((name + "/", b"40000 " + name.encode() + b"\0",
                            _tree_object(value, objects)))
        else:
            sha = _blob_sha(value)
            if objects is not None and sha not in objects:
                objects[sha] = ("blob", value)
            entries.append((name, b"100644 " + name.encode() + b"\0", sha))
    entries.sort(key=lambda e: e[0].encode())  # git sorts a directory as its name plus "/"
    body = b"".join(head + bytes.fromhex(sha) for _, head, sha in entries)
    sha = _git_hash(b"tree", body)
    if objects is not None and sha not in objects:
        objects[sha] = ("tree", body)
    return sha


def _tree_entries(body: bytes) -> list[str]:
    """The object IDs a tree object names."""
    found = []
    position = 0
    while position < len(body):
        end = body.index(b"\0", position)
        found.append(body[end + 1:end + 21].hex())
        position = end + 21
    return found


def _tree_sha(tree: Mapping[str, bytes], prefix: str = "") -> str:
    return _git_tree({k[len(prefix):]: v for k, v in tree.items()})


def _encode(files: Mapping[str, FileContent]) -> list[tuple[str, bytes | None]]:
    return [(path.strip("/"), content.encode() if isinstance(content, str) else content)
            for path, content in files.items()]


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return default


def _int_param(request: Request, name: str) -> int:
    raw = request.params[name]
    if not raw.isdigit():
        raise not_found()
    return int(raw)
