"""A run killed with SIGKILL mid-apply, then run again: the platform converges, nothing is granted
twice, the audit file has no torn line, and no change goes unaudited.

`python -m accessctl.cli apply --skip-approval --confirm` runs as a subprocess against the GitLab
emulator, which lives in this test process (so it survives the kill) and answers every request
after 50 ms. The test polls the audit file and kills the process when it holds a given number of
lines: after the first line, midway, near the end.

A kill can land between a platform write's answer and its outcome line. Before each write the
engine records (and fsyncs) a `started` line; the next run finds started changes with no outcome,
observes the platform, and records how each ended (change/journal.py). The tests check that in the
end every grant has exactly one `done`, and every `started` line an outcome after it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from accessctl.commands.skip_approval import CI_VARIABLES

from tests.faults_world import (
    Pair,
    World,
    audit_outcomes,
    build,
    hours,
    read_audit,
    stamp,
    unfinished,
)

ROOT = Path(__file__).resolve().parent.parent
PEOPLE = 60  # x 2 targets = 120 grants
GRANTS = 2 * PEOPLE
CONCURRENCY = 8
LATENCY = 0.05


def start_apply(world: World) -> subprocess.Popen[bytes]:
    return start(world, "apply", hours(1), "--skip-approval")


def start(world: World, command: str, now: datetime, *extra: str) -> subprocess.Popen[bytes]:
    # A local run even when this suite runs in CI, where --skip-approval would be refused.
    inherited = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env = {**inherited, **world.environ(), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "accessctl.cli", command, "--repo", str(world.root),
         *extra, "--confirm", "--audit-file", str(world.audit_file),
         "--now", stamp(now), "--concurrency", str(CONCURRENCY)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def audit_lines(world: World) -> int:
    try:
        return world.audit_file.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def kill_at(world: World, process: subprocess.Popen[bytes], lines: int) -> int:
    """SIGKILL the run once the audit file holds `lines` lines; the lines it held then."""
    kill_when(process, lambda: audit_lines(world), lines)
    return audit_lines(world)


def kill_when(process: subprocess.Popen[bytes], count: Callable[[], int], lines: int) -> None:
    """SIGKILL `process` once `count()` (audit lines written) reaches `lines`."""
    deadline = time.monotonic() + 60
    while count() < lines:
        assert process.poll() is None, (
            f"the run ended before the kill point ({lines} lines): "
            + (process.stderr.read().decode() if process.stderr else ""))
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def settled_log_length(world: World) -> int:
    """The emulator's log length once requests the dead process had sent are all answered."""
    gitlab = world.emulators["gitlab"]
    last, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 10
    while time.monotonic() < deadline:
        with gitlab.lock:
            now = len(gitlab.log)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since > 4 * LATENCY + 0.2:
            return now
        time.sleep(0.02)
    raise AssertionError("the emulator kept receiving requests after the kill")


def adds_by_run(world: World, marks: list[int]) -> dict[Pair, int]:
    """Pair -> index of the run whose successful add it was, from the emulator's log positions."""
    gitlab = world.emulators["gitlab"]
    found: dict[Pair, int] = {}
    with gitlab.lock:
        entries = list(gitlab.log)
    for position, entry in enumerate(entries):
        if 200 <= entry.status < 300:
            written = world.membership_write("gitlab", entry)
            if written is not None and written[0] == "add":
                slot = next(s for s in world.slots if s.ref == written[1])
                run = next(n for n, mark in enumerate(marks) if position < mark)
                found[(slot.entitlement, written[2].casefold())] = run
    return found


@pytest.mark.parametrize("kill_points", [
    pytest.param([1], id="after-first-line"),
    pytest.param([GRANTS // 2], id="midway"),
    pytest.param([GRANTS - 10], id="near-the-end"),
    # Cumulative line counts: each kill may cost up to CONCURRENCY lines for good, so the later
    # points stay below what three kills leave reachable.
    pytest.param([1, GRANTS // 3, 2 * GRANTS // 3], id="killed-three-times"),
])
def test_killed_apply_converges_without_duplicates(tmp_path: Path, kill_points: list[int]
                                                   ) -> None:
    with build(tmp_path, ("gitlab",), targets_per_platform=2, people=PEOPLE) as world:
        wanted, unmanaged = world.wanted(), world.unmanaged_pairs()
        assert len(wanted) == GRANTS
        world.set_faults(0.0, 0, latency=LATENCY)

        marks: list[int] = []  # the emulator's log length when each run ended
        killed_at = []
        started = time.monotonic()
        for point in kill_points:
            killed_at.append(kill_at(world, start_apply(world), point))
            marks.append(settled_log_length(world))
        final = start_apply(world)
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()
        marks.append(sys.maxsize)
        elapsed = time.monotonic() - started

        # Converged, with one successful write per pair over all runs.
        held = world.held()
        assert set(held) == wanted | unmanaged
        assert max(held.values()) == 1
        adds = world.writes("add")
        assert set(adds) == wanted and set(adds.values()) == {1}, "a pair was granted twice"
        assert world.writes("remove") == Counter() and world.writes("update") == Counter()

        # No torn line: every line parses (read_audit fails loudly otherwise), the last one whole.
        assert world.audit_file.read_bytes().endswith(b"\n")
        events = read_audit(world.audit_file)
        grants = audit_outcomes(events, "grant")
        assert all(outcomes == ["done"] for outcomes in grants.values()), \
            "an audit line was repeated or a grant failed"
        assert set(grants) == wanted, "a grant the platform holds is missing from the audit"
        assert unfinished(events) == []

        # Grants whose outcome a later run recorded, per killed run: at most what was in flight.
        run_of = adds_by_run(world, marks)
        recovered = [e for e in events if e["outcome"] == "done"
                     and "finished for an interrupted run" in (e.get("detail") or "")]
        per_kill = Counter(run_of[(str(e["entitlement"]), str(e["principal"]).casefold())]
                           for e in recovered)
        final_run = len(kill_points)
        assert final_run not in per_kill, "the run that completed left nothing to recover"
        assert all(n <= CONCURRENCY for n in per_kill.values()), per_kill
        assert set(grants) <= wanted
        print(f"\nkills at {killed_at} audit lines; {len(events)} lines in the end; "
              f"grants recovered per killed run {dict(per_kill)}; "
              f"grants per run {dict(sorted(Counter(run_of.values()).items()))}; "
              f"{elapsed:.1f} s")


@pytest.mark.parametrize("kill_point", [GRANTS // 3, GRANTS - 10], ids=["early", "late"])
def test_killed_revoke_converges_and_audits_every_removal_once(tmp_path: Path,
                                                               kill_point: int) -> None:
    with build(tmp_path, ("gitlab",), targets_per_platform=2, people=PEOPLE) as world:
        wanted, unmanaged = world.wanted(), world.unmanaged_pairs()
        applied = start_apply(world)
        assert applied.wait(timeout=120) == 0
        world.set_faults(0.0, 0, latency=LATENCY)
        before = audit_lines(world)

        # Past every expiry: the sweep removes all 120, and is killed on the way.
        kill_at(world, start(world, "revoke", hours(5)), before + kill_point)
        settled_log_length(world)
        final = start(world, "revoke", hours(5))
        _, err = final.communicate(timeout=120)
        assert final.returncode == 0, err.decode()

        held = world.held()
        assert set(held) == unmanaged, "the sweep removed ours, and only ours"
        removes = world.writes("remove")
        assert set(removes) == wanted and set(removes.values()) == {1}, "a pair removed twice"

        events = read_audit(world.audit_file)
        revokes = audit_outcomes(events, "revoke")
        assert set(revokes) == wanted, "a removal the platform made is missing from the audit"
        assert all(outcomes == ["done"] for outcomes in revokes.values()), revokes
        assert unfinished(events) == []
