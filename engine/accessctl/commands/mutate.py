"""`apply` and `revoke` share one flow; they differ only in which changes they may make."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from accessctl.approval import ratification
from accessctl.approval.ratification import Overdue, Sweep
from accessctl.approval.vcs.select import detect
from accessctl.change import audit_sink, journal
from accessctl.change.audit import AuditLog, Event
from accessctl.change.converge import Converged, converge
from accessctl.change.lateness import due_times, lags, too_late, with_due
from accessctl.change.ledger import Ledger, restoring, settle, with_intents
from accessctl.change.ledger_store import LedgerStore, store_for
from accessctl.change.notify import Notice
from accessctl.change.runner import DEFAULT_CONCURRENCY, execute
from accessctl.commands import approval_steps as steps
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.core.console import escape
from accessctl.core.durations import format_duration
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import (
    Action,
    Change,
    Grant,
    Outcome,
    Request,
    Status,
    Target,
    principal_key,
)
from accessctl.judge.evaluate import Evaluation, State, evaluate
from accessctl.judge.isolation import is_internal
from accessctl.read.history import check_revision, distinct_pairs, head_commit, request_history
from accessctl.read.load import Loaded
from accessctl.report.progress import change_progress
from accessctl.report.render import print_changes, print_outcomes

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict
    from accessctl.approval.verify import Verifier
    from accessctl.change.backing import Selection

DEFAULT_AUDIT_FILE = ".accessctl/audit.jsonl"


def options(function: Callable[..., None]) -> click.Command:
    decorators: list[Callable[[Any], Any]] = [
        repo_option,
        now_option,
        click.option("--confirm", is_flag=True, help="Make the changes (default: dry-run)."),
        click.option("--audit-file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None,
                     help=f"Append-only audit log [default: <repo>/{DEFAULT_AUDIT_FILE}]."),
        click.option("--audit-sink", metavar="s3://BUCKET/PREFIX", default=None,
                     envvar="ACCESSCTL_AUDIT_SINK", callback=audit_sink.check_url,
                     help="Also keep the audit lines in S3, as objects never overwritten, and "
                     "read earlier runs' unfinished changes from there [default: "
                     "$ACCESSCTL_AUDIT_SINK]."),
        click.option("--commit", default=None, help="The commit being applied, for the audit."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY,
                     show_default=True, help="Changes made in parallel."),
        click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default=None,
                     help="Where approvals are read [default: detected from the CI environment]."),
        click.option("--since", metavar="REV", default=None,
                     help="The last successfully applied revision. Accepted for older "
                     "workflows; no longer needed: the whole first-parent history of "
                     "access-requests/ names the grants the engine may have made."),
        click.option("--provider", "providers", multiple=True, metavar="INSTANCE",
                     help="Only these provider instances (one CI job per instance holds only "
                     "its own credentials)."),
        click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Append a markdown summary here (e.g. $GITHUB_STEP_SUMMARY)."),
        click.option("--max-lag", metavar="DURATION", default=None,
                     help="Exit 1 when any revocation came later than this after its expiry "
                     "(e.g. 30m): a late sweep turns red even when every change succeeded."),
        click.option("--ledger-remote", metavar="REMOTE", default=None,
                     help="Fetch and push the engine's ledger (refs/accessctl/ledger/*) "
                     "there, before any platform write [default: $ACCESSCTL_LEDGER_REMOTE; "
                     "none: the ledger stays in the checkout]."),
        # Hidden, refused in CI, warned about, marked on every audit event: skip_approval.py.
        click.option("--skip-approval", is_flag=True, hidden=True,
                     help="Treat valid requests as approved (local testing only; refused in CI)."),
        click.pass_context,
    ]
    wrapped: Any = function
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Options:
    repo: Path
    now_text: str | None
    confirm: bool
    audit_file: Path | None
    audit_sink: str | None
    commit: str | None
    concurrency: int
    vcs_kind: str | None
    since: str | None
    providers: tuple[str, ...]
    summary: Path | None
    max_lag: str | None
    ledger_remote: str | None
    skip_approval: bool


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


def report_standing(env: Environment, held: Iterable[Grant]) -> None:
    for grant in held:
        env.stderr.write(
            f"standing: {grant.person} already holds {grant.entitlement} "
            f"({grant.target.display}) (standing access, not managed by accessctl): left as "
            "it is, and never revoked by accessctl\n")


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


def _verifier(env: Environment, vcs_kind: str | None, repo: Path) -> Verifier:
    return make_verifier(env, vcs_kind, repo)


def _warn(env: Environment, line: str) -> None:
    env.stderr.write(line + "\n")


def notify_not_ratified(overdue: Overdue) -> Notice:
    from accessctl.change import notify

    request = overdue.request
    return notify.not_ratified(request.path, request.entitlement, request.requester,
                               ratification.describe(overdue))


def run(ctx: click.Context, options: Options, actions: frozenset[Action]) -> None:
    env = environment(ctx)
    if options.skip_approval:
        from accessctl.commands import skip_approval

        skip_approval.check(env, Action.GRANT in actions)  # before anything is read or changed
    now = resolve_now(options.now_text, env)
    max_lag = _duration("--max-lag", options.max_lag)
    loaded = load(options.repo)
    if loaded.policies is None:
        raise FindingsError("policies cannot be read: run 'accessctl validate'")
    if Action.GRANT in actions:
        warn_if_sweep_is_stale(options.repo, now, env)
    if options.since:
        check_revision(options.repo, options.since)
    ended = history_requests(options.repo, env)
    commit = options.commit or head_commit(options.repo)
    evaluation = judge(loaded, now, ended=ended)
    verdicts: dict[str, Verdict] = {}
    verifier: Verifier | None = None
    deferred: dict[str, str] = {}

    @functools.cache
    def sweep_verifier() -> Verifier:
        # One VCS client per run (built on first need): its look-ups are cached in it. The
        # sweep only takes access away, so a token short of a permission is a warning here.
        from accessctl.approval.vcs import access

        built = _verifier(env, options.vcs_kind, options.repo)
        for line in access.warn(built.vcs, loaded.policies, writes=False):
            env.stderr.write(f"warning: {line}\n")
        return built

    sweep = Sweep([], [])
    audit_file = options.audit_file or options.repo / DEFAULT_AUDIT_FILE
    store = store_for(options.repo, env.environ, options.ledger_remote)
    if Action.GRANT in actions and not options.skip_approval:
        from accessctl.approval import deferral
        from accessctl.approval.deferral import DeferringTeams
        from accessctl.approval.vcs import access
        from accessctl.approval.vcs.transport import VcsDeferral
        from accessctl.approval.verify import denials_file

        # Approvals are verified after the platforms are observed, for what changes only.
        try:
            verifier = make_verifier(env, options.vcs_kind, options.repo,
                                     denials_file(audit_file), store)
            # Apply may comment and ask for reviews (break-glass): every permission, checked
            # first.
            access.require(verifier.vcs, loaded.policies, writes=True)
        except VcsDeferral as error:
            # No VCS at all this run: nothing is approved, and every live request waits, its
            # pair kept as it is; what expired or was deleted still ends.
            teams = DeferringTeams(None, loaded.policies, str(error))
            unjudged = evaluate(loaded.policies, loaded.requests, now, teams=teams, ended=ended)
            deferred = all_deferred(unjudged, frozenset(options.providers), str(error))
            deferred |= deferral.deferred_by_teams(unjudged, loaded.policies, teams.unanswered,
                                                   now)
            evaluation = evaluate(loaded.policies, loaded.requests, now, teams=teams,
                                  ended=ended, approved={})
        else:
            evaluation = evaluate(
                loaded.policies, loaded.requests, now, ended=ended,
                teams=DeferringTeams(verifier.team_lookup(loaded.policies), loaded.policies,
                                     None))
    elif Action.GRANT not in actions:
        # Break-glass grants stand only until their review deadline unless ratified: the one
        # thing the sweep asks the VCS about (and only when a deadline may have passed).
        # Each CI job sweeps its own instances: only their break-glass requests are looked up
        # and announced, so a deadline is reported once, not once per job.
        mine = [r for r in loaded.requests if not options.providers or (
            (e := loaded.policies.entitlements.get(r.entitlement)) is not None
            and e.provider in options.providers)]
        sweep = ratification.sweep(loaded.policies, mine, now, REVOKE_SCHEDULE,
                                   sweep_verifier)
        loaded.findings.extend(sweep.findings)
        for item in sweep.withdrawn:
            env.stderr.write(f"break-glass: {ratification.describe(item)}\n")
        withdrawn = {o.request.path for o in sweep.withdrawn}
        if withdrawn:
            loaded.requests = [r for r in loaded.requests if r.path not in withdrawn]
            ended = [*ended, *(o.request for o in sweep.withdrawn)]
            evaluation = judge(loaded, now, ended=ended)
    if Action.GRANT not in actions and (options.vcs_kind or detect(env.environ)):
        # The sweep removes only what expired whatever the teams say; with the VCS at hand its
        # view of live grants (for expiry notices and the summary) uses the real teams too.
        from accessctl.approval.deferral import teams_for_sweep

        teams = teams_for_sweep(sweep_verifier, loaded.policies)
        evaluation = evaluate(loaded.policies, loaded.requests, now, teams=teams, ended=ended)
        for why in sorted(set(teams.unanswered.values())):
            env.stderr.write(f"warning: teams not read ({escape(why)}): the requests they "
                             "decide are kept as they are until the next run\n")
    unknown = sorted(set(options.providers) - set(loaded.policies.providers))
    if unknown:
        raise ConfigError(f"--provider {', '.join(unknown)}: not in policies/providers.yaml")
    ledgers = read_ledgers(store, options.providers or tuple(loaded.policies.providers), env)
    converged, providers = converge(loaded.policies, evaluation, env.environ,
                                    only=frozenset(options.providers),
                                    sweep_only=Action.GRANT not in actions,
                                    ledgers=ledgers, hold=held(evaluation, deferred), now=now)
    blobs: dict[str, str] = {}
    confirmed: list[tuple[Target, str, tuple[str, ...], datetime | None]] = []
    if verifier is not None:
        observed = converged.observation.observed
        evaluation, verdicts, selection = verify_changes(
            loaded, now, verifier, ended, evaluation, observed, ledgers,
            frozenset(options.providers), deferred=deferred)
        converged, providers = converge(loaded.policies, evaluation, env.environ,
                                        only=frozenset(options.providers), ledgers=ledgers,
                                        providers=providers,
                                        observation=converged.observation,
                                        hold=held(evaluation, deferred), now=now)
        for note in verifier.notes:
            env.stderr.write(f"notice: {escape(note)}\n")
        for path in [*selection.trusted, *(p for p, v in verdicts.items() if v.approved)]:
            landing = verifier.landing(path)
            if landing is not None:
                blobs[path] = landing.blob
        confirmed = confirmed_grants(evaluation, verdicts, observed, ledgers)
    report_standing(env, converged.standing)
    for waiting in converged.settling:
        env.stderr.write(f"settling: {waiting.action.value} {escape(waiting.principal)} on "
                         f"{escape(waiting.target.display)}: the platform confirmed this moments "
                         "ago and its listing has not caught up; not repeated\n")
    due = due_times(evaluation.managed, loaded.requests, now)
    # A revoke of someone who renamed is due when the pair under their old name was.
    due.update({(t, key): due[(t, old)] for (t, old), key in converged.renamed.items()
                if (t, old) in due})
    changes = with_due([c for c in converged.plan.changes if c.action in actions], due)
    if ledgers is not None:
        changes = restoring(changes, ledgers)
    denied = {p: v for p, v in sorted(verdicts.items()) if not v.approved}
    for path, verdict in denied.items():
        env.stderr.write(f"denied: {escape(path)}: {escape('; '.join(verdict.reasons))}\n")
    for name, why in sorted(converged.observation.failures.items()):
        env.stderr.write(f"unreachable: {name}: {escape(why)}\n")
    # The sweep only removes; judging files is apply's and validate's job. But a file it could
    # not read or judge at all is reported by both, and fails the run (invariant 13).
    judged = evaluation.findings if Action.GRANT in actions else [
        f for f in evaluation.findings if is_internal(f)]
    invalid = [f for f in loaded.findings + judged if f.severity.value == "error"
               and f.location.path not in deferred]
    for finding in invalid:
        env.stderr.write(f"skipped: {escape(str(finding.location))}: {escape(finding.message)}\n")
    report_deferred(env, deferred)
    if not options.confirm:
        print_changes(env.stderr, changes, "Dry run: changes that --confirm would make")
        failed = bool(converged.observation.failures) or bool(denied) or bool(invalid)
        ctx.exit(1 if failed or deferred else 0)
    audit = AuditLog(audit_file, env.stdout, approval_skipped=options.skip_approval,
                     sink=audit_sink.open_sink(options.audit_sink, env.environ, env.clock()))
    try:
        for path, verdict in denied.items():
            judgement = evaluation.judgements[path]
            audit.record(Event(
                time=env.clock(), action="deny", outcome="denied", request=path,
                entitlement=judgement.request.entitlement, principal=judgement.principal,
                provider=judgement.target.instance if judgement.target else None,
                target=judgement.target.display if judgement.target else None,
                commit=commit, error="; ".join(verdict.reasons)))
        if verifier is not None and verifier.denials is not None:
            verifier.denials.save()  # denials for good stay denied, without a call
            for warning in store.warnings if store is not None else []:
                env.stderr.write(f"warning: {warning}\n")
        for path, judgement in sorted(evaluation.judgements.items()):
            if Action.GRANT not in actions or not invalid or path in deferred \
                    or judgement.state is not State.INVALID \
                    or judgement.request.expires_at <= now:
                continue
            audit.record(Event(
                time=env.clock(), action="deny", outcome="invalid", request=path,
                entitlement=judgement.request.entitlement, principal=judgement.principal,
                commit=commit, error="; ".join(f.message for f in judgement.findings)))
        for event in deferred_events(evaluation, deferred, env.clock(), commit):
            audit.record(event)
        for name, why in sorted(converged.observation.failures.items()):
            audit.record(Event(time=env.clock(), action="observe", outcome="failed",
                               provider=name, commit=commit, error=why))
        for event in steps.approval_events(changes, verdicts, evaluation, env.clock, commit):
            audit.record(event)
        overdue = steps.sweep_reported(sweep, changes, loaded.policies)
        for item in overdue:
            audit.record(steps.sweep_event(item, env.clock(), commit))
        settle_earlier_runs(audit, converged, changes, env, commit)
        ledgers = record_intents(store, ledgers, changes, now, commit, blobs, confirmed)
        with change_progress(env.stderr, changes, env.environ) as progress:
            outcomes = execute(changes, providers, audit, env.clock, commit=commit,
                               concurrency=options.concurrency, progress=progress)
        record_outcomes(store, ledgers, converged, outcomes,
                        evaluation.grants if Action.GRANT in actions else [], now, commit)
    finally:
        audit.close()
        providers.close()
    print_outcomes(env.stderr, outcomes)
    glass = steps.break_glass_granted(outcomes, verdicts)
    requesters = {v.path: evaluation.judgements[v.path].request.requester for v in glass}
    owners = {v.path: v.could_approve for v in glass}
    if glass and verifier is not None:
        steps.open_reviews(verifier.vcs, glass, requesters, owners,
                           lambda line: _warn(env, line))
    extra = steps.break_glass_notices(
        glass, requesters,
        {v.path: evaluation.judgements[v.path].request.entitlement for v in glass}, owners)
    extra += [notify_not_ratified(o) for o in overdue]
    send_notices(env, outcomes, denied, evaluation, now, actions, extra)
    if options.summary is not None:
        write_summary(options.summary, actions, outcomes, denied, evaluation, now,
                      options.providers)
    failed = any(o.status is Status.FAILED for o in outcomes) or bool(
        converged.observation.failures) or sink_failed(env, audit)
    late = too_late(lags(outcomes, env.clock()), max_lag)
    if late:
        env.stderr.write(f"late: {len(late)} revocation(s) came more than {options.max_lag} "
                         f"after their expiry (worst {format_duration(late[-1])})\n")
    if Action.GRANT not in actions and not failed:
        keep_heartbeat(options, outcomes, now, env)
    ctx.exit(1 if failed or invalid or denied or late or deferred else 0)


def settle_earlier_runs(audit: AuditLog, converged: Converged, changes: list[Change],
                        env: Environment, commit: str | None) -> None:
    """How earlier runs' unfinished changes ended (change/journal.py); with a sink that cannot
    be read, nothing is changed: those changes must be settled first."""
    try:
        journal.settle(audit, converged.observation.observed, changes, env.clock(), commit)
    except audit_sink.SinkError as error:
        raise FindingsError(f"audit sink: {error}: no change made") from None


def sink_failed(env: Environment, audit: AuditLog) -> bool:
    for failure in audit.sink_failures:
        env.stderr.write(f"audit sink: {escape(failure)}\n")
    return bool(audit.sink_failures)


def _duration(option: str, text: str | None) -> timedelta | None:
    from accessctl.core.durations import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise ConfigError(f"{option}: {error}") from None


def warn_if_sweep_is_stale(repo: Path, now: datetime, env: Environment) -> None:
    from accessctl.change import heartbeat

    heartbeat.warn_if_stale(repo, now, env.stderr)


def keep_heartbeat(options: Options, outcomes: list[Outcome], now: datetime,
                   env: Environment) -> None:
    """A sweep that succeeded says so: the ref (read back by apply, validate and status) and
    the optional ping to an external monitor. Dry runs and runs outside git say nothing."""
    from accessctl.change import heartbeat
    from accessctl.change.ledger_store import REMOTE_ENV
    from accessctl.read.history import is_git_checkout

    if not options.confirm or not is_git_checkout(options.repo):
        return
    revoked = sum(1 for o in outcomes
                  if o.change.action is Action.REVOKE and o.status is Status.DONE)
    remote = options.ledger_remote or env.environ.get(REMOTE_ENV) or None
    for warning in (heartbeat.record(options.repo, now, f"{revoked} revoked", remote),
                    heartbeat.ping(env.environ, now, revoked)):
        if warning:
            env.stderr.write(f"warning: {warning}\n")


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


REVOKE_SCHEDULE = timedelta(minutes=15)  # = heartbeat.SCHEDULE
"""How often revoke.yml runs: each grant is warned about once, by the run before it expires."""


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
