"""Merge requests: listing, changes and diffs, commits, diff versions (one per push), the merge
requests behind a commit, and merging (merge commit, squash, fast-forward)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from accessctl.emulators import git_store
from accessctl.emulators.git_store import FileContent
from accessctl.emulators.gitlab.repository import Repository
from accessctl.emulators.gitlab.server import Routes
from accessctl.emulators.gitlab.state import DiffVersion, MergeRequest, Project, User
from accessctl.emulators.gitlab.wire import int_param, not_found, stamp
from accessctl.emulators.http import JSON, Request, Response


class MergeRequests(Repository):
    def _merge_request_routes(self) -> Routes:
        mr = "/projects/{id}/merge_requests/{iid}"
        return [
            ("GET", "/projects/{id}/repository/commits/{sha}/merge_requests",
             self._commit_merge_requests),
            ("GET", "/projects/{id}/merge_requests", self._list_mrs),
            ("GET", mr, self._get_mr),
            ("GET", mr + "/changes", self._mr_changes),
            ("GET", mr + "/diffs", self._mr_diffs),
            ("GET", mr + "/commits", self._mr_commits),
            ("GET", mr + "/versions", self._mr_versions),
            ("GET", mr + "/versions/{version_id}", self._mr_version),
        ]

    # -- JSON shapes and look-ups -----------------------------------------------------------------
    def _mr_json(self, project: Project, mr: MergeRequest, full: bool = False) -> JSON:
        reference = f"!{mr.iid}"
        body: dict[str, Any] = {
            **self._mr_head(mr),
            "merged_by": self._user_basic(mr.merged_by) if mr.merged_by else None,
            "merge_user": self._user_basic(mr.merged_by) if mr.merged_by else None,
            "merged_at": stamp(mr.merged_at) if mr.merged_at else None,
            "closed_by": None,
            "closed_at": stamp(mr.closed_at) if mr.closed_at else None,
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

    def _mr_head(self, mr: MergeRequest) -> dict[str, Any]:
        """The fields every merge request entity starts with (the approvals one too)."""
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project_id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": stamp(mr.created_at),
            "updated_at": stamp(mr.updated_at),
        }

    def _version_json(self, mr: MergeRequest, version: DiffVersion) -> JSON:
        return {
            "id": version.id,
            "head_commit_sha": version.head_commit_sha,
            "base_commit_sha": version.base_commit_sha,
            "start_commit_sha": version.start_commit_sha,
            "created_at": stamp(version.created_at),
            "merge_request_id": mr.id,
            "state": "collected",
            "real_size": str(len(self._changes(self.projects[mr.project_id],
                                               version.base_commit_sha,
                                               version.head_commit_sha))),
        }

    def _find_mr(self, request: Request) -> tuple[Project, MergeRequest]:
        project = self._find_project(request.params["id"])
        mr = project.merge_requests.get(int_param(request, "iid"))
        if mr is None:
            raise not_found("Merge Request")
        return project, mr

    def _mr(self, project: str | int, iid: int) -> MergeRequest:
        mr = self._find_project(str(project)).merge_requests.get(iid)
        if mr is None:
            raise KeyError(f"no merge request !{iid}")
        return mr

    def _mr_commits_of(self, project: Project, mr: MergeRequest) -> list[str]:
        if mr.frozen_commits is not None:
            return list(mr.frozen_commits)
        return git_store.only_in(project.commits, mr.sha,
                                 project.branches.get(mr.target_branch))

    # -- handlers ----------------------------------------------------------------------------------
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
        version_id = int_param(request, "version_id")
        for version in mr.versions:
            if version.id == version_id:
                body = self._version_json(mr, version)
                body["diffs"] = self._changes(project, version.base_commit_sha,
                                              version.head_commit_sha)
                return body
        raise not_found()

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
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
            base = git_store.merge_base(proj.commits, head, proj.branches[target])
            now = self.clock()
            iid = max(proj.merge_requests, default=0) + 1
            mr = MergeRequest(next(self._ids), iid, proj.id, title or f"Merge {source_branch}",
                              description, self._find_user(author).id, source_branch, target,
                              head, base, proj.branches[target], now, now)
            self._new_version(mr, now)
            proj.merge_requests[iid] = mr
            return iid

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
                if not git_store.is_ancestor(proj.commits, target_head, mr.sha):
                    raise ValueError("fast-forward merge is not possible: rebase first")
                proj.branches[mr.target_branch] = mr.sha
                new_head = mr.sha
            elif method in ("merge", "squash"):
                # A file both sides changed is a conflict here, even where git would merge
                # its lines.
                tree = git_store.apply(proj.commits[target_head].files,
                                       proj.commits[mr.base_sha].files,
                                       proj.commits[mr.sha].files, mr.sha, by_lines=False)
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

    def _new_version(self, mr: MergeRequest, at: datetime) -> None:
        mr.versions.append(DiffVersion(next(self._ids), mr.sha, mr.base_sha, mr.start_sha, at))

    def _source_moved(self, project: Project, mr: MergeRequest) -> None:
        mr.sha = project.branches[mr.source_branch]
        mr.start_sha = project.branches[mr.target_branch]
        mr.base_sha = git_store.merge_base(project.commits, mr.sha, mr.start_sha)
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
