"""What git history says that the working tree cannot: every request the engine may have granted.

A grant the engine made stays the engine's to end until it is ended (invariant 12). The files as
they stand are not enough to know which grants those are: a request can be deleted, moved,
edited into another person or entitlement, or broken so that it no longer loads, and each of
those leaves a grant that no current file names. So the pairs the engine manages are read from
every version of every request file that the default branch's first-parent history ever held:
a version that loads names a pair, and a pair named once stays the engine's to revoke whenever
no valid approved request backs it now.

How far back: with `--since REV` (the last revision a run completed, kept as
`refs/accessctl/applied`), the versions replaced or added between REV and HEAD, plus those at REV
(the run at REV took care of anything older). Without it (first run, lost ref, fresh checkout):
the whole first-parent history, so that nothing is missed. Cost: one `git log` over the commits
that touched `access-requests/`, one `git cat-file --batch` for the distinct blobs, and one
parse per distinct blob (bench/history.py measures it at 10,000 files and 50,000 commits).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from accessctl.core.errors import ConfigError
from accessctl.core.model import Finding, Request
from accessctl.read.load import REQUESTS_DIR, MemorySource, load_request

_ZERO = "0" * 40


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True,
                              timeout=600, input=stdin)
    except FileNotFoundError:
        raise ConfigError("git is not installed, so the history of requests cannot be read") \
            from None
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {' '.join(args)}: {message[-1] if message else error}") from None
    return done.stdout


def head_commit(repo: Path) -> str | None:
    try:
        return _git(repo, "rev-parse", "HEAD").decode().strip()
    except ConfigError:
        return None


def is_git_checkout(repo: Path) -> bool:
    try:
        top = _git(repo, "rev-parse", "--show-toplevel").decode().strip()
    except ConfigError:
        return False
    # Only a repository whose top is `repo` itself: a directory inside some other repository
    # (a temporary tree in a test, say) has no history of its own requests.
    return Path(top).resolve() == repo.resolve()


def check_revision(repo: Path, revision: str) -> None:
    """A ConfigError naming git's complaint when `revision` is not a commit here."""
    _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")


def ended_requests(repo: Path, since: str) -> tuple[list[Request], list[Finding]]:
    """Requests present at `since` and deleted by HEAD, as they were written at `since`."""
    _git(repo, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    names = _git(repo, "diff", "--name-only", "--no-renames", "--diff-filter=D", "-z",
                 since, "HEAD", "--", REQUESTS_DIR).decode("utf-8", "replace")
    requests: list[Request] = []
    findings: list[Finding] = []
    for path in filter(None, names.split("\0")):
        content = _git(repo, "show", f"{since}:{path}")
        request, problems = load_request(MemorySource({path: content}), path)
        findings.extend(problems)
        if request is not None:
            requests.append(request)
    return requests, findings


@dataclass
class History:
    """Every version of the request files that the scanned history held."""

    requests: list[Request] = field(default_factory=list)
    """The versions that load, one per distinct (path, blob)."""
    versions: int = 0
    """Distinct (path, blob) versions read, loadable or not."""
    commits: int = 0
    """First-parent commits that touched access-requests/."""
    notes: list[str] = field(default_factory=list)
    """What limits the scan (a shallow clone, no git), for the run to report."""


def _versions(raw: bytes) -> tuple[set[tuple[str, str]], int]:
    """(path, blob) pairs on both sides of `git log --raw -z` records, and the commit count."""
    found: set[tuple[str, str]] = set()
    commits = 0
    fields = raw.split(b"\0")
    index = 0
    while index < len(fields):
        item = fields[index]
        if item.startswith(b"commit "):
            commits += 1
            index += 1
            continue
        text = item.lstrip(b"\n")
        if not text.startswith(b":"):
            index += 1
            continue
        # ':100644 100644 <old> <new> M' then the path (no renames asked, so one path).
        parts = text[1:].split(b" ")
        path = fields[index + 1].decode("utf-8", "surrogateescape") \
            if index + 1 < len(fields) else ""
        index += 2
        if len(parts) < 5 or not path.startswith(REQUESTS_DIR + "/"):
            continue
        old, new = parts[2].decode(), parts[3].decode()
        for blob, mode in ((old, parts[0]), (new, parts[1])):
            if blob != _ZERO and mode.startswith(b"100"):  # regular files only
                found.add((path, blob))
    return found, commits


def _blobs(repo: Path, shas: Iterable[str]) -> dict[str, bytes]:
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    out = _git(repo, "cat-file", "--batch", stdin="".join(f"{s}\n" for s in wanted).encode())
    result: dict[str, bytes] = {}
    position = 0
    for sha in wanted:
        end = out.index(b"\n", position)
        header = out[position:end].split(b" ")
        position = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # 'missing': a partial clone; nothing to read
        size = int(header[2])
        result[sha] = out[position:position + size]
        position += size + 1
    return result


def request_history(repo: Path, since: str | None = None) -> History:
    """Every version of every request file on HEAD's first-parent history (from `since` on when
    given), loaded. Versions that do not load name nothing and are skipped: some other version of
    the same file (the one that was granted) loads."""
    history = History()
    if not is_git_checkout(repo):
        history.notes.append(f"{repo} is not a git checkout: only the request files as they "
                             "stand name the engine's grants")
        return history
    if head_commit(repo) is None:
        return history  # a repository without commits has no history yet
    if _git(repo, "rev-parse", "--is-shallow-repository").strip() == b"true":
        history.notes.append("the checkout is shallow: grants whose request files changed "
                             "before its oldest commit cannot be found; check out with full "
                             "history (actions/checkout fetch-depth: 0, GIT_DEPTH: 0)")
    span = ["HEAD"]
    if since is not None:
        _git(repo, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
        span = [f"{since}..HEAD"]
    raw = _git(repo, "log", "--first-parent", "--root", "--raw", "--no-renames", "--no-abbrev",
               "-z", "--format=commit %H", *span, "--", REQUESTS_DIR + "/")
    versions, history.commits = _versions(raw)
    history.versions = len(versions)
    contents = _blobs(repo, (blob for _, blob in versions))
    for path, blob in sorted(versions):
        content = contents.get(blob)
        if content is None:
            continue
        request, _problems = load_request(MemorySource({path: content}), path)
        if request is not None:
            history.requests.append(request)
    return history


def distinct_pairs(requests: Iterable[Request]) -> list[Request]:
    """One request per (requester, entitlement): all a pair needs to be named (the managed set
    is a set; thousands of versions of the same pair cost one look-up)."""
    seen: dict[tuple[str, str], Request] = {}
    for request in requests:
        seen.setdefault((request.requester.casefold(), request.entitlement), request)
    return list(seen.values())
