"""Facts about the default branch from the local clone, when the clone has them.

CI checks the repository out before the engine runs (GitHub: `fetch-depth: 0`), so the commits
a merge put on the default branch are there already: which commit brought each request file's
current bytes, the state of the branch that merge landed on, and every file at those commits
cost no API call. A clone may be shallow (GitLab CI fetches 20 commits by default) or lack a
commit altogether; then the answer is None and the caller asks the VCS's API instead.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from accessctl.read.load import REQUESTS_DIR

_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_ZERO = "0" * 40


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


@dataclass(frozen=True)
class Landing:
    """How a request file's current version reached the default branch, from local git."""

    path: str
    commit: str
    """The newest first-parent commit of HEAD that changed the file: the merge commit, the
    squash commit, or the rebased commit that brought its current bytes."""
    blob: str
    """The file's blob at HEAD (what is granted)."""
    parent: str | None
    """The commit's first parent: the default branch exactly as the merge found it (None for a
    root commit)."""


class LocalHistory:
    """Facts about the default branch read from the local clone (CI's checkout with full
    history): which commit brought each request file's current bytes, the commit before it, and
    every file at any commit. None where the clone cannot say (no git, a shallow clone cut
    before the commit, a missing object): the caller then asks the API, and says so."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._landings: dict[str, Landing] | None = None
        self._order: dict[str, int] | None = None
        self._shallow: frozenset[str] | None = None

    @staticmethod
    def at(repo: Path) -> LocalHistory | None:
        """The history of the checkout at `repo`, when it is a git checkout with commits."""
        if not (repo / ".git").exists() or _git(repo, "rev-parse", "--verify", "-q",
                                                "HEAD^{commit}") is None:
            return None
        return LocalHistory(repo)

    def _boundary(self) -> frozenset[str]:
        if self._shallow is None:
            found = _git(self.repo, "rev-parse", "--git-path", "shallow")
            path = Path(found.strip()) if found else None
            if path is not None and not path.is_absolute():
                path = self.repo / path
            self._shallow = frozenset(path.read_text().split()) \
                if path is not None and path.is_file() else frozenset()
        return self._shallow

    def landing(self, path: str) -> Landing | None:
        """How `path`'s current version reached HEAD (None: not in HEAD, or not knowable from
        this clone)."""
        if self._landings is None:
            self._landings = self._read_landings()
        return self._landings.get(path)

    def _read_landings(self) -> dict[str, Landing]:
        raw = _git_bytes(self.repo, "log", "--first-parent", "--root", "--raw", "--no-renames",
                         "--no-abbrev", "-z", "--format=commit %H %P", "HEAD", "--",
                         f"{REQUESTS_DIR}/")
        if raw is None:
            return {}
        shallow = self._boundary()
        found: dict[str, Landing] = {}
        settled: set[str] = set()
        commit, parent = "", None
        fields = raw.split(b"\0")
        index = 0
        while index < len(fields):
            item = fields[index].lstrip(b"\n")
            index += 1
            if item.startswith(b"commit "):
                ids = item.decode().split()[1:]
                commit, parent = ids[0], (ids[1] if len(ids) > 1 else None)
                continue
            if not item.startswith(b":") or index >= len(fields):
                continue
            name = fields[index].decode("utf-8", "surrogateescape")
            index += 1
            parts = item[1:].split(b" ")
            if len(parts) < 5 or name in settled:
                continue
            settled.add(name)  # newest first: the first mention is the current version
            blob = parts[3].decode()
            # A deleted file is not in HEAD; a shallow clone's oldest commit looks as if it
            # added every file it holds: neither says how the file arrived.
            if blob != _ZERO and commit not in shallow:
                found[name] = Landing(name, commit, blob, parent)
        return found

    def first_parent_position(self, sha: str) -> int | None:
        """How many first-parent steps below HEAD `sha` is (0: HEAD); None when it is not on
        HEAD's first-parent history."""
        if self._order is None:
            listed = _git(self.repo, "rev-list", "--first-parent", "HEAD")
            self._order = {s: n for n, s in enumerate((listed or "").split())}
        return self._order.get(sha)

    def fingerprint(self, sha: str) -> str | None:
        """The IDs of the trees and files that policies and CODEOWNERS are read from at `sha`
        (one `ls-tree`): commits with the same fingerprint are judged alike, so a run that
        verifies a hundred merges reads the policies once per distinct state, not per merge."""
        if not _SHA.match(sha):
            return None
        return _git(self.repo, "ls-tree", sha, "--", *(p.rstrip("/") for p in GitFiles.PRELOAD))

    def files_at(self, sha: str) -> GitFiles | None:
        """The repository's files at commit `sha` (None when the clone lacks it)."""
        if not _SHA.match(sha):
            return None  # only a full SHA reaches git's command line, never an option
        if _git(self.repo, "cat-file", "-e", f"{sha}^{{tree}}") is None:
            return None
        return GitFiles(self.repo, sha)


class GitFiles:
    """A commit's files, read from local git objects (a `FileSource`): one `ls-tree` for the
    paths, then the policy files in one `cat-file --batch`, other files one by one."""

    PRELOAD = ("policies/", ".github/", ".gitlab/", "docs/", "CODEOWNERS")

    def __init__(self, repo: Path, sha: str) -> None:
        self.repo = repo
        self.sha = sha
        self._blobs: dict[str, str] | None = None
        self._read: dict[str, bytes | None] = {}

    def _tree(self) -> dict[str, str]:
        if self._blobs is None:
            raw = _git_bytes(self.repo, "ls-tree", "-r", "-z", "--full-tree", self.sha) or b""
            blobs: dict[str, str] = {}
            for entry in raw.split(b"\0"):
                head, _, name = entry.partition(b"\t")
                parts = head.split(b" ")
                if len(parts) == 3 and parts[1] == b"blob" and parts[0].startswith(b"100"):
                    blobs[name.decode("utf-8", "surrogateescape")] = parts[2].decode()
            self._blobs = blobs
            self._preload([p for p in blobs if p.startswith(self.PRELOAD)])
        return self._blobs

    def _preload(self, paths: list[str]) -> None:
        assert self._blobs is not None
        wanted = sorted({self._blobs[p] for p in paths})
        contents = read_blobs(self.repo, wanted)
        for path in paths:
            self._read[path] = contents.get(self._blobs[path])

    def list(self, directory: str) -> list[str]:
        prefix = directory.strip("/") + "/"
        return sorted(p for p in self._tree() if p.startswith(prefix))

    def read(self, path: str) -> bytes | None:
        blobs = self._tree()
        if path not in self._read:
            blob = blobs.get(path)
            self._read[path] = read_blobs(self.repo, [blob]).get(blob) if blob else None
        return self._read[path]


def read_blobs(repo: Path, shas: list[str]) -> dict[str, bytes]:
    """The contents of blobs `shas`, in one `git cat-file --batch` (missing ones left out)."""
    if not shas:
        return {}
    out = _git_bytes(repo, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in shas).encode())
    if out is None:
        return {}
    result: dict[str, bytes] = {}
    position = 0
    for sha in shas:
        end = out.index(b"\n", position)
        header = out[position:end].split(b" ")
        position = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        result[sha] = out[position:position + size]
        position += size + 1
    return result


def _git_bytes(repo: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, input=stdin,
                              timeout=600, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None
