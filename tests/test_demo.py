"""`accessctl demo` runs the whole lifecycle on local servers and tells the truth about it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_runner import invoke

ROOT = Path(__file__).resolve().parents[1]


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = invoke("demo", "--repo", str(ROOT), "--keep", str(tmp_path))
    assert result.code == 0, result.out[-3000:] + result.err
    out = result.out
    assert "IAM group prod-admins now: alice" in out
    assert "IAM group prod-admins now: nobody" in out
    assert "not a code owner of the file on the base commit" in out
    assert 'request.time < timestamp("2026-11-23T11:00:00Z")' in out
    assert "| alice | aws-prod-admin | expired | carol |" in out
    assert "| bob | aws-prod-admin | rejected |" in out
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    outcomes = [(e["action"], e["principal"], e["outcome"]) for e in audit
                if e["outcome"] != "started"]
    # deny bob, grant alice, grant carol, revoke alice, revoke carol; each write announced first
    assert len(outcomes) == 5, outcomes
    assert sum(e["outcome"] == "started" for e in audit) == 4
