"""`end_sessions`: after a revoke, end the person's sessions on the platform, as its own step.

The removal comes first and stands on its own: when ending the sessions fails, the membership is
still gone, the failure is its own audit event (`end_sessions`, outcome `failed`) and the run
exits 1. Only a removal this run made (`done`) is followed by it: one the platform had already
made is not this run's to follow up, and a revoke that failed removed nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TextIO

from accessctl.change.audit import AuditLog, Event
from accessctl.change.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry
from accessctl.core.console import escape
from accessctl.core.model import Action, Outcome, Policies, Status
from accessctl.judge.access_end import ends_sessions
from accessctl.providers.base import NotFound, Provider, ProviderError

ACTION = "end_sessions"


def wanted(policies: Policies, outcome: Outcome) -> bool:
    change = outcome.change
    return (change.action is Action.REVOKE and outcome.status is Status.DONE
            and ends_sessions(policies, change.target))


def end_after(provider: Provider, outcome: Outcome, policies: Policies, audit: AuditLog,
              clock: Callable[[], datetime], commit: str | None,
              retry: RetryPolicy = DEFAULT_POLICY) -> Outcome:
    """The revoke's outcome, with the sessions ended after it where its entitlement asks
    (recorded as an `end_sessions` event); unchanged otherwise."""
    if not wanted(policies, outcome):
        return outcome
    change = outcome.change
    end = getattr(provider, "end_sessions", None)
    if not callable(end):
        status, detail = Status.FAILED, (f"{change.target.instance} ({change.target.platform}) "
                                         "cannot end sessions")
    else:
        try:
            status, detail = Status.DONE, str(call_with_retry(lambda: end(change), retry))
        except NotFound as error:
            status, detail = Status.FAILED, f"the person was not found: {error}"
        except ProviderError as error:
            status, detail = Status.FAILED, str(error)
        except Exception as error:  # the removal stands; this step alone failed
            status, detail = Status.FAILED, f"unexpected {type(error).__name__}: {error}"
    ended = dataclasses.replace(outcome, sessions=status, sessions_detail=detail)
    audit.record(event(clock(), ended, commit))
    return ended


def event(time: datetime, outcome: Outcome, commit: str | None) -> Event:
    change = outcome.change
    failed = outcome.sessions is Status.FAILED
    return Event(
        time=time, action=ACTION, outcome=(outcome.sessions or Status.SKIPPED).value,
        request=",".join(change.requests) or None, entitlement=change.entitlement or None,
        principal=change.principal, provider=change.target.instance,
        target=change.target.display, commit=commit,
        error=outcome.sessions_detail if failed else None,
        detail=None if failed else outcome.sessions_detail,
        principal_id=outcome.principal_id or change.principal_id)


def failed(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.sessions is Status.FAILED]


def report(stream: TextIO, outcomes: Sequence[Outcome]) -> bool:
    """One line per person whose sessions could not be ended; True when there was one."""
    bad = failed(outcomes)
    for outcome in bad:
        change = outcome.change
        stream.write(f"end_sessions failed: {escape(change.principal)} was removed from "
                     f"{escape(change.target.display)}, but their sessions were not ended: "
                     f"{escape(outcome.sessions_detail)}; end them on the platform by hand "
                     "(the next run has no removal left to follow), and give the engine's "
                     "credential the permission docs/policy-controls.md names\n")
    return bool(bad)
