"""`accessctl reconcile`: report drift; on exclusive entitlements remove unbacked members."""

from __future__ import annotations

from pathlib import Path

import click

from accessctl.approval.vcs.select import detect
from accessctl.approval.verify import denials_file
from accessctl.change import audit_sink as sinks
from accessctl.change import sessions
from accessctl.change.audit import AuditLog, Event
from accessctl.change.converge import converge, exclusive_targets
from accessctl.change.ledger_store import store_for
from accessctl.change.plan import DEFAULT_REMOVAL_CAP
from accessctl.change.runner import execute
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.commands.mutate import DEFAULT_AUDIT_FILE
from accessctl.commands.mutate_output import sink_failed
from accessctl.commands.mutate_steps import (
    history_requests,
    make_verifier,
    read_ledgers,
    record_outcomes,
    settle_earlier_runs,
    verify_changes,
)
from accessctl.core.console import escape
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Status
from accessctl.judge.evaluate import evaluate
from accessctl.judge.isolation import write_internal_errors
from accessctl.report.progress import change_progress
from accessctl.report.render import print_changes, print_outcomes


@click.command("reconcile")
@repo_option
@now_option
@click.option("--confirm", is_flag=True, help="Make the removals (default: report only).")
@click.option("--removal-cap", type=click.FloatRange(0.0, 1.0), default=DEFAULT_REMOVAL_CAP,
              show_default=True,
              help="Largest fraction of a target's members one run may remove.")
@click.option("--audit-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--audit-sink", metavar="s3://BUCKET/PREFIX", default=None,
              envvar="ACCESSCTL_AUDIT_SINK", callback=sinks.check_url,
              help="Also keep the audit lines in S3 (see `apply --help`).")
@click.option("--provider", "only", multiple=True, metavar="INSTANCE",
              help="Only these provider instances (one CI job per instance).")
@click.pass_context
def command(ctx: click.Context, repo: Path, now_text: str | None, confirm: bool,
            removal_cap: float, audit_file: Path | None, audit_sink: str | None,
            only: tuple[str, ...]) -> None:
    """Report every member of a managed target that no request backs.

    On entitlements marked exclusive those members are removed with --confirm, unless the
    removals would exceed the cap for a target: then that target is refused before any change.
    """
    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    if loaded.policies is None:
        raise FindingsError("policies cannot be read: run 'accessctl validate'")
    unknown = sorted(set(only) - set(loaded.policies.providers))
    if unknown:
        raise ConfigError(f"--provider {', '.join(unknown)}: not in policies/providers.yaml")
    ended = history_requests(repo, env)
    evaluation = judge(loaded, now, ended=ended)
    store = store_for(repo, env.environ)
    ledgers = read_ledgers(store, only or tuple(loaded.policies.providers), env)
    audit_path = audit_file or repo / DEFAULT_AUDIT_FILE
    exclusive = {t for t in exclusive_targets(loaded.policies) if not only or t.instance in only}
    verifier = None
    if exclusive and detect(env.environ):
        # A member of an exclusive target stays only when an approved request backs it: the
        # requests behind present members are verified (those the engine granted for these
        # very bytes are trusted from its ledger), the others are taken as written.
        verifier = make_verifier(env, None, repo, denials_file(audit_path), store)
        from accessctl.approval.vcs import access

        access.require(verifier.vcs, loaded.policies, writes=False)
        evaluation = evaluate(loaded.policies, loaded.requests, now, ended=ended,
                              teams=verifier.team_lookup(loaded.policies))
    elif exclusive:
        env.stderr.write("warning: no VCS configured: the requests behind members of exclusive "
                         "entitlements are taken as written, their approvals unverified\n")
    converged, providers = converge(loaded.policies, evaluation, env.environ,
                                    remove_unbacked=True, removal_cap=removal_cap,
                                    only=frozenset(only), ledgers=ledgers)
    if verifier is not None:
        evaluation, verdicts, _ = verify_changes(
            loaded, now, verifier, ended, evaluation, converged.observation.observed, ledgers,
            frozenset(only), targets=exclusive, present_only=True)
        for path, verdict in sorted(verdicts.items()):
            if not verdict.approved:
                env.stderr.write(f"unbacked: {escape(path)}: "
                                 f"{escape('; '.join(verdict.reasons))}\n")
        converged, providers = converge(loaded.policies, evaluation, env.environ,
                                        remove_unbacked=True, removal_cap=removal_cap,
                                        only=frozenset(only), ledgers=ledgers,
                                        providers=providers, observation=converged.observation)
        for note in verifier.notes:
            env.stderr.write(f"notice: {escape(note)}\n")
    plan = converged.plan
    removals = plan.revocations
    for drift in plan.drift:
        env.stdout.write(f"drift: {drift.target.display}: {drift.principal} holds it with no "
                         "request behind it\n")
    for refusal in plan.refusals:
        env.stderr.write(f"refused: {refusal.message}\n")
    for name, why in sorted(converged.observation.failures.items()):
        env.stderr.write(f"unreachable: {name}: {why}\n")
    # A request that could not be judged backs nothing: its pair is revoked like any other.
    broken = write_internal_errors(env.stderr, evaluation.findings)
    trouble = bool(plan.refusals or converged.observation.failures or broken)
    if not confirm:
        print_changes(env.stderr, removals, "Dry run: removals that --confirm would make",
                      loaded.policies)
        ctx.exit(1 if trouble else 0)
    audit = AuditLog(audit_path, None,
                     sink=sinks.open_sink(audit_sink, env.environ, env.clock()))
    try:
        if verifier is not None and verifier.denials is not None:
            verifier.denials.save()
        for refusal in plan.refusals:
            audit.record(Event(time=env.clock(), action="reconcile", outcome="refused",
                               provider=refusal.target.instance, target=refusal.target.display,
                               error=refusal.message))
        settle_earlier_runs(audit, converged, removals, env, None)
        with change_progress(env.stderr, removals, env.environ) as progress:
            outcomes = execute(removals, providers, audit, env.clock, progress=progress)
        record_outcomes(store, ledgers, converged, outcomes, [], now, None)
    finally:
        audit.close()
        providers.close()
    print_outcomes(env.stderr, outcomes)
    unended = sessions.report(env.stderr, outcomes)
    failed = any(o.status is Status.FAILED for o in outcomes) or sink_failed(env, audit) \
        or unended
    ctx.exit(1 if trouble or failed else 0)
