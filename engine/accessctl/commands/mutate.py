"""`apply` and `revoke` share one flow; they differ only in which changes they may make.

This module holds their options and the flow itself; its steps (verifying approvals, the
engine's ledger) are in `mutate_steps`, shared with `reconcile` and `plan`, and what a run tells
(console, audit, summary, webhook) in `mutate_output`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from accessctl.approval import ratification
from accessctl.approval.ratification import Sweep
from accessctl.approval.vcs.select import detect
from accessctl.change import audit_sink, sessions
from accessctl.change.audit import AuditLog, Event
from accessctl.change.converge import converge
from accessctl.change.lateness import due_times, lags, too_late, with_due
from accessctl.change.ledger import restoring
from accessctl.change.ledger_store import store_for
from accessctl.change.runner import DEFAULT_CONCURRENCY, execute
from accessctl.commands import approval_steps as steps
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.commands.mutate_output import (
    REVOKE_SCHEDULE,
    deferred_events,
    notify_not_ratified,
    report_deferred,
    report_standing,
    send_notices,
    sink_failed,
    write_summary,
)
from accessctl.commands.mutate_steps import (
    all_deferred,
    confirmed_grants,
    held,
    history_requests,
    make_verifier,
    read_ledgers,
    record_intents,
    record_outcomes,
    settle_earlier_runs,
    verify_changes,
)
from accessctl.core.console import escape
from accessctl.core.durations import format_duration
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Action, Outcome, Status, Target
from accessctl.judge.evaluate import State, evaluate
from accessctl.judge.isolation import is_internal
from accessctl.read.history import check_revision, head_commit
from accessctl.report.progress import change_progress
from accessctl.report.render import print_changes, print_outcomes

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict
    from accessctl.approval.verify import Verifier

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


def _verifier(env: Environment, vcs_kind: str | None, repo: Path) -> Verifier:
    return make_verifier(env, vcs_kind, repo)


def _warn(env: Environment, line: str) -> None:
    env.stderr.write(line + "\n")


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
        print_changes(env.stderr, changes, "Dry run: changes that --confirm would make",
                      loaded.policies)
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
    unended = sessions.report(env.stderr, outcomes)
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
        converged.observation.failures) or sink_failed(env, audit) or unended
    late = too_late(lags(outcomes, env.clock()), max_lag)
    if late:
        env.stderr.write(f"late: {len(late)} revocation(s) came more than {options.max_lag} "
                         f"after their expiry (worst {format_duration(late[-1])})\n")
    if Action.GRANT not in actions and not failed:
        keep_heartbeat(options, outcomes, now, env)
    ctx.exit(1 if failed or invalid or denied or late or deferred else 0)


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


