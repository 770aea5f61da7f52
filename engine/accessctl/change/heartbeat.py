"""The sweep's heartbeat: proof that the scheduled revoke really ran, and when.

A scheduled run that never starts never fails, so nobody is told. Each successful revoke run
moves the git ref `refs/accessctl/swept` to a new commit whose committer time is the run's
`now` (pushed with the ledger's remote, so it outlives the runner), and, when
ACCESSCTL_HEARTBEAT_URL is set, pings that URL (an external dead man's switch, such as
healthchecks.io or Cronitor, alerts when the pings stop). `apply`, `validate` and `status` read
the ref back and warn when the last sweep is older than three schedules.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

REF = "refs/accessctl/swept"
URL_ENV = "ACCESSCTL_HEARTBEAT_URL"
STALE_AFTER = 3
"""Schedules a sweep may miss before the engine warns."""
SCHEDULE = timedelta(minutes=15)
"""How often revoke.yml runs."""


def _git(repo: Path, *args: str, env: Mapping[str, str] | None = None,
         stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, input=stdin,
                          timeout=120, env={**os.environ, **(env or {})})


def last_sweep(repo: Path) -> datetime | None:
    """When the last successful sweep ran (from the ref), or None when none is recorded."""
    done = _git(repo, "log", "-1", "--format=%ct", REF, "--")
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return datetime.fromtimestamp(int(done.stdout.strip()), UTC)


def record(repo: Path, now: datetime, summary: str, remote: str | None) -> str | None:
    """Move the ref to a new commit dated `now` (and push it). Returns a warning, or None."""
    stamp = f"{int(now.timestamp())} +0000"
    identity = {"GIT_AUTHOR_NAME": "accessctl", "GIT_AUTHOR_EMAIL": "accessctl@localhost",
                "GIT_COMMITTER_NAME": "accessctl", "GIT_COMMITTER_EMAIL": "accessctl@localhost",
                "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    tree = _git(repo, "mktree", stdin=b"")
    if tree.returncode != 0:
        return "the sweep's heartbeat could not be recorded (not a git checkout?)"
    parent = _git(repo, "rev-parse", "--verify", "--quiet", REF)
    parents = ["-p", parent.stdout.decode().strip()] if parent.returncode == 0 else []
    made = _git(repo, "commit-tree", tree.stdout.decode().strip(), *parents, "-m",
                f"accessctl sweep: {summary}", env=identity)
    if made.returncode != 0:
        return "the sweep's heartbeat could not be recorded: " + made.stderr.decode().strip()
    _git(repo, "update-ref", REF, made.stdout.decode().strip())
    if remote is not None:
        # Not fast-forward only: a heartbeat is a fact about now, not a history to merge.
        pushed = _git(repo, "push", "--quiet", "--force", remote, f"{REF}:{REF}")
        if pushed.returncode != 0:
            return f"the sweep's heartbeat could not be pushed to {remote}"
    return None


def ping(environ: Mapping[str, str], now: datetime, revoked: int,
         timeout: float = 10.0) -> str | None:
    """POST a small JSON body to ACCESSCTL_HEARTBEAT_URL. Returns a warning, or None; a failed
    ping never fails the sweep (the external monitor alerts on the missing ping)."""
    url = environ.get(URL_ENV)
    if not url:
        return None
    if not url.startswith(("https://", "http://")):
        return f"{URL_ENV} must be an http(s) URL: not pinged"
    body = json.dumps({"swept_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "revoked": revoked}).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
    except OSError as error:
        return f"the heartbeat ping to {URL_ENV} failed: {error}"
    return None


def stale_warning(last: datetime | None, now: datetime, schedule: timedelta) -> str | None:
    """A warning when the last sweep is older than STALE_AFTER schedules. Pure."""
    if last is None:
        return None
    if now - last <= schedule * STALE_AFTER:
        return None
    return (f"the last successful revoke sweep ran at {last:%Y-%m-%dT%H:%M:%SZ}, more than "
            f"{STALE_AFTER} schedules ago: expired access may still be held; check the revoke "
            "workflow (GitHub delays, drops and, on inactive public repositories, disables "
            "scheduled runs)")


def warn_if_stale(repo: Path, now: datetime, stream: TextIO) -> None:
    """What apply, validate and status say when the sweep seems to have stopped."""
    warning = stale_warning(last_sweep(repo), now, SCHEDULE)
    if warning:
        stream.write(f"warning: {warning}\n")
