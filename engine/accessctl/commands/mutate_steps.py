"""The steps of the apply, revoke and reconcile pipeline between reading the repository and
making the changes: the verifier and the approvals it verifies (only for requests whose grant
changes now), what waits on an unreachable VCS, and the engine's own record (its ledger: read
before, intents written before any platform write, outcomes after; earlier runs' unfinished
changes settled)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from accessctl.change import audit_sink, journal
from accessctl.change.audit import AuditLog
from accessctl.change.converge import Converged
from accessctl.change.ledger import Ledger, settle, with_intents
from accessctl.change.ledger_store import LedgerStore
from accessctl.core.environment import Environment
from accessctl.core.errors import FindingsError
from accessctl.core.model import (
    Action,
    Change,
    Grant,
    Outcome,
    Request,
    Target,
    principal_key,
)
from accessctl.judge.evaluate import Evaluation, State, evaluate
from accessctl.judge.isolation import is_internal
from accessctl.read.history import distinct_pairs, request_history
from accessctl.read.load import Loaded

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict
    from accessctl.approval.verify import Verifier
    from accessctl.change.backing import Selection



def make_verifier(env: Environment, vcs_kind: str | None, repo: Path,
                  denials: Path | None = None, store: LedgerStore | None = None) -> Verifier:
    """The run's verifier: the VCS client, the checkout's own history where it can answer
    (GitHub: the checkout is a clone of the default branch), and the denial memory (the file
    beside the audit file and, in a git checkout, refs/accessctl/denials)."""
    from accessctl.approval.vcs.local_git import LocalHistory
    from accessctl.approval.vcs.select import from_environment
    from accessctl.approval.verify import DenialMemory, Verifier
    from accessctl.change.ledger_store import DenialRef

    vcs = from_environment(env.environ, vcs_kind)
    local = LocalHistory.at(repo) if vcs.kind == "github" else None
    memory = None
    if denials is not None:
        memory = DenialMemory(denials, DenialRef(store) if store is not None else None)
    from accessctl.approval.pagerduty import PagerDuty

    # PagerDuty (PAGERDUTY_TOKEN, the apply job's secret) answers only for rules that ask it.
    return Verifier(vcs, denials=memory, local=local, on_call=PagerDuty(env.environ).on_call)


def verify_changes(
    loaded: Loaded, now: datetime, verifier: Verifier, ended: list[Request],
    unjudged: Evaluation,
    observed: Mapping[Target, frozenset[str]], ledgers: Mapping[str, Ledger] | None,
    only: frozenset[str], *, targets: Collection[Target] | None = None,
    present_only: bool = False, deferred: dict[str, str] | None = None,
) -> tuple[Evaluation, dict[str, Verdict], Selection]:
    """Judge with teams from the VCS, verifying the approval of only the requests whose grant
    changes now (change/backing.py): the platforms were observed first, with the requests judged
    without approval (`unjudged`, with the VCS's teams). Requests outside `targets` (reconcile:
    the non-exclusive ones) are taken as written, as before. Those the VCS could not be asked
    about now (unreachable, out of budget) go into `deferred`, by path with why: neither granted
    nor revoked (approval/deferral.py)."""
    from accessctl.approval import deferral
    from accessctl.change.backing import select

    assert loaded.policies is not None
    teams = deferral.DeferringTeams(verifier.team_lookup(loaded.policies), loaded.policies, None)

    def blob_of(path: str) -> str | None:
        landing = verifier.landing(path)
        return landing.blob if landing is not None else None

    selection = select(unjudged, observed, ledgers, blob_of, only=only, targets=targets,
                       present_only=present_only)
    by_path = {r.path: r for r in loaded.requests}
    verifier.expected = len(selection.verify)
    verdicts, unverified, waiting = deferral.verify_each(
        (by_path[p] for p in selection.verify), lambda request: verifier.verify(request, now),
        None)
    if deferred is not None:
        deferred.update(waiting)
    approved: dict[str, bool] = {}
    if targets is not None:
        approved = {path: True for path in by_path}
        approved.update({p: False for p in selection.waiting})
    approved.update({p: True for p in selection.trusted})
    approved.update({path: v.approved for path, v in verdicts.items()})
    # A request that could not be judged or verified stays INVALID when judged again.
    failed = {f.location.path: f for f in [*unjudged.findings, *unverified]
              if is_internal(f) and f.location.path not in waiting}
    rejudged = evaluate(loaded.policies, loaded.requests, now, approved=approved,
                        teams=teams, ended=ended, failed=failed)
    if deferred is not None:
        deferred.update(deferral.deferred_by_teams(rejudged, loaded.policies, teams.unanswered,
                                                   now))
    return rejudged, verdicts, selection


def held(evaluation: Evaluation, deferred: dict[str, str]) -> set[tuple[Target, str]]:
    from accessctl.approval.deferral import held_pairs

    return held_pairs(evaluation, deferred) if deferred else set()


def all_deferred(evaluation: Evaluation, only: frozenset[str], why: str) -> dict[str, str]:
    """With no VCS client at all: every live request in scope, deferred for `why`."""
    return {path: why for path, j in evaluation.judgements.items()
            if j.state in (State.ACTIVE, State.PENDING) and j.target is not None
            and (not only or j.target.instance in only)}


def confirmed_grants(evaluation: Evaluation, verdicts: Mapping[str, Verdict],
                     observed: Mapping[Target, frozenset[str]],
                     ledgers: Mapping[str, Ledger] | None
                     ) -> list[tuple[Target, str, tuple[str, ...], datetime | None]]:
    """Grants already present and recorded as the engine's whose requests were verified again
    this run (an edited file, an entry without blobs): their record is brought up to date, so
    the next run trusts them without a call."""
    from accessctl.change.ledger import Origin

    found: list[tuple[Target, str, tuple[str, ...], datetime | None]] = []
    for grant in evaluation.grants:
        key = principal_key(grant.principal)
        ledger = ledgers.get(grant.target.instance) if ledgers is not None else None
        entry = ledger.entries.get((grant.target.display, key)) if ledger is not None else None
        if entry is None or entry.origin is Origin.STANDING \
                or key not in observed.get(grant.target, frozenset()):
            continue
        if any(p in verdicts and verdicts[p].approved for p in grant.requests):
            found.append((grant.target, grant.principal, grant.requests, grant.expires_at))
    return found


def history_requests(repo: Path, env: Environment) -> list[Request]:
    """Every request version the default branch ever held, one per pair: a pair named once
    stays the engine's to end (invariant 12), whatever became of its file since."""
    history = request_history(repo)
    for note in history.notes:
        env.stderr.write(f"notice: {note}\n")
    return distinct_pairs(history.requests)


def read_ledgers(store: LedgerStore | None, instances: Iterable[str], env: Environment
                 ) -> dict[str, Ledger] | None:
    """The engine's record for each instance in scope (None: no git checkout, no record)."""
    if store is None:
        return None
    names = sorted(set(instances))
    store.fetch(names)
    ledgers = {name: store.read(name) for name in names}
    for warning in store.warnings:
        env.stderr.write(f"warning: {warning}\n")
    return ledgers



def record_intents(store: LedgerStore | None, ledgers: dict[str, Ledger] | None,
                   changes: list[Change], now: datetime, commit: str | None,
                   blobs: Mapping[str, str] | None = None,
                   confirmed: Iterable[tuple[Target, str, tuple[str, ...], datetime | None]] = (),
                   ) -> dict[str, Ledger] | None:
    """Write down the grants about to be made before the platforms are touched: a run killed
    after a platform write still leaves the grant recorded as the engine's. Each with the blob
    of the request files verified for it (`blobs`), and the `confirmed` grants (present, the
    engine's, verified again this run) with theirs."""
    if store is None or ledgers is None:
        return ledgers
    grants = [(c.target, c.principal, c.requests, c.expires_at)
              for c in changes if c.action is Action.GRANT]
    grants += list(confirmed)
    updated = dict(ledgers)
    for name in sorted({target.instance for target, _, _, _ in grants}):
        if name in updated:
            updated[name] = with_intents(updated[name], grants, now, blobs)
            store.write(updated[name], commit)
    return updated


def record_outcomes(store: LedgerStore | None, ledgers: dict[str, Ledger] | None,
                    converged: Converged, outcomes: list[Outcome], wanted: list[Grant],
                    now: datetime, commit: str | None) -> None:
    """Keep what the run learnt: standing access found, revocations done, grants gone."""
    if store is None or ledgers is None:
        return
    for name, ledger in sorted(ledgers.items()):
        if name in converged.observation.failures:
            continue
        after = settle(ledger, observed=converged.observation.observed, wanted=wanted,
                       outcomes=outcomes, now=now, holders=converged.holders)
        if after.entries != ledger.entries or (not ledger.exists and after.entries):
            store.write(after, commit)

def settle_earlier_runs(audit: AuditLog, converged: Converged, changes: list[Change],
                        env: Environment, commit: str | None) -> None:
    """How earlier runs' unfinished changes ended (change/journal.py); with a sink that cannot
    be read, nothing is changed: those changes must be settled first."""
    try:
        journal.settle(audit, converged.observation.observed, changes, env.clock(), commit)
    except audit_sink.SinkError as error:
        raise FindingsError(f"audit sink: {error}: no change made") from None

