"""HTTP requests per change and changes per second on each platform emulator, side by side.

For each of Okta, GitLab, GitHub (teams) and Entra (groups): one emulator with a fixed latency per
request (default 50 ms, served concurrently), one target, N people asking for it. `accessctl apply
--skip-approval --confirm` grants all N, then `accessctl revoke --confirm` past every expiry
removes them, both in-process through the real CLI, the real SDKs and HTTP. Each phase prints its
wall time, changes per second, and every request the emulator saw (observe and look-ups included)
divided by the changes; a `plan` (SDK import and one observation) runs first, on its own row.
Run: `.venv/bin/python bench/platforms.py [--people 200] [--latency 0.05]`.

Nothing is asserted: the figures are for reading next to each other (the same machine, one run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cli_runner import invoke
from tests.faults_world import OKTA_HTTPS_CHECK_OFF, PLATFORMS, World, build, hours, stamp


@dataclass(frozen=True)
class Phase:
    platform: str
    command: str
    changes: int
    seconds: float
    requests: int
    exit_code: int

    def row(self) -> str:
        if self.command == "plan":
            return (f"| {self.platform} | plan (SDK import, observe) | - | {self.seconds:.2f} s "
                    f"| - | {self.requests} requests | {self.exit_code} |")
        rate = self.changes / self.seconds if self.seconds else 0.0
        per = self.requests / self.changes if self.changes else 0.0
        return (f"| {self.platform} | {self.command} | {self.changes} | {self.seconds:.2f} s "
                f"| {rate:.0f}/s | {per:.2f} | {self.exit_code} |")


def measure(world: World, platform: str, command: str, at: str, concurrency: int,
            changes: int) -> Phase:
    before = world.requests_made()
    args = ["--repo", str(world.root), "--now", at]
    if command != "plan":
        args += ["--confirm", "--audit-file", str(world.audit_file),
                 "--concurrency", str(concurrency)]
    if command == "apply":
        args.append("--skip-approval")
    started = time.perf_counter()
    result = invoke(command, *args, environ=world.environ())
    seconds = time.perf_counter() - started
    return Phase(platform, command, changes, seconds, world.requests_made() - before, result.code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--platform", action="append", choices=PLATFORMS,
                        help="only this platform (repeatable); default: all")
    args = parser.parse_args()
    os.environ[OKTA_HTTPS_CHECK_OFF] = "true"  # the okta SDK reads it from the process

    print(f"{args.people} grants then {args.people} revocations per platform, "
          f"{args.latency * 1000:.0f} ms per request, --concurrency {args.concurrency}\n")
    print("| platform | command | changes | wall | rate | HTTP requests per change | exit |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for platform in args.platform or PLATFORMS:
        with tempfile.TemporaryDirectory() as workspace, \
                build(Path(workspace), (platform,), targets_per_platform=1,
                      people=args.people, unmanaged=0) as world:
            world.set_faults(0.0, seed=0, latency=args.latency)
            # The first command of a process imports the platform's SDK (seconds for okta and
            # msgraph): a plan first, shown on its own row, keeps that out of the apply's rate.
            print(measure(world, platform, "plan", stamp(hours(1)), args.concurrency,
                          args.people).row(), flush=True)
            for command, at in (("apply", stamp(hours(1))), ("revoke", stamp(hours(5)))):
                phase = measure(world, platform, command, at, args.concurrency, args.people)
                print(phase.row(), flush=True)


if __name__ == "__main__":
    main()
