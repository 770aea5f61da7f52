"""A GitLab REST v4 emulator: users, groups, projects, members, a small git store, merge requests.

It speaks the wire format python-gitlab expects under `/api/v4`: the `PRIVATE-TOKEN` header,
URL-encoded paths as ids (`acme%2Finfra`), GitLab's pagination headers and `Link`, its error bodies
(`{"message": "404 Not found"}`, `{"error": "..."}`), and a 429 with `Retry-After` and
`RateLimit-*` headers. State lives in memory behind `self.lock`; the seeding helpers at the bottom
(`add_user`, `add_project`, `open_merge_request`, `approve`, `merge`, ...) build scenarios for tests
and for `accessctl demo`.

GitLab behaviours are modelled on purpose because the engine's security depends on them:
approvals are reset when the merge request's source branch is pushed to (the project setting
"Remove all approvals when commits are added to the source branch", on by default here); each
approval says when it was given (`approved_at`) and each push makes a diff version (`.../versions`)
with its time; a commit maps back to its merge request whether it was merged with a merge commit,
squashed, or fast-forwarded; a Maintainer may edit anyone's note, and resolving a thread updates
its notes, without the note saying who did either.

`tier = "free"` plays GitLab Free (the FOSS code base): the merge request approvals it has are
the approve and unapprove endpoints and `GET .../merge_requests/:iid/approvals`, which answers
only `user_has_approved`, `user_can_approve`, `approved` and `approved_by` (with `approved_at`).
The project approval settings (`/projects/:id/approvals`), `approval_state`, `approval_rules`
and Code Owners approval rules are Premium: 404 on Free. Approvals are not reset by a push (that
setting is Premium too), and the author may approve their own merge request (the setting that
prevents it is Premium; GitLab's documentation does not say what Free does, so the emulator
takes the permissive answer the engine must withstand).
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlencode

from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

API = "/api/v4"
ACCESS_LEVELS = {10: "Guest", 15: "Planner", 20: "Reporter", 30: "Developer", 40: "Maintainer",
                 50: "Owner"}
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
CODEOWNERS_PATHS = ("CODEOWNERS", ".gitlab/CODEOWNERS", "docs/CODEOWNERS")

FileContent = str | bytes | None
"""A file as the seeding helpers take it: text, bytes, or None to delete the path."""


def _stamp(value: datetime) -> str:
    """GitLab's timestamp format: milliseconds and a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


def _not_found(what: str = "") -> HttpError:
    return HttpError(404, {"message": f"404 {what} Not Found" if what else "404 Not found"})


def _bad_request(error: str) -> HttpError:
    return HttpError(400, {"error": error})


# -- state ----------------------------------------------------------------------------------------
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


# -- the emulator ---------------------------------------------------------------------------------
class GitLabEmulator(Emulator):
    name = "gitlab"

    def __init__(self, token: str = "glpat-emulator-token") -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._sha_seq = itertools.count(1)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.tokens: dict[str, int] = {}
        self.token_scopes: dict[str, list[str]] = {}
        """Scopes of tokens given them (`add_token(..., scopes=[...])`); a token not listed has
        `api`. A `read_api` token may only GET, as on GitLab (403 `insufficient_scope`)."""
        self.tier = "premium"
        """`"free"` plays GitLab Free (see the module docstring); anything else, Premium."""
        self.approval_times = True
        """Whether approvals say when they were given (`approved_by[].approved_at`, in recent
        GitLab); False plays an older GitLab."""
        root = self.add_user("root", "Administrator", is_admin=True)
        self.tokens[token] = root
        self.token = token
        self._register_routes()

    def _register_routes(self) -> None:
        api = self._api
        api("GET", "/version", self._version)
        api("GET", "/user", self._current_user)
        api("GET", "/personal_access_tokens/self", self._token_self)
        api("GET", "/users", self._list_users)
        api("GET", "/users/{user_id}", self._get_user)
        api("GET", "/groups/{id}", self._get_group)
        api("GET", "/projects/{id}", self._get_project)
        api("GET", "/projects/{id}/approvals", self._project_approvals)
        api("POST", "/projects/{id}/approvals", self._change_project_approvals)
        for kind in ("groups", "projects"):
            api("GET", f"/{kind}/{{id}}/members/all", self._members_handler(kind, "list_all"))
            api("GET", f"/{kind}/{{id}}/members/all/{{user_id}}",
                self._members_handler(kind, "get_all"))
            api("GET", f"/{kind}/{{id}}/members", self._members_handler(kind, "list"))
            api("POST", f"/{kind}/{{id}}/members", self._members_handler(kind, "add"))
            api("GET", f"/{kind}/{{id}}/members/{{user_id}}", self._members_handler(kind, "get"))
            api("PUT", f"/{kind}/{{id}}/members/{{user_id}}",
                self._members_handler(kind, "update"))
            api("DELETE", f"/{kind}/{{id}}/members/{{user_id}}",
                self._members_handler(kind, "remove"))
        repo = "/projects/{id}/repository"
        api("GET", repo + "/files/{file_path}/raw", self._file_raw)
        api("GET", repo + "/files/{file_path}", self._file)
        api("GET", repo + "/tree", self._tree)
        api("GET", repo + "/branches/{branch}", self._branch)
        api("GET", repo + "/commits", self._list_commits)
        api("GET", repo + "/commits/{sha}/merge_requests", self._commit_merge_requests)
        api("GET", repo + "/commits/{sha}", self._get_commit)
        mr = "/projects/{id}/merge_requests/{iid}"
        api("GET", "/projects/{id}/merge_requests", self._list_mrs)
        api("GET", mr, self._get_mr)
        api("GET", mr + "/changes", self._mr_changes)
        api("GET", mr + "/diffs", self._mr_diffs)
        api("GET", mr + "/commits", self._mr_commits)
        api("GET", mr + "/versions", self._mr_versions)
        api("GET", mr + "/versions/{version_id}", self._mr_version)
        api("GET", mr + "/approvals", self._mr_approvals)
        api("POST", mr + "/approve", self._mr_approve)
        api("GET", mr + "/approval_state", self._mr_approval_state)
        api("GET", mr + "/approval_rules", self._mr_approval_rules)
        api("GET", mr + "/notes", self._list_notes)
        api("POST", mr + "/notes", self._create_note)
        api("GET", mr + "/notes/{note_id}", self._get_note)
        api("PUT", mr + "/notes/{note_id}", self._update_note)
        api("GET", mr + "/discussions", self._list_discussions)
        api("POST", mr + "/discussions", self._create_discussion)
        api("GET", mr + "/discussions/{discussion_id}", self._get_discussion)
        api("PUT", mr + "/discussions/{discussion_id}", self._resolve_discussion)

    def _api(self, method: str, template: str,
             handler: Callable[[Request, User], Response | JSON]) -> None:
        def authenticated(request: Request) -> Response | JSON:
            actor = self._authenticate(request)
            with self.lock:
                return handler(request, actor)

        self.route(method, API + template, authenticated)

    def _authenticate(self, request: Request) -> User:
        token = request.headers.get("private-token")
        bearer = request.headers.get("authorization", "")
        if token is None and bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
        with self.lock:
            user_id = self.tokens.get(token or "")
            if user_id is None or self.users[user_id].state != "active":
                raise HttpError(401, {"message": "401 Unauthorized"})
            scopes = self.token_scopes.get(token or "", ["api"])
            if request.method != "GET" and "api" not in scopes:
                raise HttpError(403, {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided "
                                         "by the access token.",
                    "scope": "api"})
            return self.users[user_id]

    def _token_self(self, request: Request, actor: User) -> JSON:
        """`GET /personal_access_tokens/self`: the token describing itself (GitLab 15.5+)."""
        token = request.headers.get("private-token") or \
            request.headers.get("authorization", "")[7:].strip()
        return {"id": int(hashlib.sha1(token.encode()).hexdigest()[:6], 16), "name": "accessctl",
                "revoked": False,
                "created_at": _stamp(actor.created_at), "description": None,
                "scopes": list(self.token_scopes.get(token, ["api"])), "user_id": actor.id,
                "last_used_at": _stamp(self.clock()), "active": True, "expires_at": None}

    # -- wire format ------------------------------------------------------------------------------
    def error_body(self, status: int, message: str) -> JSON:
        # Unknown API routes answer {"error": "404 Not Found"} on GitLab.
        return {"error": f"{status} {message}"}

    def fault_response(self, kind: str) -> Response:
        if kind == "429":
            # GitLab's throttle (Rack::Attack) answers plain text with these headers.
            wait = self.faults.retry_after
            reset = datetime.now(UTC) + timedelta(seconds=wait)
            return Response(429, None, {
                "Content-Type": "text/plain",
                "Retry-After": str(wait),
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": "2000",
                "RateLimit-Observed": "2001",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(int(reset.timestamp())),
                "RateLimit-ResetTime": format_datetime(reset, usegmt=True),
            }, raw=b"Retry later\n")
        status = int(kind)
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return Response(status, {"message": f"{status} {reason.get(status, 'Error')}"})

    def _paginate(self, request: Request, items: list[JSON]) -> Response:
        page = _int_arg(request, "page", 1)
        per_page = _int_arg(request, "per_page", DEFAULT_PER_PAGE)
        page = max(page, 1)
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def link(number: int) -> str:
            query = {k: v[0] for k, v in request.query.items()}
            query.update(page=str(number), per_page=str(per_page))
            return f"{self.base_url}{request.path}?{urlencode(query)}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(pages)}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return Response(200, chunk, headers)

    def _user_basic(self, user_id: int) -> JSON:
        user = self.users[user_id]
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self.base_url}/{user.username}",
        }

    def _user_full(self, user_id: int) -> JSON:
        user = self.users[user_id]
        body = self._user_basic(user_id)
        body.update({
            "created_at": _stamp(user.created_at),
            "bio": "",
            "public_email": user.email or None,
            "bot": user.bot,
            "is_admin": user.is_admin,
        })
        return body

    def _member_json(self, member: Member) -> JSON:
        body = self._user_basic(member.user_id)
        body.update({
            "access_level": member.access_level,
            "created_at": _stamp(member.created_at),
            "created_by": self._user_basic(member.created_by) if member.created_by else None,
            "expires_at": member.expires_at,
            "membership_state": "active",
        })
        return body

    def _group_json(self, group: Group) -> JSON:
        return {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "full_name": group.full_path.replace("/", " / "),
            "full_path": group.full_path,
            "parent_id": group.parent_id,
            "visibility": "private",
            "description": "",
            "web_url": f"{self.base_url}/groups/{group.full_path}",
        }

    def _project_json(self, project: Project) -> JSON:
        namespace = self.groups[project.namespace_id]
        return {
            "id": project.id,
            "name": project.name,
            "path": project.path,
            "path_with_namespace": project.path_with_namespace,
            "name_with_namespace": f"{namespace.full_path.replace('/', ' / ')} / {project.name}",
            "default_branch": project.default_branch,
            "visibility": "private",
            "namespace": {"id": namespace.id, "name": namespace.name, "path": namespace.path,
                          "kind": "group", "full_path": namespace.full_path},
            "web_url": f"{self.base_url}/{project.path_with_namespace}",
            "merge_method": "merge",
            "squash_option": "default_off",
        }

    def _commit_json(self, project: Project, commit: Commit, full: bool = False) -> JSON:
        author = self.users[commit.author]
        body: dict[str, Any] = {
            "id": commit.sha,
            "short_id": commit.sha[:8],
            "title": commit.title,
            "message": commit.message,
            "author_name": author.name,
            "author_email": author.email,
            "authored_date": _stamp(commit.created_at),
            "committer_name": author.name,
            "committer_email": author.email,
            "committed_date": _stamp(commit.created_at),
            "created_at": _stamp(commit.created_at),
            "parent_ids": list(commit.parents),
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{self.base_url}/{project.path_with_namespace}/-/commit/{commit.sha}",
        }
        if full:
            changes = self._changes(project, commit.parents[0] if commit.parents else None,
                                    commit.sha)
            added = sum(c["diff"].count("\n+") for c in changes)
            deleted = sum(c["diff"].count("\n-") for c in changes)
            body["stats"] = {"additions": added, "deletions": deleted, "total": added + deleted}
            body["status"] = None
            body["last_pipeline"] = None
        return body

    def _mr_json(self, project: Project, mr: MergeRequest, full: bool = False) -> JSON:
        reference = f"!{mr.iid}"
        body: dict[str, Any] = {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": _stamp(mr.created_at),
            "updated_at": _stamp(mr.updated_at),
            "merged_by": self._user_basic(mr.merged_by) if mr.merged_by else None,
            "merge_user": self._user_basic(mr.merged_by) if mr.merged_by else None,
            "merged_at": _stamp(mr.merged_at) if mr.merged_at else None,
            "closed_by": None,
            "closed_at": _stamp(mr.closed_at) if mr.closed_at else None,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(1 for n in mr.notes if not n.system),
            "upvotes": 0,
            "downvotes": 0,
            "author": self._user_basic(mr.author_id),
            "assignees": [],
            "assignee": None,
            "reviewers": [],
            "source_project_id": mr.project_id,
            "target_project_id": mr.project_id,
            "labels": [],
            "draft": False,
            "work_in_progress": False,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable" if mr.state == "opened" else "not_open",
            "sha": mr.sha,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": mr.squash_commit_sha,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "reference": reference,
            "references": {"short": reference, "relative": reference,
                           "full": f"{project.path_with_namespace}{reference}"},
            "web_url": f"{self.base_url}/{project.path_with_namespace}/-/merge_requests/{mr.iid}",
            "squash": mr.squash,
            "squash_on_merge": mr.squash,
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
        }
        if full:
            body.update({
                "diff_refs": {"base_sha": mr.base_sha, "head_sha": mr.sha,
                              "start_sha": mr.start_sha},
                "changes_count": str(len(self._changes(project, mr.base_sha, mr.sha))),
                "merge_error": None,
                "first_contribution": False,
                "user": {"can_merge": True},
            })
        return body

    def _note_json(self, mr: MergeRequest, note: Note) -> JSON:
        body: JSON = {
            "id": note.id,
            "type": "DiscussionNote" if note.resolvable else None,
            "body": note.body,
            "attachment": None,
            "author": self._user_basic(note.author_id),
            "created_at": _stamp(note.created_at),
            "updated_at": _stamp(note.updated_at),
            "system": note.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project_id,
            "noteable_iid": mr.iid,
            "resolvable": note.resolvable,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
        }
        if note.resolvable:
            body["resolved"] = note.resolved_by is not None
            body["resolved_by"] = (self._user_basic(note.resolved_by)
                                   if note.resolved_by is not None else None)
        return body

    def _version_json(self, mr: MergeRequest, version: DiffVersion) -> JSON:
        return {
            "id": version.id,
            "head_commit_sha": version.head_commit_sha,
            "base_commit_sha": version.base_commit_sha,
            "start_commit_sha": version.start_commit_sha,
            "created_at": _stamp(version.created_at),
            "merge_request_id": mr.id,
            "state": "collected",
            "real_size": str(len(self._changes(self.projects[mr.project_id],
                                               version.base_commit_sha,
                                               version.head_commit_sha))),
        }

    # -- look-ups ---------------------------------------------------------------------------------
    def _find_group(self, ref: str) -> Group:
        for group in self.groups.values():
            if str(group.id) == ref or group.full_path.casefold() == ref.casefold():
                return group
        raise _not_found("Group")

    def _find_project(self, ref: str) -> Project:
        for project in self.projects.values():
            if str(project.id) == ref or project.path_with_namespace.casefold() == ref.casefold():
                return project
        raise _not_found("Project")

    def _find_user(self, ref: str | int) -> User:
        for user in self.users.values():
            if str(user.id) == str(ref) or user.username.casefold() == str(ref).casefold():
                return user
        raise _not_found("User")

    def _find_mr(self, request: Request) -> tuple[Project, MergeRequest]:
        project = self._find_project(request.params["id"])
        mr = project.merge_requests.get(_int_param(request, "iid"))
        if mr is None:
            raise _not_found("Merge Request")
        return project, mr

    def _resolve(self, project: Project, ref: str | None) -> Commit:
        """A branch name or a (possibly abbreviated) commit SHA to its commit."""
        ref = ref or project.default_branch
        if ref in project.branches:
            return project.commits[project.branches[ref]]
        if ref in project.commits:
            return project.commits[ref]
        if len(ref) >= 7:
            found = [c for sha, c in project.commits.items() if sha.startswith(ref)]
            if len(found) == 1:
                return found[0]
        raise _not_found("Commit")

    def _ancestors(self, project: Project, sha: str | None) -> list[str]:
        """`sha` and every commit it descends from, nearest first (breadth first)."""
        if sha is None:
            return []
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.append(current)
            queue.extend(project.commits[current].parents)
        return seen

    def _merge_base(self, project: Project, one: str, other: str) -> str:
        theirs = set(self._ancestors(project, other))
        for sha in self._ancestors(project, one):
            if sha in theirs:
                return sha
        raise ValueError(f"{one} and {other} share no history")

    def _mr_commits_of(self, project: Project, mr: MergeRequest) -> list[str]:
        if mr.frozen_commits is not None:
            return list(mr.frozen_commits)
        target = project.branches.get(mr.target_branch)
        excluded = set(self._ancestors(project, target))
        return [sha for sha in self._ancestors(project, mr.sha) if sha not in excluded]

    def _changes(self, project: Project, old: str | None, new: str) -> list[dict[str, Any]]:
        before = project.commits[old].files if old else {}
        after = project.commits[new].files
        result = []
        for path in sorted(set(before) | set(after)):
            if before.get(path) == after.get(path):
                continue
            old_text = before.get(path, b"").decode("utf-8", "replace").splitlines(keepends=True)
            new_text = after.get(path, b"").decode("utf-8", "replace").splitlines(keepends=True)
            diff = "".join(difflib.unified_diff(old_text, new_text, n=3))
            diff = diff.split("\n", 2)[2] if diff.startswith("---") else diff
            result.append({
                "old_path": path,
                "new_path": path,
                "a_mode": "100644" if path in before else "0",
                "b_mode": "100644" if path in after else "0",
                "diff": diff,
                "new_file": path not in before,
                "renamed_file": False,
                "deleted_file": path not in after,
                "generated_file": False,
            })
        return result

    # -- handlers: users, groups, projects --------------------------------------------------------
    def _version(self, request: Request, actor: User) -> JSON:
        return {"version": "17.11.0-ee", "revision": "emulator", "enterprise": True}

    def _current_user(self, request: Request, actor: User) -> JSON:
        return self._user_full(actor.id)

    def _list_users(self, request: Request, actor: User) -> Response:
        username = request.arg("username")
        search = (request.arg("search") or "").casefold()
        found = [
            self._user_full(u.id) for u in sorted(self.users.values(), key=lambda u: u.id)
            if (username is None or u.username.casefold() == username.casefold())
            and (not search or search in u.username.casefold() or search in u.name.casefold())
        ]
        return self._paginate(request, found)

    def _get_user(self, request: Request, actor: User) -> JSON:
        if not request.params["user_id"].isdigit():
            raise _not_found("User")
        return self._user_full(self._find_user(int(request.params["user_id"])).id)

    def _get_group(self, request: Request, actor: User) -> JSON:
        return self._group_json(self._find_group(request.params["id"]))

    def _get_project(self, request: Request, actor: User) -> JSON:
        return self._project_json(self._find_project(request.params["id"]))

    def _approval_settings_json(self, project: Project) -> JSON:
        body: dict[str, Any] = {"approvers": [], "approver_groups": []}
        body.update({name: getattr(project, name) for name in APPROVAL_SETTINGS})
        body["require_reauthentication_to_approve"] = project.require_password_to_approve
        return body

    def _premium(self) -> None:
        """Premium endpoints do not exist on Free: GitLab answers as for any unknown route."""
        if self.tier == "free":
            raise HttpError(404, {"error": "404 Not Found"})

    def _project_approvals(self, request: Request, actor: User) -> JSON:
        self._premium()
        return self._approval_settings_json(self._find_project(request.params["id"]))

    def _change_project_approvals(self, request: Request, actor: User) -> Response:
        self._premium()
        project = self._find_project(request.params["id"])
        held = self._effective(*self._source("projects", str(project.id))).get(actor.id)
        if not actor.is_admin and (held is None or held.access_level < 40):
            raise HttpError(403, {"message": "403 Forbidden"})  # Maintainers change settings
        data = _form(request)
        changes: dict[str, Any] = {}
        for name, kind in APPROVAL_SETTINGS.items():
            if name not in data:
                continue
            raw = data[name]
            if kind is bool:
                text = str(raw).casefold()
                if text not in ("true", "false", "1", "0"):
                    raise _bad_request(f"{name} is invalid")
                changes[name] = text in ("true", "1")
            else:
                try:
                    changes[name] = int(raw)
                except (TypeError, ValueError):
                    raise _bad_request(f"{name} is invalid") from None
        self._apply_approval_settings(project, changes)
        return Response(201, self._approval_settings_json(project))

    def _apply_approval_settings(self, project: Project, changes: Mapping[str, Any]) -> None:
        unknown = sorted(set(changes) - set(APPROVAL_SETTINGS))
        if unknown:
            raise ValueError(f"unknown approval settings: {', '.join(unknown)}")
        merged = {name: getattr(project, name) for name in APPROVAL_SETTINGS} | dict(changes)
        # GitLab: selective code-owner removals can be on only while the full reset is off.
        if merged["selective_code_owner_removals"] and merged["reset_approvals_on_push"]:
            raise HttpError(400, {"message": {"selective_code_owner_removals": [
                "can only be enabled when reset_approvals_on_push is disabled"]}})
        for name, value in changes.items():
            setattr(project, name, value)

    # -- handlers: members ------------------------------------------------------------------------
    def _source(self, kind: str, ref: str) -> tuple[dict[int, Member], list[dict[int, Member]]]:
        """The direct members of a group or project, and its ancestors' (nearest first)."""
        if kind == "groups":
            group = self._find_group(ref)
            direct, parent_id = group.members, group.parent_id
        else:
            project = self._find_project(ref)
            direct, parent_id = project.members, project.namespace_id
        inherited = []
        while parent_id is not None:
            parent = self.groups[parent_id]
            inherited.append(parent.members)
            parent_id = parent.parent_id
        return direct, inherited

    def _effective(self, direct: dict[int, Member],
                   inherited: list[dict[int, Member]]) -> dict[int, Member]:
        best: dict[int, Member] = {}
        for members in [direct, *inherited]:
            for user_id, member in members.items():
                if user_id not in best or member.access_level > best[user_id].access_level:
                    best[user_id] = member
        return best

    def _members_handler(self, kind: str, op: str) -> Callable[[Request, User], Response | JSON]:
        def handle(request: Request, actor: User) -> Response | JSON:
            direct, inherited = self._source(kind, request.params["id"])
            if op in ("list", "list_all"):
                members = direct if op == "list" else self._effective(direct, inherited)
                query = (request.arg("query") or "").casefold()
                rows = [
                    self._member_json(m) for m in sorted(members.values(), key=lambda m: m.user_id)
                    if not query or query in self.users[m.user_id].username.casefold()
                    or query in self.users[m.user_id].name.casefold()
                ]
                return self._paginate(request, rows)
            if op == "add":
                return self._add_member(request, actor, direct, inherited)
            user_id = _int_param(request, "user_id")
            if op == "get_all":
                member = self._effective(direct, inherited).get(user_id)
            else:
                member = direct.get(user_id)
            if member is None:
                raise _not_found()
            if op in ("get", "get_all"):
                return self._member_json(member)
            if op == "update":
                data = _form(request)
                level = _access_level(data.get("access_level"), required=True)
                assert level is not None
                self._check_inherited(user_id, level, inherited)
                member.access_level = level
                if "expires_at" in data:
                    member.expires_at = _expiry(data.get("expires_at"), self.clock())
                return self._member_json(member)
            del direct[user_id]
            skip = (request.arg("skip_subresources") or "false").casefold() in ("true", "1")
            if kind == "groups" and not skip:
                # GitLab's default (skip_subresources=false): the user's direct memberships in
                # the group's subgroups and projects go too.
                self._remove_below(self._find_group(request.params["id"]).id, user_id)
            return Response(204, None)

        return handle

    def _remove_below(self, group_id: int, user_id: int) -> None:
        """Drop `user_id`'s direct memberships in every subgroup and project under the group, as
        GitLab's Members::DestroyService does unless told to skip subresources."""
        below = {group_id}
        grew = True
        while grew:
            more = {g.id for g in self.groups.values() if g.parent_id in below} - below
            below |= more
            grew = bool(more)
        for group in self.groups.values():
            if group.id in below and group.id != group_id:
                group.members.pop(user_id, None)
        for project in self.projects.values():
            if project.namespace_id in below:
                project.members.pop(user_id, None)

    def _add_member(self, request: Request, actor: User, direct: dict[int, Member],
                    inherited: list[dict[int, Member]]) -> Response:
        data = _form(request)
        level = _access_level(data.get("access_level"), required=True)
        assert level is not None
        raw_user = data.get("user_id", data.get("username"))
        if raw_user is None or raw_user == "":
            raise _bad_request("user_id, username are missing, exactly one parameter must be "
                               "provided")
        user = self._find_user(raw_user if "user_id" in data else str(raw_user))
        if user.id in direct:
            raise HttpError(409, {"message": "Member already exists"})
        self._check_inherited(user.id, level, inherited)
        expires_at = _expiry(data.get("expires_at"), self.clock())
        member = Member(user.id, level, expires_at, self.clock(), actor.id)
        direct[user.id] = member
        return Response(201, self._member_json(member))

    def _check_inherited(self, user_id: int, level: int,
                         inherited: list[dict[int, Member]]) -> None:
        """GitLab refuses a direct membership below the level the user inherits from a parent
        group, with a validation message naming that level."""
        for members in inherited:
            held = members.get(user_id)
            if held is not None and held.access_level > level:
                role = ACCESS_LEVELS[held.access_level]
                raise HttpError(400, {"message": {"access_level": [
                    f"should be greater than or equal to {role} inherited membership"
                ]}})

    # -- handlers: repository ---------------------------------------------------------------------
    def _file_at(self, request: Request) -> tuple[Commit, str, bytes]:
        project = self._find_project(request.params["id"])
        ref = request.arg("ref")
        if not ref:
            raise _bad_request("ref is missing")
        commit = self._resolve(project, ref)
        path = request.params["file_path"]
        if path not in commit.files:
            raise _not_found("File")
        return commit, path, commit.files[path]

    def _file(self, request: Request, actor: User) -> JSON:
        commit, path, content = self._file_at(request)
        project = self._find_project(request.params["id"])
        last = next(
            (sha for sha in self._ancestors(project, commit.sha)
             if not project.commits[sha].parents
             or project.commits[project.commits[sha].parents[0]].files.get(path) != content),
            commit.sha,
        )
        return {
            "file_name": path.rsplit("/", 1)[-1],
            "file_path": path,
            "size": len(content),
            "encoding": "base64",
            "content": base64.b64encode(content).decode(),
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "ref": request.arg("ref"),
            "blob_id": hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest(),
            "commit_id": commit.sha,
            "last_commit_id": last,
            "execute_filemode": False,
        }

    def _file_raw(self, request: Request, actor: User) -> Response:
        _, _, content = self._file_at(request)
        return Response(200, None, {"Content-Type": "text/plain; charset=utf-8"}, raw=content)

    def _tree(self, request: Request, actor: User) -> Response:
        project = self._find_project(request.params["id"])
        commit = self._resolve(project, request.arg("ref"))
        prefix = (request.arg("path") or "").strip("/")
        recursive = _flag(request, "recursive")
        entries: dict[str, str] = {}
        for path in sorted(commit.files):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1:] if prefix else path
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            if recursive:
                for depth in range(1, len(parts)):
                    entries.setdefault(base + "/".join(parts[:depth]), "tree")
                entries[path] = "blob"
            else:
                entries.setdefault(base + parts[0], "tree" if len(parts) > 1 else "blob")
        if prefix and not entries:
            raise _not_found("Tree")
        rows = [
            {"id": hashlib.sha1(p.encode()).hexdigest(), "name": p.rsplit("/", 1)[-1],
             "type": kind, "path": p, "mode": "040000" if kind == "tree" else "100644"}
            for p, kind in sorted(entries.items(), key=lambda e: (e[1] != "tree", e[0]))
        ]
        return self._paginate(request, rows)

    def _branch(self, request: Request, actor: User) -> JSON:
        project = self._find_project(request.params["id"])
        name = request.params["branch"]
        if name not in project.branches:
            raise _not_found("Branch")
        return {
            "name": name,
            "commit": self._commit_json(project, project.commits[project.branches[name]]),
            "merged": False,
            "protected": name == project.default_branch,
            "default": name == project.default_branch,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": f"{self.base_url}/{project.path_with_namespace}/-/tree/{quote(name)}",
        }

    def _list_commits(self, request: Request, actor: User) -> Response:
        """`git log [--first-parent] ref -- path`: with a path, a commit is listed when it changed
        the path against its first parent (first_parent=true), or, walking all history, when it
        differs from every parent (git's default simplification drops a merge that took the
        file unchanged from one side)."""
        project = self._find_project(request.params["id"])
        head = self._resolve(project, request.arg("ref_name"))
        path = request.arg("path")
        first_parent = _flag(request, "first_parent")
        if first_parent:
            walk, sha = [], head.sha
            while sha:
                walk.append(sha)
                parents = project.commits[sha].parents
                sha = parents[0] if parents else ""
        else:
            walk = self._ancestors(project, head.sha)
        rows = []
        for sha in walk:
            commit = project.commits[sha]
            if path:
                parents = commit.parents[:1] if first_parent else commit.parents
                mine = commit.files.get(path)
                if not parents:
                    changed = mine is not None
                else:
                    changed = all(project.commits[p].files.get(path) != mine for p in parents)
                if not changed:
                    continue
            rows.append(self._commit_json(project, commit))
        return self._paginate(request, rows)

    def _get_commit(self, request: Request, actor: User) -> JSON:
        project = self._find_project(request.params["id"])
        return self._commit_json(project, self._resolve(project, request.params["sha"]), True)

    def _commit_merge_requests(self, request: Request, actor: User) -> Response:
        project = self._find_project(request.params["id"])
        sha = self._resolve(project, request.params["sha"]).sha
        found = [
            self._mr_json(project, mr) for mr in
            sorted(project.merge_requests.values(), key=lambda m: m.iid, reverse=True)
            if sha in (mr.merge_commit_sha, mr.squash_commit_sha)
            or sha in self._mr_commits_of(project, mr)
        ]
        return self._paginate(request, found)

    # -- handlers: merge requests -----------------------------------------------------------------
    def _list_mrs(self, request: Request, actor: User) -> Response:
        project = self._find_project(request.params["id"])
        state = request.arg("state", "all")
        source, target = request.arg("source_branch"), request.arg("target_branch")
        rows = [
            self._mr_json(project, mr) for mr in
            sorted(project.merge_requests.values(), key=lambda m: m.iid, reverse=True)
            if state in ("all", mr.state) and source in (None, mr.source_branch)
            and target in (None, mr.target_branch)
        ]
        return self._paginate(request, rows)

    def _get_mr(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        return self._mr_json(project, mr, full=True)

    def _mr_changes(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        body = self._mr_json(project, mr, full=True)
        body["changes"] = self._changes(project, mr.base_sha, mr.sha)
        body["overflow"] = False
        return body

    def _mr_diffs(self, request: Request, actor: User) -> Response:
        """The paginated per-file diffs (GitLab 15.7+, the successor of /changes)."""
        project, mr = self._find_mr(request)
        rows: list[JSON] = []
        for change in self._changes(project, mr.base_sha, mr.sha):
            row = dict(change)
            row.update(too_large=False, collapsed=False)
            rows.append(row)
        return self._paginate(request, rows)

    def _mr_commits(self, request: Request, actor: User) -> Response:
        project, mr = self._find_mr(request)
        rows = [self._commit_json(project, project.commits[sha])
                for sha in self._mr_commits_of(project, mr)]
        return self._paginate(request, rows)

    def _mr_versions(self, request: Request, actor: User) -> Response:
        """The merge request's diff versions, the latest first (as GitLab lists them)."""
        _, mr = self._find_mr(request)
        return self._paginate(request, [self._version_json(mr, v)
                                        for v in sorted(mr.versions, key=lambda v: -v.id)])

    def _mr_version(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        version_id = _int_param(request, "version_id")
        for version in mr.versions:
            if version.id == version_id:
                body = self._version_json(mr, version)
                body["diffs"] = self._changes(project, version.base_commit_sha,
                                              version.head_commit_sha)
                return body
        raise _not_found()

    def _rules(self, project: Project, mr: MergeRequest) -> list[Rule]:
        return self._code_owner_rules(project, mr) + list(mr.rules)

    def _rule_json(self, mr: MergeRequest, rule: Rule, with_state: bool) -> JSON:
        eligible = [self._user_basic(uid) for uid in rule.user_ids]
        body: dict[str, Any] = {
            "id": rule.id,
            "name": rule.name,
            "rule_type": rule.rule_type,
            "eligible_approvers": eligible,
            "approvals_required": rule.approvals_required,
            "users": eligible,
            "groups": [],
            "contains_hidden_groups": False,
            "section": rule.section,
            "source_rule": None,
            "overridden": False,
            "report_type": None,
        }
        if with_state:
            approved_by = [self._user_basic(a.user_id) for a in mr.approvals
                           if a.user_id in rule.user_ids or rule.rule_type == "any_approver"]
            body["approved_by"] = approved_by
            body["approved"] = len(approved_by) >= rule.approvals_required
            body["code_owner"] = rule.rule_type == "code_owner"
        return body

    def _mr_approvals(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        if self.tier == "free":
            # FOSS's API::Entities::MergeRequestApprovals: these four, nothing else.
            return {
                "user_has_approved": any(a.user_id == actor.id for a in mr.approvals),
                "user_can_approve": self._may_approve(project, mr, actor)
                and all(a.user_id != actor.id for a in mr.approvals),
                "approved": bool(mr.approvals),
                "approved_by": [self._approved_by_json(a) for a in mr.approvals],
            }
        rules = [self._rule_json(mr, r, True) for r in self._rules(project, mr)]
        required = sum(r["approvals_required"] for r in rules)
        left = sum(max(0, r["approvals_required"] - len(r["approved_by"])) for r in rules)
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": _stamp(mr.created_at),
            "updated_at": _stamp(mr.updated_at),
            "merge_status": "can_be_merged",
            "approved": left == 0,
            "approvals_required": required,
            "approvals_left": left,
            "require_password_to_approve": project.require_password_to_approve,
            "approved_by": [self._approved_by_json(a) for a in mr.approvals],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": any(a.user_id == actor.id for a in mr.approvals),
            "user_can_approve": self._may_approve(project, mr, actor),
            "approval_rules_left": [{"id": r["id"], "name": r["name"],
                                     "rule_type": r["rule_type"]}
                                    for r in rules if not r["approved"]],
            "has_approval_rules": bool(rules),
            "merge_request_approvers_available": True,
            "multiple_approval_rules_available": True,
            "invalid_approvers_rules": [],
        }

    def _approved_by_json(self, approval: Approval) -> JSON:
        entry: JSON = {"user": self._user_basic(approval.user_id)}
        if self.approval_times:
            entry["approved_at"] = _stamp(approval.at)
        return entry

    def _mr_approve(self, request: Request, actor: User) -> JSON:
        project, mr = self._find_mr(request)
        data = _form(request)
        if data.get("sha") and data["sha"] != mr.sha:
            raise HttpError(409, {"message": "SHA does not match HEAD of source branch: "
                                             f"{mr.sha}"})
        if any(a.user_id == actor.id for a in mr.approvals) \
                or not self._may_approve(project, mr, actor):
            raise HttpError(401, {"message": "401 Unauthorized"})
        mr.approvals.append(Approval(actor.id, mr.sha, self.clock()))
        return self._mr_approvals(request, actor)

    def _may_approve(self, project: Project, mr: MergeRequest, actor: User) -> bool:
        """The project's "prevent approval by author" and "by users who add commits" settings
        (Premium: on Free nothing prevents either)."""
        if self.tier == "free":
            return True
        if actor.id == mr.author_id and not project.merge_requests_author_approval:
            return False
        committers = {project.commits[sha].author for sha in self._mr_commits_of(project, mr)}
        return not (project.merge_requests_disable_committers_approval
                    and actor.id in committers)

    def _mr_approval_state(self, request: Request, actor: User) -> JSON:
        self._premium()
        project, mr = self._find_mr(request)
        return {
            "approval_rules_overwritten": bool(mr.rules),
            "rules": [self._rule_json(mr, r, True) for r in self._rules(project, mr)],
        }

    def _mr_approval_rules(self, request: Request, actor: User) -> Response:
        self._premium()
        project, mr = self._find_mr(request)
        return self._paginate(request, [self._rule_json(mr, r, False)
                                        for r in self._rules(project, mr)])

    def _code_owner_rules(self, project: Project, mr: MergeRequest) -> list[Rule]:
        """GitLab derives code-owner rules from CODEOWNERS on the target branch for each changed
        file (the last matching pattern wins); one rule per matched pattern."""
        target = project.branches.get(mr.target_branch, mr.base_sha)
        files = project.commits[target].files
        text = next((files[p] for p in CODEOWNERS_PATHS if p in files), None)
        if text is None:
            return []
        entries = _parse_codeowners(text.decode("utf-8", "replace"))
        rules: dict[str, Rule] = {}
        for change in self._changes(project, mr.base_sha, mr.sha):
            matched = [e for e in entries if _codeowners_match(e[0], change["new_path"])]
            if not matched:
                continue
            pattern, owners = matched[-1]
            if pattern in rules:
                continue
            user_ids = []
            for owner in owners:
                user_ids.extend(self._owner_ids(owner))
            digest = int(hashlib.sha1(f"{mr.id}:{pattern}".encode()).hexdigest()[:6], 16)
            rules[pattern] = Rule(digest, pattern, "code_owner", sorted(set(user_ids)),
                                  1 if project.code_owner_approval_required else 0, "codeowners")
        return list(rules.values())

    def _owner_ids(self, owner: str) -> list[int]:
        name = owner.lstrip("@")
        for user in self.users.values():
            if user.username.casefold() == name.casefold():
                return [user.id]
        for group in self.groups.values():
            if group.full_path.casefold() == name.casefold():
                return list(group.members)
        return []

    # -- handlers: notes --------------------------------------------------------------------------
    def _list_notes(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        order = request.arg("sort", "desc") == "desc"
        notes = sorted(mr.notes, key=lambda n: (n.created_at, n.id), reverse=order)
        return self._paginate(request, [self._note_json(mr, n) for n in notes])

    def _create_note(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        body = _form(request).get("body")
        if not body:
            raise _bad_request("body is missing")
        now = self.clock()
        note = Note(next(self._ids), str(body), actor.id, now, now)
        mr.notes.append(note)
        return Response(201, self._note_json(mr, note))

    def _note(self, request: Request) -> tuple[MergeRequest, Note]:
        _, mr = self._find_mr(request)
        note_id = _int_param(request, "note_id")
        for note in mr.notes:
            if note.id == note_id:
                return mr, note
        raise _not_found("Note")

    def _get_note(self, request: Request, actor: User) -> JSON:
        mr, note = self._note(request)
        return self._note_json(mr, note)

    def _role_on(self, project: Project, user: User) -> int:
        """The user's effective access level on the project (0: none; admins count as Owner)."""
        if user.is_admin:
            return 50
        held = self._effective(*self._source("projects", str(project.id))).get(user.id)
        return held.access_level if held is not None else 0

    def _update_note(self, request: Request, actor: User) -> JSON:
        project, _ = self._find_mr(request)
        mr, note = self._note(request)
        # GitLab lets the author edit a comment, and anyone with at least the Maintainer role
        # edit someone else's; the note does not say who edited it.
        if note.author_id != actor.id and self._role_on(project, actor) < 40:
            raise HttpError(403, {"message": "403 Forbidden"})
        body = _form(request).get("body")
        if not body:
            raise _bad_request("body is missing")
        note.body, note.updated_at = str(body), self.clock()
        return self._note_json(mr, note)

    def _discussions_json(self, mr: MergeRequest) -> list[JSON]:
        threads: dict[str, list[Note]] = {}
        for note in sorted(mr.notes, key=lambda n: (n.created_at, n.id)):
            threads.setdefault(note.discussion_id or f"note-{note.id}", []).append(note)
        return [{"id": key, "individual_note": not notes[0].resolvable,
                 "notes": [self._note_json(mr, n) for n in notes]}
                for key, notes in threads.items()]

    def _list_discussions(self, request: Request, actor: User) -> Response:
        _, mr = self._find_mr(request)
        return self._paginate(request, self._discussions_json(mr))

    def _get_discussion(self, request: Request, actor: User) -> JSON:
        _, mr = self._find_mr(request)
        key = request.params["discussion_id"]
        for thread in self._discussions_json(mr):
            if thread["id"] == key:
                return thread
        raise _not_found("Discussion")

    def _create_discussion(self, request: Request, actor: User) -> Response:
        """A new thread on the merge request: its first note can be resolved."""
        _, mr = self._find_mr(request)
        body = _form(request).get("body")
        if not body:
            raise _bad_request("body is missing")
        now = self.clock()
        note_id = next(self._ids)
        key = hashlib.sha1(f"discussion:{mr.id}:{note_id}".encode()).hexdigest()
        mr.notes.append(Note(note_id, str(body), actor.id, now, now, discussion_id=key,
                             resolvable=True))
        thread = next(d for d in self._discussions_json(mr) if d["id"] == key)
        return Response(201, thread)

    def _resolve_discussion(self, request: Request, actor: User) -> JSON:
        """Resolve or unresolve a thread (Developer and up, or the merge request's author).
        Resolving updates the thread's notes, so their `updated_at` moves."""
        project, mr = self._find_mr(request)
        key = request.params["discussion_id"]
        notes = [n for n in mr.notes if n.discussion_id == key and n.resolvable]
        if not notes:
            raise _not_found("Discussion")
        if actor.id != mr.author_id and self._role_on(project, actor) < 30:
            raise HttpError(403, {"message": "403 Forbidden"})
        raw = _form(request).get("resolved")
        if raw is None or str(raw).casefold() not in ("true", "false", "1", "0"):
            raise _bad_request("resolved is missing")
        resolved = str(raw).casefold() in ("true", "1")
        now = self.clock()
        for note in notes:
            note.resolved_by = actor.id if resolved else None
            note.resolved_at = now if resolved else None
            note.updated_at = now
        return next(d for d in self._discussions_json(mr) if d["id"] == key)

    # -- seeding helpers (tests and the demo) -----------------------------------------------------
    def add_user(self, username: str, name: str | None = None, *, bot: bool = False,
                 state: str = "active", is_admin: bool = False, token: str | None = None) -> int:
        with self.lock:
            user_id = next(self._ids)
            self.users[user_id] = User(user_id, username, name or username.title(), state, bot,
                                       f"{username}@example.com", is_admin, self.clock())
            if token:
                self.tokens[token] = user_id
            return user_id

    def rename_user(self, username: str, new_username: str) -> None:
        """The user changes their username (Edit profile > Account): the user keeps its numeric
        id, so memberships, merge requests and approvals follow it, and the old username is
        free for anyone to take."""
        with self.lock:
            user = self._find_user(username)
            taken = next((u for u in self.users.values()
                          if u.username.casefold() == new_username.casefold()), None)
            if taken is not None and taken is not user:
                raise ValueError(f"username {new_username!r} is taken")
            user.username = new_username

    def set_approval_settings(self, project: str | int, **settings: bool | int) -> None:
        """Change the project's approval settings (the names of `GET /projects/:id/approvals`),
        e.g. `reset_approvals_on_push=False`."""
        with self.lock:
            self._apply_approval_settings(self._find_project(str(project)), settings)

    def add_token(self, token: str, username: str, scopes: Iterable[str] = ("api",)) -> None:
        """Let `token` act as `username` (for calls made as a reviewer, say), with `scopes`."""
        with self.lock:
            self.tokens[token] = self._find_user(username).id
            self.token_scopes[token] = list(scopes)

    def user_id(self, username: str) -> int:
        with self.lock:
            return self._find_user(username).id

    def project_id(self, path_with_namespace: str) -> int:
        with self.lock:
            return self._find_project(path_with_namespace).id

    def add_group(self, full_path: str, name: str | None = None) -> int:
        """A group; a path with slashes is a subgroup of the existing parent group."""
        with self.lock:
            parent_id = None
            if "/" in full_path:
                parent_id = self._find_group(full_path.rsplit("/", 1)[0]).id
            group_id = next(self._ids)
            self.groups[group_id] = Group(group_id, full_path,
                                          name or full_path.rsplit("/", 1)[-1], parent_id)
            return group_id

    def add_project(self, path_with_namespace: str, files: Mapping[str, FileContent] | None = None,
                    *, default_branch: str = "main", author: str = "root") -> int:
        """A project under an existing group, with one initial commit holding `files`."""
        with self.lock:
            namespace, path = path_with_namespace.rsplit("/", 1)
            group = self._find_group(namespace)
            project_id = next(self._ids)
            project = Project(project_id, path, group.id, path, default_branch,
                              path_with_namespace=path_with_namespace)
            self.projects[project_id] = project
            tree = {path: content for path, content in
                    _encode(files or {"README.md": "# readme\n"}) if content is not None}
            self._make_commit(project, [], tree, "Initial commit", self._find_user(author).id,
                              default_branch)
            return project_id

    def add_member(self, source: str | int, username: str, access_level: int = 30,
                   expires_at: str | None = None, *, kind: str | None = None) -> None:
        """Make `username` a direct member of a group or project (named by path or id)."""
        with self.lock:
            members = self._members_of(source, kind)
            user = self._find_user(username)
            members[user.id] = Member(user.id, access_level, expires_at, self.clock(), None)

    def members(self, source: str | int, *, kind: str | None = None) -> dict[str, Member]:
        """Direct members by username, for checks from outside the API."""
        with self.lock:
            return {self.users[uid].username: m
                    for uid, m in self._members_of(source, kind).items()}

    def remove_expired_members(self, today: date | None = None,
                               skip_subresources: bool = True) -> list[str]:
        """GitLab's daily job: drop memberships whose `expires_at` is today or earlier. Current
        GitLab skips subresources; `skip_subresources=False` plays the versions whose job took
        an expired group member's direct memberships in its subgroups and projects with it
        (gitlab-org/gitlab#471051)."""
        today = today or self.clock().date()
        removed = []
        with self.lock:
            sources: list[tuple[int | None, dict[int, Member]]] = [
                (g.id, g.members) for g in self.groups.values()]
            sources += [(None, p.members) for p in self.projects.values()]
            for group_id, members in sources:
                for user_id, member in list(members.items()):
                    if member.expires_at and date.fromisoformat(member.expires_at) <= today:
                        del members[user_id]
                        removed.append(self.users[user_id].username)
                        if group_id is not None and not skip_subresources:
                            self._remove_below(group_id, user_id)
        return removed

    def commit(self, project: str | int, branch: str, files: Mapping[str, FileContent],
               message: str = "Update files", author: str = "root",
               start_branch: str | None = None) -> str:
        """Commit `files` on top of `branch` (created from `start_branch` or the default branch
        when missing); a value of None deletes that path. Returns the new SHA."""
        with self.lock:
            proj = self._find_project(str(project))
            if branch not in proj.branches:
                start = proj.branches[start_branch or proj.default_branch]
                proj.branches[branch] = start
            parent = proj.commits[proj.branches[branch]]
            tree = dict(parent.files)
            for path, content in _encode(files):
                if content is None:
                    tree.pop(path, None)
                else:
                    tree[path] = content
            return self._make_commit(proj, [parent.sha], tree, message,
                                     self._find_user(author).id, branch)

    def open_merge_request(self, project: str | int, source_branch: str, author: str,
                           files: Mapping[str, FileContent] | None = None, *,
                           target_branch: str | None = None, title: str | None = None,
                           description: str = "") -> int:
        """Open a merge request, first committing `files` to a new `source_branch` if given."""
        with self.lock:
            proj = self._find_project(str(project))
            target = target_branch or proj.default_branch
            if files is not None:
                self.commit(proj.id, source_branch, files, title or "Add files", author,
                            start_branch=target)
            head = proj.branches[source_branch]
            base = self._merge_base(proj, head, proj.branches[target])
            now = self.clock()
            iid = max(proj.merge_requests, default=0) + 1
            mr = MergeRequest(next(self._ids), iid, proj.id, title or f"Merge {source_branch}",
                              description, self._find_user(author).id, source_branch, target,
                              head, base, proj.branches[target], now, now)
            self._new_version(mr, now)
            proj.merge_requests[iid] = mr
            return iid

    def create_branch(self, project: str | int, name: str, ref: str) -> None:
        """A new branch at `ref` (a branch name or a commit SHA), as `git branch NAME REF`."""
        with self.lock:
            proj = self._find_project(str(project))
            if name in proj.branches:
                raise ValueError(f"branch {name} exists")
            proj.branches[name] = self._resolve(proj, ref).sha

    def approve(self, project: str | int, iid: int, username: str) -> None:
        """Record an approval by `username` on the merge request's current head."""
        with self.lock:
            mr = self._mr(project, iid)
            user = self._find_user(username)
            if all(a.user_id != user.id for a in mr.approvals):
                mr.approvals.append(Approval(user.id, mr.sha, self.clock()))

    def unapprove(self, project: str | int, iid: int, username: str) -> None:
        with self.lock:
            mr = self._mr(project, iid)
            user = self._find_user(username)
            mr.approvals = [a for a in mr.approvals if a.user_id != user.id]

    def add_approval_rule(self, project: str | int, iid: int, name: str, usernames: Iterable[str],
                          approvals_required: int = 1, rule_type: str = "regular") -> int:
        with self.lock:
            mr = self._mr(project, iid)
            rule = Rule(next(self._ids), name, rule_type,
                        [self._find_user(u).id for u in usernames], approvals_required)
            mr.rules.append(rule)
            return rule.id

    def push_to_mr(self, project: str | int, iid: int, files: Mapping[str, FileContent],
                   message: str = "Update", author: str | None = None) -> str:
        """Push a commit to the merge request's source branch. As GitLab does with "reset
        approvals on push", this removes every approval given so far."""
        with self.lock:
            proj = self._find_project(str(project))
            mr = self._mr(project, iid)
            if mr.state != "opened":
                raise ValueError(f"merge request !{iid} is {mr.state}")
            who = author or self.users[mr.author_id].username
            sha = self.commit(proj.id, mr.source_branch, files, message, who)
            self._source_moved(proj, mr)
            return sha

    def push_direct(self, project: str | int, files: Mapping[str, FileContent],
                    message: str = "Direct push", author: str = "root",
                    branch: str | None = None) -> str:
        """A commit straight onto a branch (the default one unless named): no merge request."""
        with self.lock:
            proj = self._find_project(str(project))
            return self.commit(proj.id, branch or proj.default_branch, files, message, author)

    def merge(self, project: str | int, iid: int, method: str = "merge",
              merged_by: str = "root", at: datetime | None = None) -> str:
        """Merge like GitLab: `merge` (a merge commit), `squash` (a squash commit, then a merge
        commit, as with squashing under the default merge method) or `fast-forward` (the target
        branch moves to the source head; refused if the source is not ahead of the target).
        Returns the commit the target branch now points at."""
        with self.lock:
            proj = self._find_project(str(project))
            mr = self._mr(project, iid)
            if mr.state != "opened":
                raise ValueError(f"merge request !{iid} is {mr.state}")
            target_head = proj.branches[mr.target_branch]
            user = self._find_user(merged_by).id
            mr.frozen_commits = self._mr_commits_of(proj, mr)
            if method == "fast-forward":
                if target_head not in self._ancestors(proj, mr.sha):
                    raise ValueError("fast-forward merge is not possible: rebase first")
                proj.branches[mr.target_branch] = mr.sha
                new_head = mr.sha
            elif method in ("merge", "squash"):
                tree = self._three_way(proj, mr.base_sha, target_head, mr.sha)
                head = mr.sha
                if method == "squash":
                    message = f"{mr.title}\n\n{mr.description}".strip()
                    head = self._make_commit(proj, [target_head], tree, message, mr.author_id,
                                             None)
                    mr.squash_commit_sha, mr.squash = head, True
                message = (f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n"
                           f"{mr.title}\n\nSee merge request "
                           f"{proj.path_with_namespace}!{mr.iid}")
                new_head = self._make_commit(proj, [target_head, head], tree, message, user,
                                             mr.target_branch)
                mr.merge_commit_sha = new_head
            else:
                raise ValueError(f"unknown merge method {method!r}")
            mr.state = "merged"
            mr.merged_at = at or self.clock()
            mr.merged_by = user
            mr.updated_at = mr.merged_at
            self._retarget_others(proj, mr)
            return new_head

    def close(self, project: str | int, iid: int) -> None:
        with self.lock:
            mr = self._mr(project, iid)
            mr.state, mr.closed_at = "closed", self.clock()

    def mr(self, project: str | int, iid: int) -> MergeRequest:
        with self.lock:
            return self._mr(project, iid)

    # -- internals for the helpers ----------------------------------------------------------------
    def _mr(self, project: str | int, iid: int) -> MergeRequest:
        mr = self._find_project(str(project)).merge_requests.get(iid)
        if mr is None:
            raise KeyError(f"no merge request !{iid}")
        return mr

    def _members_of(self, source: str | int, kind: str | None) -> dict[int, Member]:
        if kind in (None, "projects", "project"):
            try:
                return self._find_project(str(source)).members
            except HttpError:
                if kind is not None:
                    raise
        return self._find_group(str(source)).members

    def _make_commit(self, project: Project, parents: list[str], files: dict[str, bytes],
                     message: str, author: int, branch: str | None) -> str:
        seed = f"{project.id}:{next(self._sha_seq)}:{parents}:{message}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        project.commits[sha] = Commit(sha, parents, files, message, author, self.clock())
        if branch is not None:
            project.branches[branch] = sha
        return sha

    def _new_version(self, mr: MergeRequest, at: datetime) -> None:
        mr.versions.append(DiffVersion(next(self._ids), mr.sha, mr.base_sha, mr.start_sha, at))

    def _source_moved(self, project: Project, mr: MergeRequest) -> None:
        mr.sha = project.branches[mr.source_branch]
        mr.start_sha = project.branches[mr.target_branch]
        mr.base_sha = self._merge_base(project, mr.sha, mr.start_sha)
        mr.updated_at = self.clock()
        self._new_version(mr, mr.updated_at)
        if project.reset_approvals_on_push and self.tier != "free":
            mr.approvals.clear()

    def _retarget_others(self, project: Project, merged: MergeRequest) -> None:
        # Other open merge requests from the merged branch follow its new head, as GitLab's
        # refresh service does when a branch moves.
        for mr in project.merge_requests.values():
            if mr is not merged and mr.state == "opened" \
                    and mr.source_branch == merged.target_branch:
                self._source_moved(project, mr)

    def _three_way(self, project: Project, base: str, ours: str, theirs: str) -> dict[str, bytes]:
        """File-level three-way merge; a path changed differently on both sides is a conflict."""
        base_files = project.commits[base].files
        our_files = project.commits[ours].files
        their_files = project.commits[theirs].files
        result = dict(our_files)
        for path in set(base_files) | set(their_files):
            old, new = base_files.get(path), their_files.get(path)
            if old == new:
                continue
            if our_files.get(path) not in (old, new):
                raise ValueError(f"merge conflict in {path}")
            if new is None:
                result.pop(path, None)
            else:
                result[path] = new
        return result


# -- helpers --------------------------------------------------------------------------------------
def _encode(files: Mapping[str, FileContent]) -> list[tuple[str, bytes | None]]:
    return [(path, content.encode() if isinstance(content, str) else content)
            for path, content in files.items()]


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad_request(f"{name} is invalid") from None


def _flag(request: Request, name: str) -> bool:
    """A boolean query parameter as Grape coerces it (python-gitlab sends `True`)."""
    return (request.arg(name) or "").casefold() in ("true", "1", "yes", "t", "on")


def _int_param(request: Request, name: str) -> int:
    raw = request.params[name]
    if not raw.isdigit():
        raise _not_found()
    return int(raw)


def _form(request: Request) -> dict[str, Any]:
    """The request's parameters: JSON body (python-gitlab) or form fields, plus the query."""
    data: dict[str, Any] = {k: v[0] for k, v in request.query.items()}
    content_type = request.headers.get("content-type", "")
    if request.body and "json" in content_type:
        body = request.json()
        if not isinstance(body, dict):
            raise _bad_request("body is invalid")
        data.update(body)
    elif request.body:
        from urllib.parse import parse_qs

        data.update({k: v[0] for k, v in parse_qs(request.body.decode()).items()})
    return data


def _access_level(raw: Any, required: bool) -> int | None:
    if raw is None or raw == "":
        if required:
            raise _bad_request("access_level is missing")
        return None
    try:
        level = int(raw)
    except (TypeError, ValueError):
        raise _bad_request("access_level does not have a valid value") from None
    if level not in ACCESS_LEVELS:
        raise _bad_request("access_level does not have a valid value")
    return level


def _expiry(raw: Any, now: datetime) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(str(raw))
    except ValueError:
        raise _bad_request("expires_at is invalid") from None
    if day < now.astimezone(UTC).date():
        raise HttpError(400, {"message": {"expires_at": ["cannot be a date in the past"]}})
    return day.isoformat()


def _parse_codeowners(text: str) -> list[tuple[str, list[str]]]:
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"^\^?\[.*\]", line):
            continue
        parts = line.split()
        entries.append((parts[0], [p for p in parts[1:] if p.startswith("@")]))
    return entries


def _codeowners_match(pattern: str, path: str) -> bool:
    """gitignore-like matching as GitLab applies it to CODEOWNERS: a leading `/` anchors at the
    root, a trailing `/` means everything below, `*` stays within a segment, `**` crosses them."""
    anchored = pattern.startswith("/")
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    regex = regex.replace(r"\?", "[^/]")
    prefix = "" if anchored else "(?:.*/)?"
    return re.fullmatch(prefix + regex, path) is not None
