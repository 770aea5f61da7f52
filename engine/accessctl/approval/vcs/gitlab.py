"""GitLab through python-gitlab (imported only when the VCS is GitLab).

GitLab's approvals do not say which commit they were given on. They count for the final commit
only when the project resets approvals on push (then any approval still present at merge was
given after the last push); otherwise none count and the verdict says what to change.

Teams are groups: `@acme/security` is the group `acme/security`, and its members are its direct
members, as GitLab's Code Owners take them. A subgroup's inherited members (everyone in `acme`)
are not the team: counting them would let any member of the parent group approve.

The basic user records in merge requests and approvals carry no `bot` flag, so whether an author
or approver is a bot is read from the user itself (`GET /users/:id`), once per user.

GitLab takes no approval on a merged merge request, so the code owners ratify a break-glass grant
there with a note on it whose first line is `accessctl: ratified` (`ratifications`, read only
for requests of break-glass entitlements). Such a note counts as an approval of the final commit
only when it was written (or last edited) after the merge; before the merge only real approvals
count. Its author is judged like any approver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from accessctl.approval.codeowners import LOCATIONS
from accessctl.approval.vcs.base import RATIFY, PullRequest, Review, ReviewState
from accessctl.core.errors import ConfigError


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
        from gitlab.exceptions import GitlabGetError

        self._client = gitlab.Gitlab(url, private_token=token, retry_transient_errors=False)
        try:
            self._project = self._client.projects.get(project)
        except GitlabGetError as error:
            if error.response_code != 404:
                raise
            # GitLab answers 404 also for a project the token may not read.
            raise ConfigError(f"project {project} not found at {url} (or the token cannot "
                              "read it): check CI_PROJECT_ID") from None
        self.default_branch = default_branch or self._project.default_branch
        self._resets: bool | None = None
        self._bots: dict[int, bool] = {}

    def codeowners_paths(self) -> tuple[str, ...]:
        return LOCATIONS["gitlab"]

    def last_commit_touching(self, path: str, ref: str) -> str | None:
        # python-gitlab takes a `path` keyword as the URL to list, so the file path goes in
        # query_parameters; given those, it ignores every other keyword but the page ones, so
        # all of the query goes there. First parent: a merge commit is found, not the commits
        # it brought in from the merged branch.
        commits = self._project.commits.list(
            query_parameters={"ref_name": ref, "path": path, "first_parent": "true"},
            per_page=1, get_all=False)
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
        from gitlab.exceptions import GitlabGetError

        try:
            mr = self._project.mergerequests.get(number)
        except GitlabGetError as error:
            if error.response_code != 404:
                raise
            # Exit 2: the event names a merge request this project does not have.
            raise ConfigError(f"merge request !{number} not found in "
                              f"{self._project.path_with_namespace}") from None
        # The paginated diffs list every file; the older /changes truncates large merge
        # requests, which could hide a policy file among many others.
        diffs: Any = self._client.http_list(
            f"/projects/{self._project.encoded_id}/merge_requests/{mr.iid}/diffs",
            get_all=True, per_page=100)
        files = {d["new_path"] for d in diffs} | {d["old_path"] for d in diffs}
        return PullRequest(
            number=mr.iid,
            url=mr.web_url,
            author=mr.author["username"],
            author_is_bot=self._is_bot(mr.author),
            head_sha=mr.sha,
            base_ref=mr.target_branch,
            base_sha=mr.diff_refs["base_sha"],
            merged=mr.state == "merged",
            merged_at=_time(mr.merged_at),
            merge_commit_sha=mr.merge_commit_sha or mr.squash_commit_sha,
            changed_files=tuple(sorted(files)),
            added_files=tuple(sorted(d["new_path"] for d in diffs if d.get("new_file"))),
        )

    def _approvals_reset_on_push(self) -> bool:
        """Whether approvals still present were given on the final commit.

        Unreadable settings (GitLab Free has no approval settings API: 404; a token that may not
        read them: 403) mean approvals cannot be tied to a commit, so none count. Other errors
        propagate, so that a passing outage is retried, not taken as "off"."""
        from gitlab.exceptions import GitlabGetError

        if self._resets is None:
            try:
                self._resets = self._project.approvals.get().reset_approvals_on_push is True
            except GitlabGetError as error:
                if error.response_code not in (403, 404):
                    raise
                self._resets = False
        return self._resets

    def _is_bot(self, user: Mapping[str, Any]) -> bool:
        """Bot users (project, group and service-account tokens) from the full user record."""
        user_id = int(user["id"])
        if user_id not in self._bots:
            from gitlab.exceptions import GitlabGetError

            try:
                self._bots[user_id] = self._client.users.get(user_id).attributes.get("bot") is True
            except GitlabGetError as error:
                if error.response_code != 404:
                    raise
                self._bots[user_id] = False
        return self._bots[user_id]

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
        me = self.current_login().casefold()
        for note in mr.notes.list(get_all=True, per_page=100):
            # Only our own note is ours to edit: anyone can paste the marker into theirs.
            if note.system or note.author["username"].casefold() != me:
                continue
            if marker in (note.body or ""):
                if note.body != body:
                    note.body = body
                    note.save()
                return
        mr.notes.create({"body": body})

    def approve(self, pull: PullRequest, body: str, marker: str) -> None:
        mr = self._project.mergerequests.get(pull.number, lazy=True)
        me = self.current_login().casefold()
        if any(entry["user"]["username"].casefold() == me
               for entry in mr.approvals.get().approved_by):
            return  # GitLab answers a second approval with an error
        # `sha` makes GitLab refuse the approval when the head moved since it was judged.
        # (GitLab approvals carry no text: the validate comment names the rule.)
        mr.approve(sha=pull.head_sha)

    def ask_for_review(self, pull: PullRequest, users: Sequence[str], teams: Sequence[str],
                       body: str, marker: str) -> bool:
        # GitLab takes no approvals and no reviewers on a merged merge request: the comment's
        # mentions are the request.
        self.upsert_comment(pull.number, marker, body)
        return False

    def reviews(self, pull: PullRequest) -> list[Review]:
        approvals = self._project.mergerequests.get(pull.number, lazy=True).approvals.get()
        resets = self._approvals_reset_on_push()
        commit = pull.head_sha if resets else None
        note = None if resets else (
            "this project keeps approvals across pushes, so an approval may be of an earlier "
            "commit: enable 'Remove all approvals when commits are added to the source branch' "
            "(reset_approvals_on_push)")
        return [
            Review(login=entry["user"]["username"], state=ReviewState.APPROVED, commit_id=commit,
                   submitted_at=None, is_bot=self._is_bot(entry["user"]), note=note)
            for entry in approvals.approved_by
        ]

    def ratifications(self, pull: PullRequest) -> list[Review]:
        """`accessctl: ratified` notes written after the merge, as approvals of the final
        commit at the time each was written or last edited (whichever is later)."""
        if not pull.merged or pull.merged_at is None:
            return []
        mr = self._project.mergerequests.get(pull.number, lazy=True)
        found = []
        for item in mr.notes.list(get_all=True, per_page=100, sort="asc"):
            if item.attributes.get("system"):
                continue
            first = str(item.body or "").strip().splitlines()[:1]
            if not first or first[0].strip().casefold() != RATIFY:
                continue
            times = [t for t in (_time(item.attributes.get("created_at")),
                                 _time(item.attributes.get("updated_at"))) if t is not None]
            written = max(times) if times else None
            if written is None or written <= pull.merged_at:
                continue
            found.append(Review(login=item.author["username"], state=ReviewState.APPROVED,
                                commit_id=pull.head_sha, submitted_at=written,
                                is_bot=self._is_bot(item.author)))
        return found

    def team_members(self, team: str) -> frozenset[str] | None:
        from gitlab.exceptions import GitlabGetError

        try:
            group = self._client.groups.get(team.lstrip("@"))
        except GitlabGetError as error:
            if error.response_code == 404:
                return None
            raise
        # Direct members only (see the module docstring); invitations not yet accepted and
        # access requests are not members.
        return frozenset(
            m.username.casefold() for m in group.members.list(get_all=True, per_page=100)
            if m.attributes.get("membership_state", "active") == "active")

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
