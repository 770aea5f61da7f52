"""What an apply or revoke run tells: on the console (denials, deferrals, standing access, audit
sink failures), in the audit log (deferred requests), in the job summary, and by webhook."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from accessctl.approval import ratification
from accessctl.approval.ratification import Overdue
from accessctl.change.audit import AuditLog, Event
from accessctl.change.notify import Notice
from accessctl.core.console import escape
from accessctl.core.environment import Environment
from accessctl.core.model import (
    Action,
    Grant,
    Outcome,
)
from accessctl.judge.evaluate import Evaluation

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict



REVOKE_SCHEDULE = timedelta(minutes=15)  # = heartbeat.SCHEDULE
"""How often revoke.yml runs: each grant is warned about once, by the run before it expires."""


def report_deferred(env: Environment, deferred: dict[str, str]) -> None:
    from accessctl.approval.deferral import describe

    for path, why in sorted(deferred.items()):
        env.stderr.write(f"deferred: {escape(describe(path, why))}\n")


def deferred_events(evaluation: Evaluation, deferred: dict[str, str], time: datetime,
                    commit: str | None) -> list[Event]:
    """One `verify` event per deferred request, outcome `deferred`: on record that it was
    neither granted nor revoked, and why."""
    events = []
    for path, why in sorted(deferred.items()):
        judgement = evaluation.judgements.get(path)
        events.append(Event(
            time=time, action="verify", outcome="deferred", request=path,
            entitlement=judgement.request.entitlement if judgement else None,
            principal=judgement.principal if judgement else None,
            provider=judgement.target.instance if judgement and judgement.target else None,
            target=judgement.target.display if judgement and judgement.target else None,
            commit=commit, error=why))
    return events


def report_standing(env: Environment, held: Iterable[Grant]) -> None:
    for grant in held:
        env.stderr.write(
            f"standing: {grant.person} already holds {grant.entitlement} "
            f"({grant.target.display}) (standing access, not managed by accessctl): left as "
            "it is, and never revoked by accessctl\n")


def notify_not_ratified(overdue: Overdue) -> Notice:
    from accessctl.change import notify

    request = overdue.request
    return notify.not_ratified(request.path, request.entitlement, request.requester,
                               ratification.describe(overdue))


def sink_failed(env: Environment, audit: AuditLog) -> bool:
    for failure in audit.sink_failures:
        env.stderr.write(f"audit sink: {escape(failure)}\n")
    return bool(audit.sink_failures)


def write_summary(path: Path, actions: frozenset[Action], outcomes: list[Outcome],
                  denied: dict[str, Verdict], evaluation: Evaluation, now: datetime,
                  only: tuple[str, ...]) -> None:
    from accessctl.report.summary import render_summary

    title = "accessctl apply" if Action.GRANT in actions else "accessctl revoke"
    if only:
        title += ": " + ", ".join(only)
    grants = [g for g in evaluation.grants if not only or g.target.instance in only]
    text = render_summary(title, outcomes,
                          [(p, "; ".join(v.reasons)) for p, v in denied.items()], grants, now)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)


def send_notices(env: Environment, outcomes: list[Outcome], denied: dict[str, Verdict],
                 evaluation: Evaluation, now: datetime, actions: frozenset[Action],
                 extra: list[Notice] | None = None) -> None:
    """Webhook notices (when ACCESSCTL_WEBHOOK_URL is set): changes, denials, and expiring grants
    from the scheduled sweep. A failed notice is reported and never fails the run."""
    from accessctl.change import notify

    notices = [n for o in outcomes if (n := notify.from_outcome(o)) is not None]
    notices += extra or []
    for path, verdict in denied.items():
        request = evaluation.judgements[path].request
        notices.append(notify.denied(path, request.entitlement, request.requester,
                                     verdict.reasons))
    if Action.GRANT not in actions:
        notices += notify.expiring(evaluation.grants, now, every=REVOKE_SCHEDULE)
    notify.notify(env.environ, notices, env.stderr, now=now)
