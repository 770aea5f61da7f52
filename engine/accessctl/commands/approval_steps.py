"""What apply and the revoke sweep do for auto-approved and break-glass requests beyond granting:
audit events naming the rule or the deadline, the code owners' review request after a
break-glass grant, and the alerts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from accessctl.approval.ratification import Overdue, Sweep, describe
from accessctl.approval.vcs.base import RATIFY
from accessctl.change import notify
from accessctl.change.audit import Event
from accessctl.core import markdown
from accessctl.core.model import Action, Change, Outcome, Policies, Status, isoformat, principal_key
from accessctl.judge.evaluate import Evaluation, target_of

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict
    from accessctl.approval.vcs.base import Vcs

BREAK_GLASS_MARKER = "<!-- accessctl:break-glass -->"


def approval_events(changes: Sequence[Change], verdicts: Mapping[str, Verdict],
                    evaluation: Evaluation, clock: Callable[[], datetime],
                    commit: str | None) -> list[Event]:
    """One `approve` event per request behind a planned grant that no person approved (yet):
    the decision is on record before the change is made."""
    events = []
    for change in changes:
        if change.action is not Action.GRANT:
            continue
        for path in change.requests:
            verdict = verdicts.get(path)
            if verdict is None or not (verdict.approved_by_rule or
                                       verdict.break_glass == "awaiting"):
                continue
            judgement = evaluation.judgements[path]
            events.append(Event(
                time=clock(), action="approve",
                outcome="auto-approved" if verdict.approved_by_rule else "break-glass",
                request=path, entitlement=judgement.request.entitlement,
                principal=change.principal, provider=change.target.instance,
                target=change.target.display, commit=commit, detail=verdict.how,
                approved_by_rule=verdict.approved_by_rule, on_call=verdict.on_call or None,
                deadline=verdict.deadline if verdict.break_glass else None))
    return events


def break_glass_granted(outcomes: Sequence[Outcome], verdicts: Mapping[str, Verdict]
                        ) -> list[Verdict]:
    """Verdicts of break-glass requests whose grant this run made."""
    found: dict[str, Verdict] = {}
    for outcome in outcomes:
        change = outcome.change
        if change.action is not Action.GRANT or outcome.status is not Status.DONE:
            continue
        for path in change.requests:
            verdict = verdicts.get(path)
            if verdict is not None and verdict.break_glass == "awaiting":
                found[path] = verdict
    return [found[p] for p in sorted(found)]


def review_comment(verdict: Verdict, requester: str, owners: Sequence[str],
                   vcs_kind: str = "github") -> str:
    mentions = " ".join(f"@{o.lstrip('@')}" for o in owners) or "code owners"
    due = isoformat(verdict.deadline) if verdict.deadline else "the deadline"
    # GitLab takes no approval on a merged merge request: there a note ratifies (engine/vcs).
    how = ("review this merge request and, to ratify the access, add a note whose first line "
           f"is `{RATIFY}` by **{due}**") if vcs_kind == "gitlab" else (
           f"review this pull request and approve it by **{due}** to ratify the access")
    return (f"{BREAK_GLASS_MARKER}\n### accessctl: break-glass access granted\n\n"
            f"{markdown.text(requester)} was granted {markdown.code(verdict.path)} on merge, "
            "without prior approval. "
            f"{mentions}: please {how}. Without a code owner's ratification by then, the "
            "access is revoked and the security team is alerted.\n")


def open_reviews(vcs: Vcs, granted: Sequence[Verdict], requesters: Mapping[str, str],
                 owners: Mapping[str, Sequence[str]], warn: Callable[[str], None]) -> None:
    """Ask the code owners to review each break-glass pull request (a failure is reported,
    never fatal: the deadline stands whether or not they were asked)."""
    for verdict in granted:
        if verdict.pull is None:
            continue
        names = [o for o in owners.get(verdict.path, ())
                 if o.casefold() != requesters[verdict.path].casefold()]
        users = [o for o in names if not o.startswith("@")]
        teams = [o for o in names if o.startswith("@")]
        body = review_comment(verdict, requesters[verdict.path], names, vcs.kind)
        try:
            if not vcs.ask_for_review(verdict.pull, users, teams, body, BREAK_GLASS_MARKER):
                warn(f"break-glass: {verdict.path}: the platform refused the review request; "
                     "the code owners are mentioned in a comment instead")
        except Exception as error:
            warn(f"break-glass: {verdict.path}: could not ask for a review "
                 f"({type(error).__name__}: {error}); the deadline still applies")


def break_glass_notices(granted: Sequence[Verdict], requesters: Mapping[str, str],
                        entitlements: Mapping[str, str],
                        owners: Mapping[str, Sequence[str]]) -> list[notify.Notice]:
    return [notify.break_glass_used(v.path, entitlements[v.path], requesters[v.path],
                                    v.deadline, owners.get(v.path, ()),
                                    v.pull.url if v.pull else None)
            for v in granted if v.deadline is not None]


def sweep_reported(sweep: Sweep, changes: Sequence[Change],
                   policies: Policies) -> list[Overdue]:
    """The overdue requests worth an event and a notice this run: those whose deadline just
    passed, and those whose grant this run revokes."""
    revoked = {(c.target, principal_key(c.principal)) for c in changes
               if c.action is Action.REVOKE}
    chosen = {o.request.path: o for o in sweep.newly_overdue}
    for overdue in sweep.withdrawn:
        request = overdue.request
        entitlement = policies.entitlements.get(request.entitlement)
        if entitlement is None:
            continue
        target = target_of(entitlement, policies)
        person = policies.people.get(request.requester.casefold())
        instance = policies.providers.get(entitlement.provider)
        account = person.account_for(instance) if person and instance else None
        if target is not None and account is not None \
                and (target, principal_key(account)) in revoked:
            chosen[request.path] = overdue
    return [chosen[p] for p in sorted(chosen)]


def sweep_event(overdue: Overdue, time: datetime, commit: str | None) -> Event:
    request = overdue.request
    return Event(time=time, action="break-glass", outcome="not-ratified", request=request.path,
                 entitlement=request.entitlement, commit=commit,
                 error=describe(overdue), deadline=overdue.deadline)
