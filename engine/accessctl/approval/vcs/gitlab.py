"""GitLab through python-gitlab (imported only when the VCS is GitLab).

A merged merge request is judged by the default branch as the merge found it: the first parent
of the merge commit (or of the squash commit, or of the first commit a fast-forward put on the
branch), not `diff_refs.base_sha`, which is only where the requester's branch left the default
branch and may be as old as the requester likes (see `_judged_base`).

GitLab's approvals do not say which commit they were given on, but they say when
(`approved_by[].approved_at`), and each push makes a new diff version with its head commit and
time (`GET .../versions`). An approval counts for the final commit only when the version current
when it was given (the latest made before it) has the final commit as its head: given after the
last push, or tied to the final head by a version of it. The project's "reset approvals on push"
setting is not read: it may have been switched on after an approval of an earlier commit was
kept. A GitLab too old to date its approvals gets none counted, and the verdict says why.

Teams are groups: `@acme/security` is the group `acme/security`, and its members are its direct
members, as GitLab's Code Owners take them. A subgroup's inherited members (everyone in `acme`)
are not the team: counting them would let any member of the parent group approve.

The basic user records in merge requests and approvals carry no `bot` flag, so whether an author
or approver is a bot is read from the user itself (`GET /users/:id`), once per user.

A role owner in CODEOWNERS (`@@maintainer`) is a team too: the project's direct members with
exactly that role, as GitLab's Code Owners take them.

GitLab takes no approval on a merged merge request, so the code owners ratify a break-glass grant
there with a note on it whose first line is `accessctl: ratified` (`ratifications`, read only
for requests of break-glass entitlements). Such a note counts as an approval of the final commit
only when it was written after the merge and never changed since: a Maintainer may edit anyone's
note, the notes API does not say who edited one, and resolving a thread updates its notes, so
an edited note could put words in a code owner's mouth, or date an old note after the merge. Its
time is its creation; its author is judged like any approver.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from accessctl.approval.codeowners import LOCATIONS, ROLE_PREFIX
from accessctl.approval.vcs import local_git
from accessctl.approval.vcs.base import RATIFY, PullRequest, Review, ReviewState
from accessctl.approval.vcs.transport import Budget, BudgetSettings, mount, settings_from
from accessctl.core.errors import ConfigError

ROLES = {"@@developer": 30, "@@maintainer": 40, "@@owner": 50}
"""CODEOWNERS roles and the access level a direct project member holds them with."""

UNEDITED = timedelta(seconds=1)
"""A note whose `updated_at` is this close to its `created_at` was not edited (GitLab may touch
a note just after writing it)."""


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


Version = tuple[datetime, str]
"""A merge request's diff version: when it was made, and its head commit."""


def head_when(versions: Sequence[Version], moment: datetime) -> str | None:
    """The merge request's head at `moment`: that of the latest version made before it (None:
    before the first). `versions` in the order GitLab made them."""
    head = None
    for made, commit in versions:
        if made < moment:
            head = commit
    return head


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
                 default_branch: str | None = None, checkout: Path | None = None,
                 budget: Budget | None = None) -> None:
        import gitlab
        from gitlab.exceptions import GitlabGetError

        # python-gitlab's own retries are off: the budget adapter under it retries, waits out
        # limits and keeps the reserve (transport.py).
        self._client = gitlab.Gitlab(url, private_token=token, retry_transient_errors=False)
        self.budget = budget or Budget(BudgetSettings("GitLab", url, "GITLAB_TOKEN"))
        mount(self._client.session, self.budget)
        try:
            self._project = self._client.projects.get(project)
        except GitlabGetError as error:
            if error.response_code != 404:
                raise
            # GitLab answers 404 also for a project the token may not read.
            raise ConfigError(f"project {project} not found at {url} (or the token cannot "
                              "read it): check CI_PROJECT_ID") from None
        self.default_branch = default_branch or self._project.default_branch
        self._bots: dict[int, bool] = {}
        self._checkout = checkout
        """The local clone (CI's checkout), read first for commits' parents."""
        self._parents: dict[str, tuple[str, ...]] = {}

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

    def recently_merged(self) -> Iterator[PullRequest]:
        return iter(())  # not read on GitLab yet: each commit's merge requests are asked

    def pulls_for_commit(self, commit_sha: str) -> list[PullRequest]:
        commit = self._project.commits.get(commit_sha, lazy=True)
        return [self.pull_request(mr["iid"]) for mr in commit.merge_requests(get_all=True)]

    def with_files(self, pull: PullRequest) -> PullRequest:
        return pull  # pull_request reads the diffs already

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
        merged = mr.state == "merged"
        return PullRequest(
            number=mr.iid,
            url=mr.web_url,
            author=mr.author["username"],
            author_is_bot=self._is_bot(mr.author),
            head_sha=mr.sha,
            base_ref=mr.target_branch,
            base_sha=self._judged_base(mr) if merged else mr.diff_refs["base_sha"],
            merged=merged,
            merged_at=_time(mr.merged_at),
            merge_commit_sha=mr.merge_commit_sha or mr.squash_commit_sha,
            changed_files=tuple(sorted(files)),
            added_files=tuple(sorted(d["new_path"] for d in diffs if d.get("new_file"))),
        )

    def _judged_base(self, mr: Any) -> str:
        """The default branch as the merge found it, the commit a merged request is judged by
        (invariant 5): the first parent of the merge commit; with a squash and no merge commit,
        the squash commit's parent; after a fast-forward (or a rebase and fast-forward), the
        parent of the first of the merge request's own commits, which the branch took as they
        are. Never `diff_refs.base_sha`: that is the merge base of the requester's branch, as
        old as the requester chose to cut it, with that old commit's policies, CODEOWNERS and
        teams. Parents are read from the local clone when it has the commit, else through the
        API (the commit's `parent_ids`)."""
        if mr.merge_commit_sha:
            parents = self._commit_parents(mr.merge_commit_sha)
            if len(parents) >= 2:
                return parents[0]
        if mr.squash_commit_sha:
            parents = self._commit_parents(mr.squash_commit_sha)
            if parents:
                return parents[0]
        own = {str(c.id) for c in mr.commits(per_page=100)}
        sha = str(mr.sha)
        for _ in range(len(own) + 1):
            if sha not in own:
                return sha
            parents = self._commit_parents(sha)
            if not parents:
                break
            sha = parents[0]
        raise ConfigError(f"merge request !{mr.iid}: the commit its merge was made on cannot be "
                          "found (its commits lead to no commit of the default branch)")

    def _commit_parents(self, sha: str) -> tuple[str, ...]:
        if sha not in self._parents:
            local = local_git.parents(self._checkout, sha) if self._checkout else None
            self._parents[sha] = local if local is not None else tuple(
                str(p) for p in self._project.commits.get(sha).parent_ids)
        return self._parents[sha]

    def _versions(self, mr: Any) -> list[Version]:
        """The merge request's diff versions (one per push), oldest first."""
        listed = mr.diffs.list(get_all=True, per_page=100)
        dated = sorted((int(v.id), _time(v.created_at), str(v.head_commit_sha)) for v in listed)
        return [(made, head) for _, made, head in dated if made is not None]

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
        """Each approval, as one of the final commit only when it was given after the last push
        (see the module docstring)."""
        mr = self._project.mergerequests.get(pull.number, lazy=True)
        approvals = mr.approvals.get().approved_by
        versions = self._versions(mr) if approvals else []
        found = []
        for entry in approvals:
            given = _time(entry.get("approved_at"))
            commit, note = None, None
            head = head_when(versions, given) if given is not None else None
            if given is None:
                note = ("GitLab did not say when this approval was given (approved_at), so it "
                        "cannot be tied to the final commit: upgrade GitLab")
            elif head != pull.head_sha:
                last = f" at {_iso(versions[-1][0])}" if versions else ""
                was = f" of {head[:12]}" if head else ""
                note = (f"approved at {_iso(given)}, before the last push{last}: an approval"
                        f"{was}, an earlier commit than the final {pull.head_sha[:12]}")
            else:
                commit = pull.head_sha
            found.append(Review(login=entry["user"]["username"], state=ReviewState.APPROVED,
                                commit_id=commit, submitted_at=given,
                                is_bot=self._is_bot(entry["user"]), note=note))
        return found

    def ratifications(self, pull: PullRequest) -> list[Review]:
        """`accessctl: ratified` notes written after the merge and never changed since, as
        approvals of the final commit at the time each was written (see the module docstring).
        """
        if not pull.merged or pull.merged_at is None:
            return []
        mr = self._project.mergerequests.get(pull.number, lazy=True)
        found = []
        for item in mr.notes.list(get_all=True, per_page=100, sort="asc"):
            if item.attributes.get("system") is not False:
                continue
            first = str(item.body or "").strip().splitlines()[:1]
            if not first or first[0].strip().casefold() != RATIFY:
                continue
            written = _time(item.attributes.get("created_at"))
            touched = _time(item.attributes.get("updated_at"))
            if written is None or touched is None or written <= pull.merged_at:
                continue
            if abs(touched - written) > UNEDITED:
                continue  # edited (by whom, GitLab does not say) or its thread resolved
            found.append(Review(login=item.author["username"], state=ReviewState.APPROVED,
                                commit_id=pull.head_sha, submitted_at=written,
                                is_bot=self._is_bot(item.author)))
        return found

    def issue_author(self, number: int) -> str | None:
        # Requests from issues are GitHub's only for now: a merge request carries no head_ref
        # here, so no bot's merge request is ever judged as opened for someone.
        return None

    def team_members(self, team: str) -> frozenset[str] | None:
        from gitlab.exceptions import GitlabGetError

        if team.startswith(ROLE_PREFIX):
            return self._role_members(team)
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

    def _role_members(self, role: str) -> frozenset[str] | None:
        """A CODEOWNERS role: the project's direct members with exactly that role (GitLab:
        roles are not inclusive of higher ones; inherited and invited members are not)."""
        level = ROLES.get(role.casefold())
        if level is None:
            return None
        return frozenset(
            m.username.casefold() for m in self._project.members.list(get_all=True, per_page=100)
            if m.access_level == level
            and m.attributes.get("membership_state", "active") == "active")

    def files_at(self, sha: str) -> TreeFiles:
        return TreeFiles(self._project, sha)

    def missing_permissions(self, team: str | None, writes: bool,
                            issues: bool = False) -> list[str]:
        """The scope a run needs that the token lacks, from one call that lists the token's
        own scopes (see approval/vcs/access.py): `read_api` to read, `api` to write notes and
        approvals (`issues` needs nothing more: `read_api` reads issues). A token that cannot
        describe itself (an older GitLab, a CI job token) is left to its first real call."""
        import requests
        from gitlab.exceptions import GitlabError

        try:
            data: Any = self._client.http_get("/personal_access_tokens/self")
        except requests.exceptions.RequestException:
            return []  # unreachable now: the run's own calls will meet it, and retry
        except GitlabError as error:
            if error.response_code == 401:
                return ["a valid credential (GitLab answered 401: the token is wrong, expired "
                        "or revoked)"]
            return []  # cannot describe itself (404, 403), or an outage the run will meet
        scopes = {str(s) for s in (data.get("scopes") or [])} if isinstance(data, dict) else set()
        needed = "api" if writes else "read_api"
        if "api" in scopes or needed in scopes:
            return []
        what = "write notes and approvals" if writes else "read merge requests and approvals"
        held = ", ".join(sorted(scopes)) or "none"
        return [f"the `{needed}` scope (to {what}; the token's scopes: {held})"]


def from_environment(environ: Mapping[str, str]) -> GitLabVcs:
    """GitLab CI sets the project and API URL; the token is a project access token."""
    project = environ.get("CI_PROJECT_ID") or environ.get("CI_PROJECT_PATH")
    variable = "ACCESSCTL_VCS_TOKEN" if environ.get("ACCESSCTL_VCS_TOKEN") else "GITLAB_TOKEN"
    token = environ.get(variable)
    if not project or not token:
        raise ConfigError("GitLab needs CI_PROJECT_ID and ACCESSCTL_VCS_TOKEN (a project "
                          "access token, Reporter, with the `api` scope where the engine comments "
                          "(validate, apply) and `read_api` where it only reads (revoke, "
                          "report)) in the environment to verify approvals")
    url = environ.get("CI_SERVER_URL", "https://gitlab.com")
    # GitLab CI clones the repository into CI_PROJECT_DIR: commits found there need no API call.
    checkout = environ.get("CI_PROJECT_DIR")
    return GitLabVcs(project, token, url, environ.get("ACCESSCTL_DEFAULT_BRANCH"),
                     Path(checkout) if checkout else None,
                     Budget(settings_from(environ, "GitLab", url, variable)))
