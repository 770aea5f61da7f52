"""Lateness is measured, and a sweep that stopped is noticed.

GitHub emulator through PyGithub, AWS IAM on moto; the heartbeat's receiver is a local HTTP
server standing in for an external dead man's switch (healthchecks.io, Cronitor...).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import World, hours, stamp

EXPIRY = hours(3)


def granted(world: World) -> None:
    _path, number = world.ask("alice")
    world.approve(number, "carol")
    world.merge(number)
    assert world.apply().code == 0
    assert world.members() == {"alice"}


def sweep(world: World, now: datetime, *args: str, **environ: str) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"), *args,
                  environ={**world.env, **environ}, now=now)


def test_every_revoke_records_its_expiry_and_lag(world: World, tmp_path: Path) -> None:
    granted(world)
    summary = tmp_path / "summary.md"
    result = sweep(world, EXPIRY + timedelta(minutes=20), "--summary", str(summary))
    assert result.code == 0, result.err
    [event] = [e for e in result.events() if e["action"] == "revoke"]
    assert event["expires_at"] == stamp(EXPIRY)
    assert event["lag_seconds"] == 20 * 60
    assert "20m after expiry at worst, 20m at the 95th percentile (1 measured)" in \
        summary.read_text()


@pytest.mark.parametrize("limit, code", [("10m", 1), ("30m", 0)])
def test_max_lag_turns_a_late_sweep_red(world: World, limit: str, code: int) -> None:
    granted(world)
    result = sweep(world, EXPIRY + timedelta(minutes=20), "--max-lag", limit)
    assert result.code == code, result.err
    assert world.members() == set(), "the late revocation still happens"
    assert ("late: 1 revocation(s) came more than 10m after their expiry" in result.err) == \
        (code == 1)


def test_a_bad_max_lag_is_a_usage_error(world: World) -> None:
    result = sweep(world, EXPIRY, "--max-lag", "soon")
    assert result.code == 2 and "--max-lag" in result.err and "Traceback" not in result.err


def test_no_lag_is_made_up_for_a_grant_whose_file_is_gone(world: World) -> None:
    granted(world)
    number = world.propose("alice", {"access-requests/prod-admin/alice-x.yaml": None},
                           at=hours(1.1))
    world.merge(number, at=hours(1.2))
    [event] = [e for e in sweep(world, hours(1.5)).events() if e["action"] == "revoke"]
    assert "lag_seconds" not in event and "expires_at" not in event


def swept_at(world: World) -> str:
    return subprocess.run(["git", "-C", str(world.workspace), "log", "-1", "--format=%cI",
                           "refs/accessctl/swept"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_successful_sweep_leaves_a_heartbeat_that_apply_reads_back(world: World) -> None:
    granted(world)
    assert sweep(world, hours(2)).code == 0
    assert swept_at(world) == "2026-11-23T11:00:00+00:00"
    # Within three schedules (45 minutes) nothing is said; after, apply and validate warn.
    assert "last successful revoke sweep" not in world.apply(hours(2.5)).err
    stale = world.apply(hours(3.5))
    assert "the last successful revoke sweep ran at 2026-11-23T11:00:00Z" in stale.err
    checked = invoke("validate", "--repo", str(world.workspace), now=hours(3.5))
    assert "the last successful revoke sweep ran at" in checked.err


def test_a_dry_run_leaves_no_heartbeat(world: World) -> None:
    granted(world)
    result = invoke("revoke", "--repo", str(world.workspace), environ=world.env, now=hours(2))
    assert result.code == 0
    done = subprocess.run(["git", "-C", str(world.workspace), "rev-parse", "--verify",
                           "--quiet", "refs/accessctl/swept"], capture_output=True)
    assert done.returncode != 0


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    got: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            got.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", got
    finally:
        server.shutdown()


def test_the_heartbeat_url_is_pinged_after_every_successful_sweep(
        world: World, receiver: tuple[str, list[dict[str, object]]]) -> None:
    url, got = receiver
    granted(world)
    assert sweep(world, EXPIRY + timedelta(minutes=5), ACCESSCTL_HEARTBEAT_URL=url).code == 0
    assert got == [{"swept_at": "2026-11-23T12:05:00Z", "revoked": 1}]


def test_a_failed_ping_never_fails_the_sweep(world: World) -> None:
    granted(world)
    result = sweep(world, EXPIRY, ACCESSCTL_HEARTBEAT_URL="http://127.0.0.1:9/nothing")
    assert result.code == 0
    assert "the heartbeat ping to ACCESSCTL_HEARTBEAT_URL failed" in result.err
    assert world.members() == set()
