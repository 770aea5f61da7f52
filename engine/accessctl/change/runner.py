"""The I/O half of a run: build providers, observe targets, execute planned changes.

Each change is isolated: one failure is recorded and the rest go on. Changes run in parallel
with a bound; the plan holds at most one change per (target, principal), so a pair is never
granted and revoked at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from accessctl.change import sessions
from accessctl.change.audit import AuditLog, change_event, started_event
from accessctl.change.audit_sink import SinkError
from accessctl.change.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry
from accessctl.core.model import Action, Change, Outcome, Policies, ProviderInstance, Status, Target
from accessctl.providers import load_module
from accessctl.providers.base import PREPARE, NotFound, Provider, ProviderError

DEFAULT_CONCURRENCY = 8


@dataclass
class Providers:
    """Provider objects per instance, created on first use (so SDKs load only when needed)."""

    policies: Policies
    environ: Mapping[str, str]
    made: dict[str, Provider] = field(default_factory=dict)

    def get(self, instance_name: str) -> Provider:
        if instance_name not in self.made:
            instance: ProviderInstance = self.policies.providers[instance_name]
            module = load_module(instance.platform)
            self.made[instance_name] = module.create(instance, self.environ)
        return self.made[instance_name]

    def close(self) -> None:
        """Release connections of providers that hold them (async SDK clients)."""
        for provider in self.made.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()
        self.made.clear()


@dataclass
class Observation:
    observed: dict[Target, frozenset[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    """Instance name -> why its targets could not be read."""
    native: dict[Target, bool] = field(default_factory=dict)
    ids: dict[Target, dict[str, str]] = field(default_factory=dict)
    """Per target, principal key -> immutable id of the members whose id observe read
    (providers with `member_ids`; change/holders.py)."""


def observe(
    providers: Providers, targets: Iterable[Target], retry: RetryPolicy = DEFAULT_POLICY,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Observation:
    """Read the members of every target. Instances are read in parallel (each has its own
    provider object); within one instance, targets are split over parallel calls only where the
    provider says its observe is safe to call from several threads (`observe_in_parallel`),
    since some SDK clients (an event loop per provider) are not."""
    by_instance: dict[str, list[Target]] = defaultdict(list)
    for target in sorted(set(targets), key=lambda t: t.display):
        by_instance[target.instance].append(target)
    result = Observation()
    jobs: list[tuple[str, Provider, list[Target]]] = []
    for name, group in sorted(by_instance.items()):
        try:
            provider = providers.get(name)
        except ProviderError as error:
            result.failures[name] = str(error)
            continue
        except ImportError as error:
            result.failures[name] = _missing_sdk(providers, name, error)
            continue
        parts = 1
        if getattr(provider, "observe_in_parallel", False):
            parts = max(1, min(concurrency, len(group)))
        size = -(-len(group) // parts)  # contiguous slices keep the targets' order
        jobs += [(name, provider, group[i:i + size]) for i in range(0, len(group), size)]

    def read(job: tuple[str, Provider, list[Target]]) -> Mapping[Target, frozenset[str]] | str:
        name, provider, group = job
        try:
            return _observe_with_retry(provider, group, retry)
        except ProviderError as error:
            return str(error)
        except ImportError as error:
            return _missing_sdk(providers, name, error)

    if len(jobs) <= 1 or concurrency <= 1:
        answers = [read(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(jobs))) as pool:
            answers = list(pool.map(read, jobs))
    seen: dict[str, list[tuple[Provider, list[Target], Mapping[Target, frozenset[str]]]]] = \
        defaultdict(list)
    for (name, provider, group), answer in zip(jobs, answers, strict=True):
        if isinstance(answer, str):
            # One failed part fails the instance, as one call would have (first in job order).
            result.failures.setdefault(name, answer)
        else:
            seen[name].append((provider, group, answer))
    for name, parts_seen in seen.items():
        if name in result.failures:
            continue
        for provider, group, answer in parts_seen:
            result.observed.update(answer)
            member_ids = getattr(provider, "member_ids", None)
            for target in group:
                result.native[target] = provider.native_expiry(target)
                if callable(member_ids) and target in answer:
                    members = answer[target]
                    result.ids[target] = {key: str(value)
                                          for key, value in member_ids(target).items()
                                          if key in members}
    return result


def _observe_with_retry(provider: Provider, group: list[Target], retry: RetryPolicy
                        ) -> Mapping[Target, frozenset[str]]:
    """One call for the whole group first (some providers share reads between targets, e.g. one
    IAM policy for several bindings). If it fails in a way worth retrying, each target is retried
    on its own: retrying the whole group would need every page of every target to succeed in
    one attempt, which under a steady error rate gets less likely the more pages there are."""
    try:
        return provider.observe(group)
    except ProviderError as error:
        if not error.retryable or retry.attempts <= 1:
            raise
        time.sleep(retry.delay(1, error, random.Random()))
    answer: dict[Target, frozenset[str]] = {}
    for target in group:
        answer.update(call_with_retry(partial(provider.observe, [target]), retry))
    return answer


def _missing_sdk(providers: Providers, name: str, error: ImportError) -> str:
    platform = providers.policies.providers[name].platform
    return (f"the SDK for {platform} is not installed ({error.name}): "
            f"pip install 'accessctl[{platform}]'")


def _run_one(provider: Provider, change: Change, retry: RetryPolicy) -> Outcome:
    call: Callable[[], Outcome] = (
        (lambda: provider.grant(change)) if change.action is Action.GRANT
        else (lambda: provider.revoke(change))
    )
    try:
        return call_with_retry(call, retry)
    except NotFound as error:
        if change.action is Action.REVOKE:
            return Outcome(change, Status.UNCHANGED, f"already gone: {error}")
        return Outcome(change, Status.FAILED, str(error))
    except ProviderError as error:
        return Outcome(change, Status.FAILED, str(error))
    except Exception as error:  # one broken change must not stop the others
        return Outcome(change, Status.FAILED, f"unexpected {type(error).__name__}: {error}")


def execute(
    changes: Sequence[Change],
    providers: Providers,
    audit: AuditLog,
    clock: Callable[[], datetime],
    *,
    commit: str | None = None,
    retry: RetryPolicy = DEFAULT_POLICY,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every change; record each outcome as an audit event the moment it is known, and
    then tell `progress` (report/progress.py draws it on a terminal).

    At most `concurrency` changes run at once, and on an instance with `max_concurrency` at most
    that many of its own. Outcomes come back in the order of `changes`."""
    caps = {name: instance.max_concurrency
            for name, instance in providers.policies.providers.items()
            if instance.max_concurrency is not None}

    def work(change: Change) -> Outcome:
        try:
            provider = providers.get(change.target.instance)
        except ImportError as error:
            outcome = Outcome(change, Status.FAILED, f"SDK not installed: {error.name}")
        else:
            try:
                audit.record(started_event(clock(), change, commit), stream=False)
            except SinkError as error:
                # The `started` line must be kept outside the runner before the write.
                outcome = Outcome(change, Status.FAILED, f"not made: the audit sink did not "
                                  f"take its started line ({error})")
            else:
                outcome = _run_one(provider, change, retry)
                audit.record(change_event(clock(), outcome, commit))
                # The removal is on record first; ending the sessions is a step of its own.
                return finish(sessions.end_after(provider, outcome, providers.policies, audit,
                                                 clock, commit, retry))
        audit.record(change_event(clock(), outcome, commit))
        return finish(outcome)

    def finish(outcome: Outcome) -> Outcome:
        if progress is not None:
            progress(outcome)
        return outcome

    prepare(changes, providers)
    if concurrency <= 1 or len(changes) <= 1:
        return [work(c) for c in changes]
    queue = _Queue(changes, caps)
    results: list[Outcome | None] = [None] * len(changes)

    def worker() -> None:
        while (index := queue.take()) is not None:
            try:
                results[index] = work(changes[index])
            finally:
                queue.release(index)

    with ThreadPoolExecutor(max_workers=min(concurrency, len(changes))) as pool:
        for running in [pool.submit(worker) for _ in range(min(concurrency, len(changes)))]:
            running.result()
    return [r for r in results if r is not None]


def prepare(changes: Sequence[Change], providers: Providers) -> None:
    """Let each provider that can look people up in bulk do so before its changes run (see
    `providers.base.PREPARE`). A failure only costs the look-ups it would have saved."""
    by_instance: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        by_instance[change.target.instance].append(change)
    for name, mine in sorted(by_instance.items()):
        try:
            hook = getattr(providers.get(name), PREPARE, None)
            if callable(hook):
                hook(mine)
        except Exception:  # each change looks up what this could not
            continue


class _Queue:
    """Hands out changes to workers: instances take turns, and an instance at its cap is passed
    over (its changes wait, the worker takes another instance's) instead of holding a worker."""

    def __init__(self, changes: Sequence[Change], caps: Mapping[str, int]) -> None:
        self._changes = changes
        self._caps = caps
        self._waiting: dict[str, deque[int]] = defaultdict(deque)
        for index, change in enumerate(changes):
            self._waiting[change.target.instance].append(index)
        self._turns = deque(self._waiting)
        self._running: dict[str, int] = defaultdict(int)
        self._changed = threading.Condition()

    def take(self) -> int | None:
        """The next change to run, waiting while every instance with work is at its cap; None
        when nothing is left to hand out."""
        with self._changed:
            while self._turns:
                for _ in range(len(self._turns)):
                    name = self._turns[0]
                    self._turns.rotate(-1)
                    if self._running[name] < self._caps.get(name, len(self._changes)):
                        index = self._waiting[name].popleft()
                        if not self._waiting[name]:
                            self._turns.remove(name)
                        self._running[name] += 1
                        return index
                self._changed.wait()
            return None

    def release(self, index: int) -> None:
        with self._changed:
            self._running[self._changes[index].target.instance] -= 1
            self._changed.notify_all()
