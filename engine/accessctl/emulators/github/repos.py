"""Repositories as the API shows them: metadata, branches and file contents (read, and created or
updated by a commit on a branch, as `PUT .../contents/{path}` does)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any
from urllib.parse import quote

from accessctl.emulators import git_store
from accessctl.emulators.git_store import blob_sha, tree_sha
from accessctl.emulators.github.git import Git
from accessctl.emulators.github.state import Repo
from accessctl.emulators.github.wire import (
    Routes,
    github_error,
    invalid,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Repos(Git):
    def _repo_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", r, self._get_repo),
            ("GET", f"{r}/contents", self._contents),
            ("GET", f"{r}/contents/", self._contents),
            ("GET", f"{r}/contents/{{path:path}}", self._contents),
            ("PUT", f"{r}/contents/{{path:path}}", self._put_contents),
            ("GET", f"{r}/branches", self._list_branches),
            ("GET", f"{r}/branches/{{branch:path}}", self._get_branch),
        ]

    # -- JSON shapes ------------------------------------------------------------------------------
    def _repo_json(self, repo: Repo, full: bool = False) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        open_issues = sum(1 for p in repo.pulls.values() if p.state == "open") + sum(
            1 for i in repo.issues.values() if i.state == "open")
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
            "id": repo.id, "node_id": node_id("R", repo.id), "name": repo.name,
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
            "pushed_at": stamp(self._pushed_at(repo)), "created_at": stamp(repo.created_at),
            "updated_at": stamp(self._pushed_at(repo)), "license": None,
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

    # -- handlers ----------------------------------------------------------------------------------
    def _get_repo(self, request: Request) -> JSON:
        with self.lock:
            return self._repo_json(self._repo(request), full=True)

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
                return {**self._content_entry(repo, path, "file", blob_sha(data), len(data),
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
                    entries.append(self._content_entry(repo, full, "file", blob_sha(blob),
                                                       len(blob), ref))
                else:
                    sub = {k: v for k, v in commit.tree.items() if k.startswith(full + "/")}
                    entries.append(self._content_entry(repo, full, "dir",
                                                       tree_sha(sub, full + "/"), 0, ref))
            return entries

    def _put_contents(self, request: Request) -> Response:
        """Create or update one file by a new commit on `branch` (the default branch unless
        named), authored by the caller: 201 for a new file, 200 for an update, which must name
        the blob it replaces (`sha`: 422 without it, 409 when it is not the current one)."""
        with self.lock:
            repo = self._repo(request)
            path = request.params["path"].strip("/")
            data = request.json() or {}
            message, content = data.get("message"), data.get("content")
            if not isinstance(message, str) or not message:
                raise invalid("", "Commit", "message", "missing_field")
            if not isinstance(content, str):
                raise invalid("", "Commit", "content", "missing_field")
            try:
                blob = base64.b64decode(content, validate=True)
            except ValueError:
                raise invalid("content is not valid Base64", "Commit", "content") from None
            branch = data.get("branch") or repo.default_branch
            ref = f"refs/heads/{branch}"
            if ref not in repo.refs:
                raise github_error(404, f"Branch {branch} not found")
            parent = repo.commits[repo.refs[ref]]
            current = parent.tree.get(path)
            if current is not None and not data.get("sha"):
                raise github_error(422, "Invalid request.\n\n\"sha\" wasn't supplied.")
            if current is not None and data.get("sha") != blob_sha(current):
                raise github_error(409, f"{path} does not match {data.get('sha')}")
            tree = git_store.edit(parent.tree, [(path, blob)])
            sha = self._make_commit(repo, [parent.sha], tree, message,
                                    self._actor(request).login, ref)
            commit = self._commit_json(repo, repo.commits[sha])
            entry = self._content_entry(repo, path, "file", blob_sha(blob), len(blob), branch)
            return Response(201 if current is None else 200, {
                "content": entry,
                "commit": {"sha": sha, "node_id": commit["node_id"], "url": commit["commit"]["url"],
                           "html_url": commit["html_url"], "author": commit["commit"]["author"],
                           "committer": commit["commit"]["committer"],
                           "message": message, "tree": commit["commit"]["tree"],
                           "parents": commit["parents"],
                           "verification": commit["commit"]["verification"]},
            })
