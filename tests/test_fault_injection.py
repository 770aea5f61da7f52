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

Cases: each platform alone (GitLab and GitHub at the default --concurrency 8, Okta and Entra one
change at a time), and the full drill of 1,000 requests on all four at once. The engine gaps these
cases expose are pinned as strict xfails whose reasons name the function to fix.

The engine's retry policy (5 attempts, backoff from 0.2 s) cannot be shortened from the CLI;
Retry-After: 0 keeps the 429s cheap, dropped connections still back off with jitter.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
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
    stamp,
)

RATE = 0.2
MAX_RUNS = 3

ASYNC_PROVIDERS_SHARE_ONE_LOOP = (
    "engine/runner.py execute() calls one provider object from up to 8 threads (default "
    "--concurrency 8), but OktaProvider._run (engine/providers/okta.py) and EntraProvider "
    "(engine/providers/entra.py, its private loop.run_until_complete) drive one private asyncio "
    "loop per provider: concurrent grants fail with 'RuntimeError: This event loop is already "
    "running'."
)
OBSERVE_RETRIED_WHOLE = (
    "engine/runner.py observe() retries an instance's whole observation (every target, every "
    "page) as one call_with_retry: at a 20% fault rate an attempt that needs n requests succeeds "
    "with p = 0.8^n, so an instance with 2 targets of 2-3 pages each (GitHub: members pages plus "
    "invitations) is unreadable for all 5 attempts in most runs and none of its grants is made. "
    "Retry each target (better: each page) on its own."
)

GITHUB_GRANT_READS_AFTER_WRITE = (
    "engine/providers/github.py GitHubProvider._grant_team reads the membership back after the "
    "PUT (`now = self._membership(...)`); when that read fails (5xx, 429, dropped), the grant "
    "raises a retryable error after the write took effect, the engine's retry finds the member "
    "and records `unchanged`: the audit never says the engine granted it. The read after the "
    "write must not fail the grant (catch ProviderError there and return DONE)."
)


@pytest.fixture(autouse=True)
def _okta_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # The okta SDK reads this from the process environment, not from the engine's environ.
    monkeypatch.setenv(OKTA_HTTPS_CHECK_OFF, "true")


def run_until(world: World, command: str, now: datetime, concurrency: int,
              settled: Callable[[], bool]) -> list[tuple[Result, float]]:
    """Run `command` until the platforms' state is `settled`, at most MAX_RUNS times."""
    runs: list[tuple[Result, float]] = []
    extra = ["--skip-approval"] if command == "apply" else []
    for _ in range(MAX_RUNS):
        started = time.monotonic()
        result = invoke(command, "--repo", str(world.root), "--confirm", "--audit-file",
                        str(world.audit_file), "--now", stamp(now), "--concurrency",
                        str(concurrency), *extra, environ=world.environ())
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
        sweeps = run_until(world, "revoke", hours(5), concurrency,
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
        assert audit_outcomes(events, "grant") == grants

        print(  # -s shows the figures
            f"\n{'+'.join(platforms)}: {len(wanted)} grants, concurrency {concurrency}; "
            f"apply runs {[round(t, 1) for _, t in applies]} s, "
            f"revoke runs {[round(t, 1) for _, t in sweeps]} s; "
            f"{requests_for_grants} requests to grant, {world.requests_made()} in all, "
            f"faults injected {dict(injected)} (while granting); failed grant events "
            f"{failed_grants}, failed revoke events "
            f"{sum(o.count('failed') for o in revokes.values())}")


@pytest.mark.parametrize(("platform", "concurrency"), [
    pytest.param("gitlab", 8, id="gitlab"),
    pytest.param("github", 8, id="github", marks=pytest.mark.xfail(
        strict=True, raises=AssertionError, reason=GITHUB_GRANT_READS_AFTER_WRITE)),
    # Not safe to call from several threads today (ASYNC_PROVIDERS_SHARE_ONE_LOOP): one by one.
    pytest.param("okta", 1, id="okta"),
    pytest.param("entra", 1, id="entra"),
])
def test_one_platform_converges(tmp_path: Path, platform: str, concurrency: int) -> None:
    """One target, its members on one page (75 requested + 20 unmanaged), so that the whole-
    instance observation retry (OBSERVE_RETRIED_WHOLE) is not what is measured."""
    people = 75 if concurrency > 1 else 25
    converge_under_faults(tmp_path, (platform,), targets=1, people=people,
                          concurrency=concurrency, seed=sum(map(ord, platform)))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=" ".join(
    (ASYNC_PROVIDERS_SHARE_ONE_LOOP, OBSERVE_RETRIED_WHOLE, GITHUB_GRANT_READS_AFTER_WRITE)))
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
def test_thousand_requests_on_four_platforms_converge(tmp_path: Path) -> None:
    """The full drill: Okta, GitLab, GitHub teams and Entra groups, two targets each, 125 people
    asking for all eight: 1,000 grants at the default concurrency."""
    converge_under_faults(tmp_path, PLATFORMS, targets=2, people=125, concurrency=8, seed=5)
