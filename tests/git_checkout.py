"""A working tree with real git history, as CI's `actions/checkout` with `fetch-depth: 0` gives.

Two ways to make one:
- `mirror` (the GitHub world): the GitHub emulator gives its commits real git object IDs and
  hands out the objects themselves (`GitHubEmulator.git_objects`), so the checkout is a clone
  of the emulator's default branch, commit for commit, SHA for SHA: merges, squashes, rebases
  and backdated commits look to local git exactly as the API describes them. The engine reads
  history from git and asks the API about those same commits, as on GitHub.
- `commit_tree` (the GitLab world, whose emulator invents its own commit IDs): each sync commits
  the default branch's files as they now are on top of the previous sync, so the checkout's
  first-parent history holds every state of the default branch the tests produced, under
  commit IDs the emulator does not know.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

_IDENTITY = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.test",
             "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.test"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **_IDENTITY})
    return done.stdout.strip()


def commit_tree(dest: Path, tree: Mapping[str, bytes], message: str = "sync",
                commit: bool = True) -> str:
    """Make `dest` hold exactly `tree` and commit it (git history kept across calls); with
    `commit=False` only the working tree changes (a pull request's head checked out)."""
    if not (dest / ".git").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        git(dest, "init", "-q", "-b", "main")
    for child in dest.iterdir():
        if child.name == ".git":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for path, content in tree.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if commit:
        git(dest, "add", "-A")
        git(dest, "commit", "-q", "--allow-empty", "-m", message)
    return git(dest, "rev-parse", "HEAD") if commit else ""


def mirror(dest: Path, objects: Iterable[tuple[str, str, bytes]], head: str,
           branch: str = "main") -> None:
    """Make `dest` a clone whose `branch` is `head`, from the remote's own git objects (sha,
    kind, body): the commits keep their IDs, so local history and the remote's API name the
    same commits, as a real `actions/checkout` with `fetch-depth: 0` gives.

    The objects are written as loose objects (what `git hash-object -w` writes, without a
    process per object), each checked against its ID, then the branch is checked out."""
    if not (dest / ".git").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        git(dest, "init", "-q", "-b", branch)
    store = dest / ".git" / "objects"
    for sha, kind, body in objects:
        raw = kind.encode() + b" %d\0" % len(body) + body
        if hashlib.sha1(raw).hexdigest() != sha:
            raise ValueError(f"object {sha} does not hash to its ID")
        path = store / sha[:2] / sha[2:]
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(zlib.compress(raw, 1))
        os.replace(partial, path)
    git(dest, "reset", "-q", "--hard", head)


def has_object(dest: Path) -> Callable[[str], bool]:
    """Whether the clone at `dest` already holds an object (for an incremental mirror)."""
    store = dest / ".git" / "objects"
    return lambda sha: (store / sha[:2] / sha[2:]).exists()
