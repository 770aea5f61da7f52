"""The revoke sweep's speed-ups keep its behaviour: targets observed in parallel (where the
provider allows it), GitLab revokes with the member ids observe saw, a short outcome table."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from accessctl.change.audit import AuditLog
from accessctl.change.retry import RetryPolicy
from accessctl.change.runner import Providers, execute, observe
from accessctl.core.model import (
    Action,
    Change,
    Outcome,
    Policies,
    ProviderInstance,
    Status,
    Target,
)
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.http import Request, Response
from accessctl.providers.gitlab import PARALLEL_READS
from accessctl.report.render import print_outcomes

TOKEN_ENV = "SWEEP_TEST_TOKEN"
FAST = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0)


class CountingEmulator(GitLabEmulator):
    """Counts requests in flight at once; each waits a little so overlaps show."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self._count_lock = threading.Lock()

    def dispatch(self, request: Request) -> Response:
        with self._count_lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.05)
            return super().dispatch(request)
        finally:
            with self._count_lock:
                self.in_flight -= 1


@pytest.fixture
def emulator() -> Iterator[CountingEmulator]:
    with CountingEmulator() as running:
        assert isinstance(running, CountingEmulator)
        yield running


def world(emulator: CountingEmulator, groups: int, people: int) -> tuple[Providers, list[Target]]:
    instance = ProviderInstance("gl", "gitlab", {"url": emulator.base_url,
                                                 "token_env": TOKEN_ENV})
    policies = Policies({}, {}, {}, {"gl": instance}, ())
    targets = []
    for person in range(people):
        emulator.add_user(f"user-{person}")
    emulator.add_group("acme")
    for number in range(groups):
        path = f"acme/g-{number}"
        emulator.add_group(path)
        for person in range(people):
            emulator.add_member(path, f"user-{person}", 30, kind="groups")
        targets.append(Target.build("gl", "gitlab", "group",
                                    {"group": path, "access_level": "developer"}))
    return Providers(policies, {TOKEN_ENV: emulator.token}), targets


def test_targets_of_one_instance_are_observed_in_parallel(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=8, people=2)
    seen = observe(providers, targets, FAST, concurrency=4)
    assert seen.failures == {}
    assert set(seen.observed) == set(targets)
    assert all(members == {"user-0", "user-1"} for members in seen.observed.values())
    assert all(seen.native[t] for t in targets)
    assert 1 < emulator.most_in_flight <= 4


def test_concurrency_one_observes_one_at_a_time(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=4, people=1)
    seen = observe(providers, targets, FAST, concurrency=1)
    assert set(seen.observed) == set(targets)
    assert emulator.most_in_flight == 1


def test_a_failing_part_fails_the_whole_instance(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=4, people=1)
    missing = Target.build("gl", "gitlab", "group",
                           {"group": "acme/nope", "access_level": "developer"})
    seen = observe(providers, [*targets, missing], FAST, concurrency=4)
    assert list(seen.failures) == ["gl"]
    assert seen.observed == {}


def test_a_revoke_after_observe_is_one_delete(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=2, people=3)
    observe(providers, targets, FAST, concurrency=2)
    emulator.reset_log()
    changes = [Change(Action.REVOKE, t, f"user-{p}", "ent", "expired", f"user-{p}")
               for t in targets for p in range(3)]
    outcomes = execute(changes, providers, AuditLog(None, io.StringIO()),
                       lambda: datetime.now(UTC), retry=FAST, concurrency=4)
    assert [o.status for o in outcomes] == [Status.DONE] * 6
    assert emulator.count() == 6 == emulator.count("DELETE")
    assert all(emulator.members(t.param("group"), kind="groups") == {} for t in targets)


def test_a_revoke_without_observe_still_looks_the_user_up(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=1, people=1)
    change = Change(Action.REVOKE, targets[0], "user-0", "ent", "expired", "user-0")
    outcomes = execute([change], providers, AuditLog(None, io.StringIO()),
                       lambda: datetime.now(UTC), retry=FAST)
    assert outcomes[0].status is Status.DONE
    assert emulator.count("GET", "/api/v4/users") == 1


def test_member_pages_after_the_first_are_read_side_by_side(emulator: CountingEmulator) -> None:
    providers, targets = world(emulator, groups=1, people=450)  # five pages of 100
    seen = observe(providers, targets, FAST)
    assert seen.observed[targets[0]] == {f"user-{p}" for p in range(450)}
    assert emulator.count("GET", "/api/v4/groups/") == 5  # one request per page, as before
    assert 1 < emulator.most_in_flight <= PARALLEL_READS


class NoTotalEmulator(CountingEmulator):
    """GitLab leaves X-Total-Pages out above 10,000 rows: only the `next` links remain."""

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        response.headers.pop("X-Total-Pages", None)
        response.headers.pop("X-Total", None)
        return response


def test_without_a_page_count_the_pages_follow_the_links() -> None:
    with NoTotalEmulator() as running:
        assert isinstance(running, NoTotalEmulator)
        providers, targets = world(running, groups=1, people=250)
        seen = observe(providers, targets, FAST)
        assert seen.observed[targets[0]] == {f"user-{p}" for p in range(250)}
        assert running.count("GET", "/api/v4/groups/") == 3
        assert running.most_in_flight == 1


def outcomes(done: int, failed: int) -> list[Outcome]:
    target = Target.build("gl", "gitlab", "group", {"group": "acme/g", "access_level": "guest"})
    result = []
    for number in range(done + failed):
        change = Change(Action.REVOKE, target, f"user-{number}", "ent", "expired", "p")
        result.append(Outcome(change, Status.FAILED if number < failed else Status.DONE,
                              "boom" if number < failed else "removed"))
    return result


def test_a_long_outcome_table_lists_only_failures_and_counts() -> None:
    stream = io.StringIO()
    print_outcomes(stream, outcomes(done=98, failed=2))
    text = stream.getvalue()
    assert text.startswith("Outcomes (100): 98 done, 2 failed; only the failed rows")
    assert "user-0 " in text and "user-1 " in text and "user-2 " not in text
    assert text.count("boom") == 2


def test_a_short_outcome_table_lists_every_row() -> None:
    stream = io.StringIO()
    print_outcomes(stream, outcomes(done=10, failed=1))
    text = stream.getvalue()
    assert "Outcomes (11)" in text
    assert all(f"user-{n} " in text for n in range(11))
