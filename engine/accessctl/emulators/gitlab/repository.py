"""The projects' repositories: files, trees, branches, commits (`git log [--first-parent] --
path`), and the seeding helpers that create projects and commit. The graph and merge logic is
the shared store's (`accessctl.emulators.git_store`); SHAs here are the emulator's own."""

from __future__ import annotations

import base64
import difflib
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from accessctl.emulators import git_store
from accessctl.emulators.git_store import FileContent
from accessctl.emulators.gitlab.members import Members
from accessctl.emulators.gitlab.server import Routes
from accessctl.emulators.gitlab.state import Commit, Project, User
from accessctl.emulators.gitlab.wire import bad_request, flag, not_found, stamp
from accessctl.emulators.http import JSON, Request, Response


class Repository(Members):
    def _repository_routes(self) -> Routes:
        repo = "/projects/{id}/repository"
        return [
            ("GET", repo + "/files/{file_path}/raw", self._file_raw),
            ("GET", repo + "/files/{file_path}", self._file),
            ("GET", repo + "/tree", self._tree),
            ("GET", repo + "/branches/{branch}", self._branch),
            ("GET", repo + "/commits", self._list_commits),
            ("GET", repo + "/commits/{sha}", self._get_commit),
        ]

    # -- the store and JSON shapes ----------------------------------------------------------------
    def _resolve(self, project: Project, ref: str | None) -> Commit:
        """A branch name or a (possibly abbreviated) commit SHA to its commit."""
        ref = ref or project.default_branch
        if ref in project.branches:
            return project.commits[project.branches[ref]]
        if ref in project.commits:
            return project.commits[ref]
        found = git_store.abbreviated(project.commits, ref)
        if found is not None:
            return project.commits[found]
        raise not_found("Commit")

    def _make_commit(self, project: Project, parents: list[str], files: dict[str, bytes],
                     message: str, author: int, branch: str | None) -> str:
        seq = next(self._sha_seq)
        seed = f"{project.id}:{seq}:{parents}:{message}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        project.commits[sha] = Commit(sha, parents, files, message, author, self.clock(), seq)
        if branch is not None:
            project.branches[branch] = sha
        return sha

    def _commit_json(self, project: Project, commit: Commit, full: bool = False) -> JSON:
        author = self.users[commit.author]
        body: dict[str, Any] = {
            "id": commit.sha,
            "short_id": commit.sha[:8],
            "title": commit.title,
            "message": commit.message,
            "author_name": author.name,
            "author_email": author.email,
            "authored_date": stamp(commit.created_at),
            "committer_name": author.name,
            "committer_email": author.email,
            "committed_date": stamp(commit.created_at),
            "created_at": stamp(commit.created_at),
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

    def _changes(self, project: Project, old: str | None, new: str) -> list[dict[str, Any]]:
        before = project.commits[old].files if old else {}
        after = project.commits[new].files
        result = []
        for path in git_store.changed_paths(before, after):
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

    # -- handlers ----------------------------------------------------------------------------------
    def _file_at(self, request: Request) -> tuple[Commit, str, bytes]:
        project = self._find_project(request.params["id"])
        ref = request.arg("ref")
        if not ref:
            raise bad_request("ref is missing")
        commit = self._resolve(project, ref)
        path = request.params["file_path"]
        if path not in commit.files:
            raise not_found("File")
        return commit, path, commit.files[path]

    def _file(self, request: Request, actor: User) -> JSON:
        commit, path, content = self._file_at(request)
        project = self._find_project(request.params["id"])
        last = next(
            (sha for sha in git_store.ancestors(project.commits, commit.sha)
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
            "blob_id": git_store.blob_sha(content),
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
        recursive = flag(request, "recursive")
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
            raise not_found("Tree")
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
            raise not_found("Branch")
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
        first_parent = flag(request, "first_parent")
        if first_parent:
            walk, sha = [], head.sha
            while sha:
                walk.append(sha)
                parents = project.commits[sha].parents
                sha = parents[0] if parents else ""
        else:
            walk = git_store.ancestors(project.commits, head.sha)
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

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
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
                    git_store.encode(files or {"README.md": "# readme\n"}) if content is not None}
            self._make_commit(project, [], tree, "Initial commit", self._find_user(author).id,
                              default_branch)
            return project_id

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
            tree = git_store.edit(parent.files, git_store.encode(files))
            return self._make_commit(proj, [parent.sha], tree, message,
                                     self._find_user(author).id, branch)

    def create_branch(self, project: str | int, name: str, ref: str) -> None:
        """A new branch at `ref` (a branch name or a commit SHA), as `git branch NAME REF`."""
        with self.lock:
            proj = self._find_project(str(project))
            if name in proj.branches:
                raise ValueError(f"branch {name} exists")
            proj.branches[name] = self._resolve(proj, ref).sha

    def push_direct(self, project: str | int, files: Mapping[str, FileContent],
                    message: str = "Direct push", author: str = "root",
                    branch: str | None = None) -> str:
        """A commit straight onto a branch (the default one unless named): no merge request."""
        with self.lock:
            proj = self._find_project(str(project))
            return self.commit(proj.id, branch or proj.default_branch, files, message, author)
