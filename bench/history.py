"""What reading the engine's grants from git history costs, at the design's scale.

    .venv/bin/python bench/history.py [--files 10000] [--commits 50000] [--keep DIR]

Builds (with `git fast-import`, in seconds) a repository whose default branch has `--commits`
first-parent commits, of which most touch `access-requests/`: files added, edited (new expiry),
broken, moved and deleted, ending with `--files` request files at HEAD. Then, side by side in
one run: the history scan that apply, revoke and reconcile make on every run
(`accessctl.read.history.request_history`: every version the branch ever held), and loading the
`--files` requests as they stand (what validate and apply already read). Prints the ratio and
the absolute figures; always exits 0 (timings belong here, never in a test assertion).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accessctl.read.history import distinct_pairs, request_history  # noqa: E402
from accessctl.read.load import TreeSource, load_repository  # noqa: E402


def _request(person: int, entitlement: int, day: int, minute: int) -> bytes:
    return (f"requester: user{person:05}\nentitlement: ent{entitlement:03}\n"
            f"reason: bench\nticket: INC-{person}\n"
            f"expires_at: 2026-{1 + day % 12:02}-{1 + day % 28:02}T{minute % 24:02}:00:00Z\n"
            ).encode()


def build(repo: Path, files: int, commits: int, seed: int = 7) -> None:
    """A repository with `commits` first-parent commits ending in `files` request files."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    live: dict[str, tuple[int, int]] = {}
    stream = bytearray()
    mark = 0

    def blob(content: bytes) -> int:
        nonlocal mark
        mark += 1
        stream.extend(b"blob\nmark :%d\ndata %d\n" % (mark, len(content)) + content + b"\n")
        return mark

    counter = 0
    for index in range(commits):
        ops: list[bytes] = []
        # Grow to `files` over the first 40% of commits, then edit, break, move and delete.
        growing = len(live) < files and (index < commits * 0.4 or len(live) < files * 0.98)
        if growing or not live:
            counter += 1
            person, entitlement = rng.randrange(5000), rng.randrange(100)
            path = f"access-requests/ent{entitlement:03}/user{person:05}-r{counter}.yaml"
            live[path] = (person, entitlement)
            ops.append(b"M 100644 :%d %s\n" % (blob(_request(person, entitlement, index, index)),
                                               path.encode()))
        else:
            path = rng.choice(list(live)) if index % 50 else next(iter(live))
            person, entitlement = live[path]
            kind = rng.random()
            if kind < 0.7:  # an edit: new expiry
                ops.append(b"M 100644 :%d %s\n" % (
                    blob(_request(person, entitlement, index, index + 1)), path.encode()))
            elif kind < 0.8:  # broken by an edit
                ops.append(b"M 100644 :%d %s\n" % (blob(b"requester: [\n"), path.encode()))
            elif kind < 0.9 and len(live) > files * 0.98:  # deleted
                del live[path]
                ops.append(b"D %s\n" % path.encode())
            else:  # replaced by a new request (a move)
                del live[path]
                counter += 1
                moved = f"access-requests/ent{entitlement:03}/user{person:05}-r{counter}.yaml"
                live[moved] = (person, entitlement)
                ops.append(b"D %s\n" % path.encode())
                ops.append(b"M 100644 :%d %s\n" % (
                    blob(_request(person, entitlement, index, index)), moved.encode()))
        message = b"change %d\n" % index
        stream.extend(b"commit refs/heads/main\ncommitter bench <b@example.test> %d +0000\n"
                      b"data %d\n%s" % (1_700_000_000 + index * 60, len(message), message))
        stream.extend(b"".join(ops))
        stream.extend(b"\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=bytes(stream),
                   check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)
    subprocess.run(["git", "-C", str(repo), "gc", "-q"], check=True)


T = TypeVar("T")


def timed(run: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="accessctl-history-"))
    repo = work / "repo"
    try:
        if not (repo / ".git").is_dir():
            built, _ = timed(lambda: build(repo, args.files, args.commits))
            print(f"built {args.commits} commits in {built:.1f} s")
        here, loaded = timed(lambda: load_repository(TreeSource(repo)))
        scan, history = timed(lambda: request_history(repo))
        pairs = distinct_pairs(history.requests)
        print(f"requests at HEAD: {len(loaded.requests)}, loaded in {here:.2f} s")
        print(f"history: {history.commits} commits, {history.versions} versions, "
              f"{len(history.requests)} loadable, {len(pairs)} pairs, "
              f"scanned in {scan:.2f} s")
        print(f"history scan / loading HEAD: {scan / here:.2f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
