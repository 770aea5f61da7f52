"""What git history says that the working tree cannot: requests deleted since a revision.

Deleting a request file ends the access early. The engine must still know it granted that pair,
so the requests deleted between the last successfully applied revision and HEAD are read back
from that revision; a run that was skipped or failed is caught up by the next one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine.errors import ConfigError
from engine.load import REQUESTS_DIR, MemorySource, load_request
from engine.model import Finding, Request


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True,
                              timeout=120)
    except FileNotFoundError:
        raise ConfigError("git is not installed, so deleted requests cannot be found") from None
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigError(f"git {' '.join(args)}: {message[-1] if message else error}") from None
    return done.stdout


def head_commit(repo: Path) -> str | None:
    try:
        return _git(repo, "rev-parse", "HEAD").decode().strip()
    except ConfigError:
        return None


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
