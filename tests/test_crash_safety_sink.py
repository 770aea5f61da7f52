"""The SIGKILL tests again, as on a CI runner: every run starts in a fresh working directory (a
new copy of the repository, a new audit file) and the S3 audit sink is the only memory.

Each run is `python -m accessctl.cli apply|revoke --confirm --audit-sink s3://...` as a
subprocess, against the GitLab emulator (in this process, 50 ms per answer) and moto in server
mode as S3. A run is killed when its own audit file holds a given number of lines; the next run,
in a new directory, must find the killed run's unfinished `started` lines in the sink, observe
the platform and record how each ended. In the end the sink alone must show every grant with
exactly one `done`, and every `started` line an outcome after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from accessctl.commands.skip_approval import CI_VARIABLES
from accessctl.emulators.aws import TEST_CREDENTIALS

from tests.faults_world import World, audit_outcomes, build, hours, stamp, unfinished
from tests.servers import moto_server
from tests.test_crash_safety import (
    CONCURRENCY,
    GRANTS,
    LATENCY,
    PEOPLE,
    kill_when,
    settled_log_length,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server.running() as endpoint:
        yield endpoint


class Runs:
    """Runs that share nothing but the platform and the sink."""

    def __init__(self, world: World, workspace: Path, endpoint: str, bucket: str) -> None:
        self.world = world
        self.workspace = workspace
        self.endpoint = endpoint
        self.bucket = bucket
        self.count = 0
        self.s3 = moto_server.client("s3", endpoint)
        self.s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        self.s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})

    def start(self, command: str, now: datetime, *extra: str
              ) -> tuple[subprocess.Popen[bytes], Path]:
        self.count += 1
        folder = self.workspace / f"run-{self.count}"
        shutil.copytree(self.world.root, folder / "repo")  # a fresh checkout, nothing kept
        audit = folder / "audit.jsonl"
        inherited = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
        env = {**inherited, **self.world.environ(), **TEST_CREDENTIALS,
               "AWS_ENDPOINT_URL_S3": self.endpoint,
               "PYTHONPATH": os.pathsep.join((str(ROOT / "engine"), str(ROOT)))}
        process = subprocess.Popen(
            [sys.executable, "-m", "accessctl.cli", command, "--repo", str(folder / "repo"),
             *extra, "--confirm", "--audit-file", str(audit),
             "--audit-sink", f"s3://{self.bucket}/audit/prod",
             "--now", stamp(now), "--concurrency", str(CONCURRENCY)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return process, audit

    def finish(self, command: str, now: datetime, *extra: str) -> None:
        process, _ = self.start(command, now, *extra)
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()

    def kill_at(self, command: str, now: datetime, lines: int, *extra: str) -> int:
        process, audit = self.start(command, now, *extra)
        kill_when(process, lambda: _lines(audit), lines)
        settled_log_length(self.world)
        return _lines(audit)

    def sink_events(self) -> list[dict[str, Any]]:
        """Every line in the sink, in key order (runs by start time, batches in order)."""
        keys = [item["Key"]
                for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
                for item in page.get("Contents", ())]
        events = []
        for key in sorted(k for k in keys if k.endswith(".jsonl")):
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
            events += [json.loads(line) for line in body.splitlines()]
        return events


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("kill_points", [
    pytest.param([1], id="after-first-line"),
    pytest.param([GRANTS // 2], id="midway"),
    pytest.param([1, GRANTS // 3, GRANTS // 2], id="killed-three-times"),
])
def test_killed_apply_on_fresh_runners_converges_with_the_sink_as_memory(
        tmp_path: Path, s3_endpoint: str, kill_points: list[int]) -> None:
    with build(tmp_path, ("gitlab",), targets_per_platform=2, people=PEOPLE) as world:
        wanted, unmanaged = world.wanted(), world.unmanaged_pairs()
        world.set_faults(0.0, 0, latency=LATENCY)
        runs = Runs(world, tmp_path, s3_endpoint, f"audit-apply-{len(kill_points)}-"
                    f"{kill_points[-1]}")
        killed_at = [runs.kill_at("apply", hours(1), point, "--skip-approval")
                     for point in kill_points]
        runs.finish("apply", hours(1), "--skip-approval")

        held = world.held()
        assert set(held) == wanted | unmanaged
        adds = world.writes("add")
        assert set(adds) == wanted and set(adds.values()) == {1}, "a pair was granted twice"

        events = runs.sink_events()
        grants = audit_outcomes(events, "grant")
        assert set(grants) == wanted, "a grant the platform holds is missing from the sink"
        assert all(outcomes == ["done"] for outcomes in grants.values()), \
            "an audit line was repeated or a grant failed"
        assert unfinished(events) == []
        recovered = [e for e in events if "finished for an interrupted run"
                     in (e.get("detail") or "")]
        print(f"\nkills at {killed_at} lines; {len(events)} lines in the sink; "
              f"{len(recovered)} changes finished for killed runs")


def test_killed_revoke_on_fresh_runners_audits_every_removal_once(
        tmp_path: Path, s3_endpoint: str) -> None:
    with build(tmp_path, ("gitlab",), targets_per_platform=2, people=PEOPLE) as world:
        wanted, unmanaged = world.wanted(), world.unmanaged_pairs()
        runs = Runs(world, tmp_path, s3_endpoint, "audit-revoke")
        runs.finish("apply", hours(1), "--skip-approval")
        world.set_faults(0.0, 0, latency=LATENCY)
        runs.kill_at("revoke", hours(5), GRANTS // 3)
        runs.finish("revoke", hours(5))

        assert set(world.held()) == unmanaged, "the sweep removed ours, and only ours"
        removes = world.writes("remove")
        assert set(removes) == wanted and set(removes.values()) == {1}, "a pair removed twice"
        events = runs.sink_events()
        revokes = audit_outcomes(events, "revoke")
        assert set(revokes) == wanted, "a removal the platform made is missing from the sink"
        assert all(outcomes == ["done"] for outcomes in revokes.values()), revokes
        assert unfinished(events) == []
        assert Counter(e["outcome"] for e in events if e["action"] == "grant") == Counter(
            {"started": GRANTS, "done": GRANTS})
