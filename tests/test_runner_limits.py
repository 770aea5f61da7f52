"""The runner's bounds: the run's --concurrency, and an instance's own `max_concurrency`.

The provider here is a stand-in that records how many of its calls are in flight at once (a
platform test server cannot tell the engine's bound from its own thread pool's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from accessctl.change.audit import AuditLog
from accessctl.change.runner import Providers, execute
from accessctl.core.model import Action, Change, Outcome, Policies, Status, Target
from accessctl.read.load import MemorySource, load_policies

from tests.repo_fixture import ENTITLEMENT, IDENTITIES

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PROVIDERS = """\
providers:
  slow:
    platform: aws
    max_concurrency: 2
  fast:
    platform: aws
"""


class InFlight:
    """A provider whose calls take a while and count how many overlap."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls: list[str] = []

    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {t: frozenset() for t in targets}

    def grant(self, change: Change) -> Outcome:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.calls.append(change.principal)
        time.sleep(0.1)  # long enough that calls started together overlap on a busy machine
        with self.lock:
            self.now -= 1
        return Outcome(change, Status.DONE, "granted")

    def revoke(self, change: Change) -> Outcome:
        return self.grant(change)


def policies(text: str = PROVIDERS) -> Policies:
    files = {
        "policies/providers.yaml": text.encode(),
        "policies/identities.yaml": IDENTITIES.encode(),
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="g", exclusive="false").replace(
            "aws-test", "slow").encode(),
    }
    loaded, findings = load_policies(MemorySource(files))
    assert loaded is not None, findings
    return loaded


def changes(instance: str, count: int) -> list[Change]:
    target = Target.build(instance, "aws", "iam_group", {"group": "g"})
    return [Change(Action.GRANT, target, f"{instance}-{n:02}", "prod-admin", "test")
            for n in range(count)]


def run(tmp_path: Path, work: list[Change], concurrency: int
        ) -> tuple[list[Outcome], dict[str, InFlight]]:
    made = Providers(policies(), {})
    doubles = {"slow": InFlight(), "fast": InFlight()}
    made.made.update(doubles)
    audit = AuditLog(tmp_path / "audit.jsonl", None)
    try:
        outcomes = execute(work, made, audit, lambda: NOW, concurrency=concurrency)
    finally:
        audit.close()
    return outcomes, doubles


def test_an_instance_never_gets_more_than_its_max_concurrency(tmp_path: Path) -> None:
    work = changes("slow", 12) + changes("fast", 12)
    outcomes, seen = run(tmp_path, work, concurrency=8)
    assert [o.change for o in outcomes] == work, "outcomes come back in the order given"
    assert all(o.status is Status.DONE for o in outcomes)
    assert seen["slow"].peak == 2
    # The other instance is not held back by the capped one: it fills the rest of the pool.
    assert seen["fast"].peak >= 4
    assert sorted(seen["slow"].calls) == [c.principal for c in work[:12]]


def test_without_a_cap_the_run_bound_holds(tmp_path: Path) -> None:
    outcomes, seen = run(tmp_path, changes("fast", 24), concurrency=3)
    assert len(outcomes) == 24
    assert seen["fast"].peak == 3


def test_max_concurrency_is_checked_by_the_schema() -> None:
    files = {
        "policies/providers.yaml": PROVIDERS.replace("max_concurrency: 2",
                                                     "max_concurrency: 0").encode(),
        "policies/identities.yaml": IDENTITIES.encode(),
    }
    _, findings = load_policies(MemorySource(files))
    problems = [f for f in findings if f.location.path == "policies/providers.yaml"]
    assert problems and problems[0].location.line == 4, [str(f) for f in findings]
    assert "max_concurrency" in problems[0].message or "minimum" in problems[0].message
