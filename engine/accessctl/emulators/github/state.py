"""The GitHub emulator's records: accounts, organizations, teams, repositories with their commits,
pull requests, issues, reviews, comments and invitations, and the log of what it answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from accessctl.emulators.http import JSON


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
class Issue:
    """An issue (not a pull request: GitHub numbers both from one sequence per repository)."""

    number: int
    id: int
    user: str
    title: str
    body: str
    created_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None


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
    issues: dict[int, Issue] = field(default_factory=dict)
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
