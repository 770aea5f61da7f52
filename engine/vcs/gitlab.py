"""GitLab through python-gitlab (imported only when the VCS is GitLab).

GitLab's approvals do not say which commit they were given on. They count for the final commit
only when the project resets approvals on push (then any approval still present at merge was
given after the last push); otherwise none count and the verdict says what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.errors import ConfigError
from engine.vcs.base import PullRequest, Review, ReviewState


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


class TreeFiles:
    """A commit's files through the repository tree and files API (each path asked once)."""

    def __init__(self, project: Any, sha: str) -> None:
        self.project = project
        self.sha = sha
        self._files: dict[str, bytes | None] = {}

    def list(self, directory: str) -> list[str]:
        from gitlab.exceptions import GitlabGetError, GitlabListError

        try:
            items = self.project.repository_tree(path=directory, ref=self.sha, recursive=True,
                                                 get_all=True)
        except (GitlabGetError, GitlabListError) as error:
            if error.response_code == 404:
                return []
            raise
        return sorted(i["path"] for i in items if i["type"] == "blob")

    def read(self, path: str) -> bytes | None:
        from gitlab.exceptions import GitlabGetError

        if path not in self._files:
            try:
                self._files[path] = bytes(self.project.files.raw(file_path=path, ref=self.sha))
            except GitlabGetError as error:
                if error.response_code != 404:
                    raise
                self._files[path] = None
        return self._files[path]


class GitLabVcs:
    kind = "gitlab"

    def __init__(self, project: str, token: str, url: str = "https://gitlab.com",
                 default_branch: str | None = None) -> None:
        import gitlab

        self._client = gitlab.Gitlab(url, private_token=token, retry_transient_errors=False)
        self._project = self._client.projects.get(project)
        self.default_branch = default_branch or self._project.default_branch
        self._resets: bool | None = None

    def codeowners_path(self) -> str:
        return ".gitlab/CODEOWNERS"

    def last_commit_touching(self, path: str, ref: str) -> str | None:
        commits = self._project.commits.list(ref_name=ref, path=path, per_page=1, get_all=False)
        return str(commits[0].id) if commits else None

    def merged_pull_request_for(self, commit_sha: str, path: str) -> PullRequest | None:
        commit = self._project.commits.get(commit_sha, lazy=True)
        merged = [mr for mr in commit.merge_requests(get_all=True)
                  if mr.get("state") == "merged" and mr.get("target_branch") == self.default_branch]
        if not merged:
            return None
        data = max(merged, key=lambda mr: mr.get("merged_at") or "")
        return self.pull_request(data["iid"])

    def pull_request(self, number: int) -> PullRequest:
        mr = self._project.mergerequests.get(number)
        changes: Any = mr.changes(access_raw_diffs=False)
        files = {c["new_path"] for c in changes["changes"]} | {
            c["old_path"] for c in changes["changes"]}
        return PullRequest(
            number=mr.iid,
            url=mr.web_url,
            author=mr.author["username"],
            author_is_bot=bool(mr.author.get("bot")),
            head_sha=mr.sha,
            base_ref=mr.target_branch,
            base_sha=mr.diff_refs["base_sha"],
            merged=mr.state == "merged",
            merged_at=_time(mr.merged_at),
            merge_commit_sha=mr.merge_commit_sha or mr.squash_commit_sha,
            changed_files=tuple(sorted(files)),
        )

    def _approvals_reset_on_push(self) -> bool:
        from gitlab.exceptions import GitlabGetError

        if self._resets is None:
            try:
                self._resets = bool(self._project.approvals.get().reset_approvals_on_push)
            except GitlabGetError:
                self._resets = False
        return self._resets

    def current_login(self) -> str:
        self._client.auth()
        user = self._client.user
        assert user is not None
        return str(user.username)

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> str:
        mr = self._project.mergerequests.create({"source_branch": head, "target_branch": base,
                                                 "title": title, "description": body})
        return str(mr.web_url)

    def upsert_comment(self, number: int, marker: str, body: str) -> None:
        mr = self._project.mergerequests.get(number, lazy=True)
        for note in mr.notes.list(get_all=True):
            if marker in (note.body or ""):
                if note.body != body:
                    note.body = body
                    note.save()
                return
        mr.notes.create({"body": body})

    def reviews(self, pull: PullRequest) -> list[Review]:
        approvals = self._project.mergerequests.get(pull.number, lazy=True).approvals.get()
        commit = pull.head_sha if self._approvals_reset_on_push() else None
        return [
            Review(login=entry["user"]["username"], state=ReviewState.APPROVED, commit_id=commit,
                   submitted_at=None, is_bot=bool(entry["user"].get("bot")))
            for entry in approvals.approved_by
        ]

    def team_members(self, team: str) -> frozenset[str] | None:
        from gitlab.exceptions import GitlabGetError

        try:
            group = self._client.groups.get(team.lstrip("@"))
        except GitlabGetError as error:
            if error.response_code == 404:
                return None
            raise
        return frozenset(m.username.casefold() for m in group.members_all.list(get_all=True))

    def files_at(self, sha: str) -> TreeFiles:
        return TreeFiles(self._project, sha)


def from_environment(environ: Mapping[str, str]) -> GitLabVcs:
    """GitLab CI sets the project and API URL; the token is a project access token."""
    project = environ.get("CI_PROJECT_ID") or environ.get("CI_PROJECT_PATH")
    token = environ.get("ACCESSCTL_VCS_TOKEN") or environ.get("GITLAB_TOKEN")
    if not project or not token:
        raise ConfigError("GitLab needs CI_PROJECT_ID and ACCESSCTL_VCS_TOKEN (a project "
                          "access token with read_api) in the environment to verify approvals")
    url = environ.get("CI_SERVER_URL", "https://gitlab.com")
    return GitLabVcs(project, token, url, environ.get("ACCESSCTL_DEFAULT_BRANCH"))
