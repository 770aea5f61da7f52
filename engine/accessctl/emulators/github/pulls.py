"""Pull requests: opening, listing, their files and commits, the pull requests behind a commit,
and merging (merge commit, squash or rebase) with the shared store's three-way merge."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from accessctl.emulators import git_store
from accessctl.emulators.git_store import FileContent
from accessctl.emulators.github.repos import Repos
from accessctl.emulators.github.state import Pull, Repo
from accessctl.emulators.github.teams import Teams
from accessctl.emulators.github.wire import (
    DEFAULT_LOGIN,
    Routes,
    int_param,
    invalid,
    login_key,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Pulls(Repos, Teams):
    def _pull_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", f"{r}/pulls", self._list_pulls),
            ("POST", f"{r}/pulls", self._create_pull),
            ("GET", f"{r}/pulls/{{pull_number}}", self._get_pull),
            ("GET", f"{r}/pulls/{{pull_number}}/files", self._pull_files),
            ("GET", f"{r}/pulls/{{pull_number}}/commits", self._pull_commits),
            ("GET", f"{r}/commits/{{commit_sha}}/pulls", self._commit_pulls),
        ]

    # -- JSON shapes and look-ups -----------------------------------------------------------------
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
            "url": url, "id": pull.id, "node_id": node_id("PR", pull.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue,
            "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.api}/repos/{repo.full_name}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments", "statuses_url": statuses,
            "number": pull.number, "state": pull.state, "locked": False, "title": pull.title,
            "user": self._user_json(pull.user), "body": pull.body or None, "labels": [],
            "milestone": None, "active_lock_reason": None,
            "created_at": stamp(pull.created_at), "updated_at": stamp(pull.updated_at),
            "closed_at": stamp(pull.closed_at) if pull.closed_at else None,
            "merged_at": stamp(pull.merged_at) if pull.merged_at else None,
            "merge_commit_sha": pull.merge_commit_sha, "assignee": None, "assignees": [],
            "requested_reviewers": [self._user_json(k) for k in pull.requested_users],
            "requested_teams": [self._team_json(self.teams[(login_key(repo.owner), slug)])
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
        key = login_key(login)
        if key == login_key(repo.owner):
            return "OWNER"
        org = self.orgs.get(login_key(repo.owner))
        if org is not None and key in org.members:
            return "MEMBER"
        if key in repo.collaborators:
            return "COLLABORATOR"
        return "CONTRIBUTOR"

    def _pull(self, request: Request) -> tuple[Repo, Pull]:
        repo = self._repo(request)
        pull = repo.pulls.get(int_param(request, "pull_number"))
        if pull is None:
            raise not_found()
        return repo, pull

    def _pull_commit_list(self, repo: Repo, pull: Pull) -> list[str]:
        if pull.merged:
            return pull.commits
        return self._range(repo, pull.base_sha, pull.head_sha)

    def _pull_file_entries(self, repo: Repo, pull: Pull) -> list[JSON]:
        base = repo.commits[pull.merge_base or pull.base_sha].tree
        return self._diff_entries(repo, base, repo.commits[pull.head_sha].tree, pull.head_sha)

    # -- handlers ----------------------------------------------------------------------------------
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

    def _commit_pulls(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            sha = self._resolve(repo, request.params["commit_sha"]).sha
            default = repo.branch_sha(repo.default_branch)
            on_default = default is not None and git_store.is_ancestor(repo.commits, sha, default)
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

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
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
            pull.merge_base = git_store.merge_base(store.commits, pull.head_sha, target)
            own = self._range(store, target, pull.head_sha)
            pull.commits = own
            who = self._existing(merged_by).login
            when = at or self.clock()
            tree = git_store.apply(store.commits[target].tree, store.commits[pull.merge_base].tree,
                                   store.commits[pull.head_sha].tree, pull.head_sha)
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
                    replayed = git_store.apply(store.commits[parent].tree, before, original.tree,
                                              sha)
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

    def _open(self, repo: Repo, author: str, head: str, base: str, title: str, body: str,
              at: datetime | None = None) -> int:
        now = at or self.clock()
        head_sha, base_sha = repo.branch_sha(head), repo.branch_sha(base)
        if head_sha is None or base_sha is None:
            raise ValueError(f"no branch {head if head_sha is None else base}")
        pull = Pull(repo.next_number, next(self._ids), author, title, body, head, head_sha,
                    base, base_sha, now, now)
        pull.merge_base = git_store.merge_base(repo.commits, head_sha, base_sha)
        repo.pulls[pull.number] = pull
        repo.next_number += 1
        return pull.number

    def _refresh(self, repo: Repo, pull: Pull, base: bool = True) -> None:
        head, tip = repo.branch_sha(pull.head_ref), repo.branch_sha(pull.base_ref)
        if head is not None:
            pull.head_sha = head
        if tip is not None and base:
            pull.base_sha = tip
        pull.merge_base = git_store.merge_base(repo.commits, pull.head_sha, pull.base_sha)
        pull.updated_at = self.clock()
