"""`accessctl plan`: what the engine wants now, and (with platforms reachable) what it would do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click

from accessctl.change.converge import converge
from accessctl.change.ledger_store import store_for
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.commands.mutate_steps import history_requests, read_ledgers
from accessctl.core.errors import FindingsError
from accessctl.core.model import Change, Grant, Policies
from accessctl.judge.evaluate import Evaluation
from accessctl.judge.isolation import write_internal_errors
from accessctl.providers.sessions import read_session_durations
from accessctl.report import access_end, plan_output
from accessctl.report.access_end import Ends
from accessctl.report.render import print_changes, print_controls, print_grants, print_requests


@click.command("plan")
@repo_option
@now_option
@click.option("--offline", is_flag=True,
              help="Do not contact any platform: show requests and desired grants only.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: every request, grant and change, and the counts.")
@click.option("--verbose", "-v", is_flag=True,
              help="Text: list every request and desired grant, not only the counts.")
@click.pass_context
def command(ctx: click.Context, repo: Path, now_text: str | None, offline: bool, output: str,
            verbose: bool) -> None:
    """Show desired grants, and with platforms reachable, the changes apply/revoke would make.

    By default requests and grants are counted (by entitlement and state) and the changes are
    listed in full; --verbose lists every row, --format json holds everything."""
    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    if loaded.policies is None or loaded.findings:
        raise FindingsError("the repository has findings: run 'accessctl validate' first")
    evaluation = judge(loaded, now)
    # A request that could not be judged is shown as invalid; the rest of the plan stands.
    broken = write_internal_errors(env.stderr, evaluation.findings)
    if offline:
        show(env.stdout, output, verbose, loaded.policies, evaluation, None,
             ends=Ends(loaded.policies), now=now)
        if output == "text":
            env.stdout.write("offline: platforms were not contacted, so no changes are shown\n")
        ctx.exit(1 if broken else 0)
    wanted = evaluation
    evaluation = judge(loaded, now, ended=history_requests(repo, env))
    ledgers = read_ledgers(store_for(repo, env.environ), tuple(loaded.policies.providers), env)
    converged, providers = converge(loaded.policies, evaluation, env.environ, ledgers=ledgers)
    # Identity Center sessions last their permission set's SessionDuration: read it (the
    # answers observe already had, one DescribePermissionSet per permission set at most).
    reads = read_session_durations(providers.get, converged.observation.observed)
    providers.close()
    ends = Ends(loaded.policies, reads)
    show(env.stdout, output, verbose, loaded.policies, wanted, converged.plan.changes,
         converged.observation.failures, converged.standing, ends=ends, now=now)
    if output == "json":
        ctx.exit(1 if converged.observation.failures or broken else 0)
    print_changes(env.stdout, converged.plan.changes, "Changes", loaded.policies)
    access_end.print_changes(env.stdout, ends, converged.plan.changes, now)
    for grant in converged.standing:
        env.stdout.write(f"{grant.person} already holds {grant.entitlement} "
                         f"({grant.target.display}) (standing access, not managed by "
                         "accessctl)\n")
    for name, why in sorted(converged.observation.failures.items()):
        env.stdout.write(f"unreachable: {name}: {why}\n")
    if converged.observation.failures or broken:
        ctx.exit(1)


def show(stream: TextIO, output: str, verbose: bool, policies: Policies, evaluation: Evaluation,
         changes: Sequence[Change] | None, unreachable: Mapping[str, str] | None = None,
         standing: Sequence[Grant] = (), *, ends: Ends | None = None,
         now: datetime | None = None) -> None:
    """Everything but the changes table: JSON (changes included), or text, counted or in full."""
    counts = plan_output.summary(evaluation, changes, unreachable, standing)
    if output == "json":
        stream.write(plan_output.as_json(evaluation, changes, counts, ends, now))
        return
    if verbose:
        print_requests(stream, evaluation)
    else:
        plan_output.print_summary(stream, counts)
    print_controls(stream, policies, evaluation)
    if ends is not None:
        access_end.print_summary(stream, ends, [
            *(j.request.entitlement for j in evaluation.judgements.values()),
            *(c.entitlement for c in changes or () if c.entitlement)])
    if verbose:
        print_grants(stream, evaluation.grants)
