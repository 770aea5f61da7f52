"""The GitLab emulator's records: users, groups and projects with their members, commits, merge
requests with their approvals, notes, rules and diff versions, and the project approval
settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class User:
    id: int
    username: str
    name: str
    state: str = "active"
    bot: bool = False
    email: str = ""
    is_admin: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Member:
    user_id: int
    access_level: int
    expires_at: str | None
    created_at: datetime
    created_by: int | None


@dataclass
class Group:
    id: int
    full_path: str
    name: str
    parent_id: int | None
    members: dict[int, Member] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.full_path.rsplit("/", 1)[-1]


@dataclass
class Commit:
    sha: str
    parents: list[str]
    files: dict[str, bytes]
    message: str
    author: int
    created_at: datetime
    seq: int = 0
    """The order commits were made in: the newest common ancestor is the merge base."""

    @property
    def title(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


@dataclass
class Approval:
    user_id: int
    sha: str
    """The head commit the approval was given on (kept for tests; GitLab's API does not say)."""
    at: datetime


@dataclass
class Note:
    id: int
    body: str
    author_id: int
    created_at: datetime
    updated_at: datetime
    system: bool = False
    discussion_id: str = ""
    resolvable: bool = False
    """A thread's note (`POST .../discussions`): it can be resolved, which updates it."""
    resolved_by: int | None = None
    resolved_at: datetime | None = None


@dataclass
class DiffVersion:
    """One diff version of a merge request (`GET .../versions`): GitLab makes one when the merge
    request is opened and one at every push to its source branch."""

    id: int
    head_commit_sha: str
    base_commit_sha: str
    start_commit_sha: str
    created_at: datetime


@dataclass
class Rule:
    id: int
    name: str
    rule_type: str
    user_ids: list[int]
    approvals_required: int
    section: str | None = None


@dataclass
class MergeRequest:
    id: int
    iid: int
    project_id: int
    title: str
    description: str
    author_id: int
    source_branch: str
    target_branch: str
    sha: str
    base_sha: str
    start_sha: str
    created_at: datetime
    updated_at: datetime
    state: str = "opened"
    merged_at: datetime | None = None
    merged_by: int | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    squash: bool = False
    frozen_commits: list[str] | None = None
    """The merge request's own commits, fixed when it is merged (newest first)."""
    approvals: list[Approval] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    versions: list[DiffVersion] = field(default_factory=list)


@dataclass
class Project:
    id: int
    path: str
    namespace_id: int
    name: str
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    reset_approvals_on_push: bool = True
    code_owner_approval_required: bool = True
    path_with_namespace: str = ""
    approvals_before_merge: int = 0
    selective_code_owner_removals: bool = False
    disable_overriding_approvers_per_merge_request: bool = False
    merge_requests_author_approval: bool = False
    merge_requests_disable_committers_approval: bool = False
    require_password_to_approve: bool = False


APPROVAL_SETTINGS: dict[str, type] = {
    "approvals_before_merge": int,
    "reset_approvals_on_push": bool,
    "selective_code_owner_removals": bool,
    "disable_overriding_approvers_per_merge_request": bool,
    "merge_requests_author_approval": bool,
    "merge_requests_disable_committers_approval": bool,
    "require_password_to_approve": bool,
}
"""The project-level merge request approval settings (`GET/POST /projects/:id/approvals`)."""
