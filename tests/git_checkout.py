"""A working tree with real git history, as CI's `actions/checkout` with `fetch-depth: 0` gives.

The emulators keep their own commit graph; the engine reads history from local git. Each sync
of a world commits the default branch's files as they now are on top of the previous sync, so
the checkout's first-parent history holds every state of the default branch the tests produced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
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
