"""A commit's parents from the local clone, when the clone has them.

CI checks the repository out before the engine runs, so the commits a merge put on the default
branch are usually there already: reading them costs no API call. A clone may be shallow (GitLab
CI fetches 20 commits by default) or lack a commit altogether; then the answer is None and the
caller asks the VCS's API instead.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None  # no git, or it hung: the API will answer instead
    return done.stdout if done.returncode == 0 else None


def parents(repo: Path, sha: str) -> tuple[str, ...] | None:
    """The parents of commit `sha` in the clone at `repo`, first parent first; None when the
    clone cannot say (not a git clone, no such commit, or a shallow clone cut at `sha`, whose
    parents git would report as none)."""
    if not _SHA.match(sha) or not (repo / ".git").exists():
        return None  # only a full SHA reaches git's command line, never an option
    listed = _git(repo, "rev-list", "--parents", "-n", "1", sha, "--")
    if listed is None:
        return None
    found = listed.split()
    if not found or found[0] != sha:
        return None
    shallow = _git(repo, "rev-parse", "--git-path", "shallow")
    if shallow is not None:
        boundary = Path(shallow.strip())
        boundary = boundary if boundary.is_absolute() else repo / boundary
        if boundary.is_file() and sha in boundary.read_text().split():
            return None
    return tuple(found[1:])
