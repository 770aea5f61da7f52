"""The repositories' git over the API: commits (`git log -- path` simplification), compare,
refs, and the seeding helpers that commit. The graph, merge and object-ID logic is the shared
store's (`accessctl.emulators.git_store`); commits here carry git's real object IDs, so a clone
made from `git_objects` has the very SHAs the API names."""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from accessctl.emulators import git_store
from accessctl.emulators.git_store import FileContent, blob_sha, subtree
from accessctl.emulators.github.accounts import Accounts
from accessctl.emulators.github.state import Commit, Repo
from accessctl.emulators.github.wire import (
    DEFAULT_LOGIN,
    Routes,
    github_error,
    invalid,
    login_key,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Git(Accounts):
    def _git_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", f"{r}/commits", self._list_commits),
            ("GET", f"{r}/commits/{{ref}}", self._get_commit),
            ("GET", f"{r}/compare/{{basehead}}", self._compare),
            ("GET", f"{r}/git/ref/{{ref:path}}", self._get_ref),
            ("POST", f"{r}/git/refs", self._create_ref),
            ("PATCH", f"{r}/git/refs/{{ref:path}}", self._update_ref),
            ("DELETE", f"{r}/git/refs/{{ref:path}}", self._delete_ref),
        ]

    # -- look-ups and the store -------------------------------------------------------------------
    def _repo(self, request: Request) -> Repo:
        repo = self.repos.get((login_key(request.params["owner"]),
                               request.params["repo"].casefold()))
        if repo is None:
            raise not_found()
        return repo

    def repo(self, full_name: str) -> Repo:
        owner, _, name = full_name.partition("/")
        with self.lock:
            return self.repos[(login_key(owner), name.casefold())]

    def _resolve(self, repo: Repo, ref: str | None) -> Commit:
        """A branch, tag, full ref or (abbreviated) SHA; 404 when none matches."""
        ref = ref or repo.default_branch
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}"):
            if name in repo.refs:
                return repo.commits[repo.refs[name]]
        if ref in repo.commits:
            return repo.commits[ref]
        found = git_store.abbreviated(repo.commits, ref.lower())
        if found is not None:
            return repo.commits[found]
        raise github_error(404, f"No commit found for the ref {ref}")

    def _range(self, repo: Repo, base: str, head: str) -> list[str]:
        """Commits reachable from `head` but not from `base`, oldest first."""
        return sorted(git_store.only_in(repo.commits, head, base),
                      key=lambda s: repo.commits[s].seq)

    def _tree_of(self, commit: Commit) -> str:
        return git_store.commit_tree_id(self.objects, commit.sha)

    def _make_commit(self, repo: Repo, parents: list[str], tree: dict[str, bytes], message: str,
                     author: str, ref: str | None, at: datetime | None = None) -> str:
        seq = next(self._seq)
        when = at or self.clock()
        account = self.accounts.get(login_key(author))
        name = account.name if account and account.name else author
        email = account.email if account and account.email \
            else f"{author}@users.noreply.github.com"
        sha = git_store.commit_object(self.objects, tree, parents, name, email, when, message)
        if sha not in repo.commits:  # the same commit made twice is one object, as in git
            repo.commits[sha] = Commit(sha, parents, tree, message, author, when, seq)
        if ref is not None:
            repo.refs[ref] = sha
        return sha

    # -- JSON shapes -------------------------------------------------------------------------------
    def _commit_json(self, repo: Repo, commit: Commit, with_files: bool = False) -> JSON:
        url = f"{self.api}/repos/{repo.full_name}/commits/{commit.sha}"
        account = self.accounts.get(login_key(commit.author))
        person = {"name": account.name if account and account.name else commit.author,
                  "email": (account.email if account and account.email
                            else f"{commit.author}@users.noreply.github.com"),
                  "date": stamp(commit.date)}
        body: dict[str, Any] = {
            "sha": commit.sha, "node_id": node_id("C", commit.seq), "url": url,
            "html_url": f"{self.web}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{url}/comments",
            "commit": {
                "url": f"{self.api}/repos/{repo.full_name}/git/commits/{commit.sha}",
                "author": person, "committer": person, "message": commit.message,
                "comment_count": 0,
                "tree": {"sha": self._tree_of(commit),
                         "url": f"{self.api}/repos/{repo.full_name}/git/trees/"
                                f"{self._tree_of(commit)}"},
                "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                 "payload": None, "verified_at": None},
            },
            "author": self._user_json(commit.author) if account else None,
            "committer": self._user_json(commit.author) if account else None,
            "parents": [{"sha": p, "url": f"{self.api}/repos/{repo.full_name}/commits/{p}",
                         "html_url": f"{self.web}/{repo.full_name}/commit/{p}"}
                        for p in commit.parents],
        }
        if with_files:
            old = repo.commits[commit.parents[0]].tree if commit.parents else {}
            files = self._diff_entries(repo, old, commit.tree, commit.sha)
            body["files"] = files
            body["stats"] = {"additions": sum(f["additions"] for f in files),
                             "deletions": sum(f["deletions"] for f in files),
                             "total": sum(f["changes"] for f in files)}
        return body

    def _diff_entries(self, repo: Repo, old: Mapping[str, bytes], new: Mapping[str, bytes],
                      ref: str) -> list[JSON]:
        entries = []
        for path in git_store.changed_paths(old, new):
            before, after = old.get(path), new.get(path)
            status = "added" if before is None else "removed" if after is None else "modified"
            a = (before or b"").decode("utf-8", "replace").splitlines()
            b = (after or b"").decode("utf-8", "replace").splitlines()
            diff = list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]
            additions = sum(1 for line in diff if line.startswith("+"))
            deletions = sum(1 for line in diff if line.startswith("-"))
            quoted = quote(path)
            entries.append({
                "sha": blob_sha(after) if after is not None else None,
                "filename": path, "status": status, "additions": additions,
                "deletions": deletions, "changes": additions + deletions,
                "blob_url": f"{self.web}/{repo.full_name}/blob/{ref}/{quoted}",
                "raw_url": f"{self.web}/{repo.full_name}/raw/{ref}/{quoted}",
                "contents_url": f"{self.api}/repos/{repo.full_name}/contents/{quoted}?ref={ref}",
                "patch": "\n".join(diff),
            })
        return entries

    def _ref_json(self, repo: Repo, ref: str) -> JSON:
        sha = repo.refs[ref]
        return {
            "ref": ref, "node_id": node_id("REF", abs(hash(ref)) % 10**9),
            "url": f"{self.api}/repos/{repo.full_name}/git/{ref}",
            "object": {"sha": sha, "type": "commit",
                       "url": f"{self.api}/repos/{repo.full_name}/git/commits/{sha}"},
        }

    # -- handlers ----------------------------------------------------------------------------------
    def _get_commit(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            return self._commit_json(repo, self._resolve(repo, request.params["ref"]), True)

    def _list_commits(self, request: Request) -> Response:
        """`git log <sha> [-- path]` with git's default history simplification, newest first."""
        with self.lock:
            repo = self._repo(request)
            start = self._resolve(repo, request.arg("sha"))
            path = (request.arg("path") or "").strip("/") or None
            found: list[Commit] = []
            seen: set[str] = set()
            todo = [start.sha]
            while todo:
                commit = repo.commits[todo.pop()]
                if commit.sha in seen:
                    continue
                seen.add(commit.sha)
                if path is None:
                    found.append(commit)
                    todo.extend(commit.parents)
                    continue
                mine = subtree(commit.tree, path)
                same = [p for p in commit.parents if subtree(repo.commits[p].tree, path) == mine]
                if same:
                    todo.append(same[0])  # TREESAME to a parent: follow only that one
                    continue
                if mine or commit.parents:
                    found.append(commit)
                todo.extend(commit.parents)
            found.sort(key=lambda c: (c.date, c.seq), reverse=True)
            return self._paginate(request, [self._commit_json(repo, c) for c in found])

    def _compare(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            base_ref, sep, head_ref = request.params["basehead"].partition("...")
            if not sep:
                raise not_found()
            base, head = self._resolve(repo, base_ref), self._resolve(repo, head_ref)
            merge_base = repo.commits[git_store.merge_base(repo.commits, base.sha, head.sha)]
            ahead = self._range(repo, base.sha, head.sha)
            behind = self._range(repo, head.sha, base.sha)
            status = ("identical" if not ahead and not behind else "ahead" if not behind
                      else "behind" if not ahead else "diverged")
            url = f"{self.api}/repos/{repo.full_name}/compare/{base.sha}...{head.sha}"
            html = f"{self.web}/{repo.full_name}/compare/{base.sha}...{head.sha}"
            return {
                "url": url, "html_url": html, "permalink_url": html,
                "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
                "base_commit": self._commit_json(repo, base),
                "merge_base_commit": self._commit_json(repo, merge_base),
                "status": status, "ahead_by": len(ahead), "behind_by": len(behind),
                "total_commits": len(ahead),
                "commits": [self._commit_json(repo, repo.commits[s]) for s in ahead],
                "files": self._diff_entries(repo, merge_base.tree, head.tree, head.sha),
            }

    def _get_ref(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            if ref not in repo.refs:
                raise not_found()
            return self._ref_json(repo, ref)

    def _create_ref(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            data = request.json() or {}
            ref, sha = data.get("ref"), data.get("sha")
            if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
                raise invalid("", "Reference", "ref") if ref else invalid(
                    "", "Reference", "ref", "missing_field")
            if not isinstance(sha, str) or sha not in repo.commits:
                raise github_error(422, "Object does not exist")
            if ref in repo.refs:
                raise github_error(422, "Reference already exists")
            repo.refs[ref] = sha
            return Response(201, self._ref_json(repo, ref),
                            {"Location": f"{self.api}/repos/{repo.full_name}/git/{ref}"})

    def _update_ref(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            data = request.json() or {}
            sha = data.get("sha")
            if ref not in repo.refs:
                raise github_error(422, "Reference does not exist")
            if not isinstance(sha, str) or sha not in repo.commits:
                raise github_error(422, "Object does not exist")
            if not data.get("force") and not git_store.is_ancestor(
                    repo.commits, repo.refs[ref], sha):
                raise github_error(422, "Update is not a fast forward")
            repo.refs[ref] = sha
            return self._ref_json(repo, ref)

    def _delete_ref(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            ref = "refs/" + request.params["ref"]
            if ref not in repo.refs:
                raise github_error(422, "Reference does not exist")
            del repo.refs[ref]
            return Response(204)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_repo(self, owner: str, name: str, default_branch: str = "main",
                 files: Mapping[str, FileContent] | None = None, private: bool = True,
                 author: str | None = None) -> str:
        """A repository with one initial commit of `files` on `default_branch`; returns its SHA."""
        with self.lock:
            account = self._existing(owner)
            repo = Repo(next(self._ids), account.login, name, default_branch, private,
                        self.clock())
            self.repos[(login_key(owner), name.casefold())] = repo
            tree = {p: c for p, c in _encode(files or {"README.md": f"# {name}\n"}) if c}
            who = author or (account.login if account.type != "Organization"
                             else DEFAULT_LOGIN)
            return self._make_commit(repo, [], tree, "Initial commit", who,
                                     f"refs/heads/{default_branch}")

    def commit(self, repo: str, branch: str, files: Mapping[str, FileContent],
               message: str = "Update files", author: str = DEFAULT_LOGIN,
               start: str | None = None, at: datetime | None = None) -> str:
        """Commit `files` on `branch` (created from `start`, or the default branch, when new); a
        value of None deletes that path. Returns the new SHA."""
        with self.lock:
            store = self.repo(repo)
            ref = f"refs/heads/{branch}"
            if ref not in store.refs:
                store.refs[ref] = self._resolve(store, start or store.default_branch).sha
            parent = store.commits[store.refs[ref]]
            tree = git_store.edit(parent.tree, _encode(files))
            return self._make_commit(store, [parent.sha], tree, message,
                                     self._existing(author).login, ref, at)

    def push_direct(self, repo: str, files: Mapping[str, FileContent],
                    branch: str | None = None, message: str = "Direct push",
                    author: str = DEFAULT_LOGIN) -> str:
        """A commit straight onto a branch (the default one unless named), no pull request."""
        with self.lock:
            return self.commit(repo, branch or self.repo(repo).default_branch, files, message,
                               author)

    def file_at(self, repo: str, ref: str, path: str) -> bytes | None:
        with self.lock:
            store = self.repo(repo)
            return self._resolve(store, ref).tree.get(path)

    def ref(self, repo: str, ref: str) -> str | None:
        """The SHA a full ref ("refs/heads/main") points at."""
        with self.lock:
            return self.repo(repo).refs.get(ref)

    def checkout(self, repo: str, ref: str, dest: Path) -> None:
        """Write the files at `ref` (a full ref such as refs/heads/main, or a SHA) into `dest`,
        replacing whatever was there: what a CI checkout of that commit holds."""
        with self.lock:
            store = self.repo(repo)
            tree = dict(store.commits[store.refs.get(ref, ref)].tree)
        if dest.exists():
            shutil.rmtree(dest)
        for path, content in tree.items():
            target = dest / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    def git_objects(self, repo: str, ref: str, have: Callable[[str], bool]
                    ) -> list[tuple[str, str, bytes]]:
        """The git objects (sha, kind, body) of every commit reachable from `ref` for which
        `have(sha)` is false, with their trees and blobs: what a fetch would send. Parents
        first, so that a reader can write them in order."""
        with self.lock:
            store = self.repo(repo)
            return git_store.objects_to_send(store.commits, self.objects,
                                             store.refs.get(ref, ref), have)


def _encode(files: Mapping[str, FileContent]) -> list[tuple[str, bytes | None]]:
    """The seeding helpers' files as bytes, paths without a leading or trailing slash."""
    return git_store.encode({path.strip("/"): content for path, content in files.items()})
