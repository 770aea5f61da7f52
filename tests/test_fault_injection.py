"""apply and the revoke sweep under injected faults: 20% of all requests to every platform fail
(500, 503, 429 with Retry-After: 0, dropped connections), and the engine still converges.

Each case builds its emulators, asks `accessctl apply --skip-approval --confirm` (in-process, the
real CLI) up to three times, then moves the clock past every expiry and asks `accessctl revoke
--confirm` up to three times. What is checked comes from the platforms themselves (their state and
their request logs) and from the audit file, never from the engine's own account:

- every requested grant is in place after at most three runs, and gone after the sweep;
- no pair was ever written twice: one successful add (and later one successful remove) per
  (target, principal) over all runs, and no platform lists a member twice;
- the 20 members no request names are still there, and no remove was ever sent for them;
- the audit file holds exactly one `done` per grant and per revoke, preceded only by `failed`.

Cases: each platform alone, and the full drill of 1,000 requests on all four at once, both at the
default --concurrency 8.

The engine's retry policy (5 attempts, backoff from 0.2 s) cannot be shortened from the CLI;
Retry-After: 0 keeps the 429s cheap, dropped connections still back off with jitter.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_runner import Result, invoke
from tests.faults_world import (
    OKTA_HTTPS_CHECK_OFF,
    PLATFORMS,
    Pair,
    World,
    audit_outcomes,
    build,
    hours,
    read_audit,
    unfinished,
)

RATE = 0.2
EXPIRY = hours(4)
"""When every request of the drill expires (faults_world writes it)."""
MAX_RUNS = 3

@pytest.fixture(autouse=True)
def _okta_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # The okta SDK reads this from the process environment, not from the engine's environ.
    monkeypatch.setenv(OKTA_HTTPS_CHECK_OFF, "true")


def run_until(world: World, command: str, now: datetime, concurrency: int,
              settled: Callable[[], bool]) -> list[tuple[Result, float]]:
    """Run `command` until the platforms' state is `settled`, at most MAX_RUNS times. The
    engine's clock starts at `now` and runs with the wall clock, as a schedule that starts at
    `now` would see it: a revocation's lag is then how long the sweep really took to end it."""
    runs: list[tuple[Result, float]] = []
    extra = ["--skip-approval"] if command == "apply" else []
    first = time.monotonic()

    def clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - first)

    for _ in range(MAX_RUNS):
        started = time.monotonic()
        result = invoke(command, "--repo", str(world.root), "--confirm", "--audit-file",
                        str(world.audit_file), "--concurrency", str(concurrency), *extra,
                        environ=world.environ(), clock=clock)
        runs.append((result, time.monotonic() - started))
        assert result.code in (0, 1), result.err  # 1: some change or observation failed
        if settled():
            break
    return runs


def exactly_one_done(outcomes: dict[Pair, list[str]], pairs: set[Pair]) -> list[str]:
    """Pairs whose events are not `failed`* then one `done`, described for the failure message."""
    wrong = []
    for pair in sorted(pairs):
        seen = outcomes.get(pair, [])
        if not seen or seen[-1] != "done" or any(o != "failed" for o in seen[:-1]):
            wrong.append(f"{pair}: {seen}")
    return wrong


def converge_under_faults(tmp_path: Path, platforms: tuple[str, ...], targets: int,
                          people: int, concurrency: int, seed: int) -> None:
    with build(tmp_path, platforms, targets_per_platform=targets, people=people) as world:
        wanted, unmanaged = world.wanted(), world.unmanaged_pairs()
        assert len(wanted) == len(platforms) * targets * people
        assert len(unmanaged) == 20 and not wanted & unmanaged
        world.set_faults(RATE, seed)

        # -- grant ------------------------------------------------------------------------------
        applies = run_until(world, "apply", hours(1), concurrency,
                            lambda: wanted <= set(world.held()))
        held = world.held()
        missing = sorted(wanted - set(held))
        assert not missing, (
            f"{len(missing)} grants still missing after {len(applies)} runs, e.g. {missing[:5]}\n"
            + applies[-1][0].err[-3000:])
        assert max(held.values()) == 1, [p for p, n in held.items() if n > 1]
        assert unmanaged <= set(held), sorted(unmanaged - set(held))

        adds = world.writes("add")
        assert {p for p, n in adds.items() if n > 1} == set(), "a pair was added twice"
        assert set(adds) == wanted, "every grant is one successful write, and only those"
        assert world.writes("update") == Counter() and world.writes("remove") == Counter()

        events = read_audit(world.audit_file)
        grants = audit_outcomes(events, "grant")
        assert set(grants) == wanted
        assert exactly_one_done(grants, wanted) == []
        assert audit_outcomes(events, "revoke") == {}
        failed_grants = sum(o.count("failed") for o in grants.values())

        injected = world.injected()
        # The faults really happened, on every platform.
        assert all(n > 0 for n in injected.values()), injected
        assert sum(injected.values()) >= 0.1 * world.requests_made()
        requests_for_grants = world.requests_made()

        # -- sweep, past every expiry -----------------------------------------------------------
        # Starting at the moment every request expires (faults_world writes hours(4)).
        sweeps = run_until(world, "revoke", EXPIRY, concurrency,
                           lambda: not wanted & set(world.held()))
        held = world.held()
        left = sorted(wanted & set(held))
        assert not left, (f"{len(left)} grants outlived the sweep, e.g. {left[:5]}\n"
                          + sweeps[-1][0].err[-3000:])
        assert unmanaged <= set(held), sorted(unmanaged - set(held))
        assert set(held) == unmanaged

        removes = world.writes("remove")
        assert {p for p, n in removes.items() if n > 1} == set(), "a pair was removed twice"
        assert set(removes) == wanted, "the sweep removed exactly what requests had granted"
        assert world.writes("add") == adds, "the sweep never grants"

        events = read_audit(world.audit_file)
        revokes = audit_outcomes(events, "revoke")
        assert set(revokes) == wanted
        assert exactly_one_done(revokes, wanted) == []
        # Every platform write was announced by a `started` line and finished by an outcome.
        assert unfinished(events) == []
        assert sum(e["outcome"] == "started" for e in events) == sum(
            e["outcome"] != "started" for e in events if e["action"] in ("grant", "revoke"))
        assert audit_outcomes(events, "grant") == grants
        # Every revocation carries its lag (issue 16): how long after expiry access ended.
        lags = sorted(e["lag_seconds"] for e in events
                      if e["action"] == "revoke" and e["outcome"] == "done")
        assert len(lags) == len(wanted) and lags[0] >= 0, lags[:5]
        worst, p95 = lags[-1], lags[max(0, -(-95 * len(lags) // 100) - 1)]

        print(  # -s shows the figures
            f"\n{'+'.join(platforms)}: {len(wanted)} grants, concurrency {concurrency}; "
            f"apply runs {[round(t, 1) for _, t in applies]} s, "
            f"revoke runs {[round(t, 1) for _, t in sweeps]} s; "
            f"{requests_for_grants} requests to grant, {world.requests_made()} in all, "
            f"faults injected {dict(injected)} (while granting); failed grant events "
            f"{failed_grants}, failed revoke events "
            f"{sum(o.count('failed') for o in revokes.values())}; revocation lag worst "
            f"{worst:.0f} s, p95 {p95:.0f} s")


@pytest.mark.parametrize("platform", ["gitlab", "github", "okta", "entra"])
def test_one_platform_converges(tmp_path: Path, platform: str) -> None:
    """One target with 75 requested members and 20 unmanaged, at the default concurrency (8
    worker threads on one provider object: the async SDKs' calls share one event loop)."""
    converge_under_faults(tmp_path, (platform,), targets=1, people=75,
                          concurrency=8, seed=sum(map(ord, platform)))


def test_thousand_requests_on_four_platforms_converge(tmp_path: Path) -> None:
    """The full drill: Okta, GitLab, GitHub teams and Entra groups, two targets each, 125 people
    asking for all eight: 1,000 grants at the default concurrency."""
    converge_under_faults(tmp_path, PLATFORMS, targets=2, people=125, concurrency=8, seed=5)
