"""`accessctl plan`: what the engine wants now, and (with platforms reachable) what it would do."""

from __future__ import annotations

from pathlib import Path

import click

from accessctl.change.converge import converge
from accessctl.change.ledger_store import store_for
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.commands.mutate import history_requests, read_ledgers
from accessctl.core.errors import FindingsError
from accessctl.judge.isolation import write_internal_errors
from accessctl.report.render import print_changes, print_controls, print_grants, print_requests


@click.command("plan")
@repo_option
@now_option
@click.option("--offline", is_flag=True,
              help="Do not contact any platform: show requests and desired grants only.")
@click.pass_context
def command(ctx: click.Context, repo: Path, now_text: str | None, offline: bool) -> None:
    """Show desired grants, and with platforms reachable, the changes apply/revoke would make."""
    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    if loaded.policies is None or loaded.findings:
        raise FindingsError("the repository has findings: run 'accessctl validate' first")
    evaluation = judge(loaded, now)
    # A request that could not be judged is shown as invalid; the rest of the plan stands.
    broken = write_internal_errors(env.stderr, evaluation.findings)
    print_requests(env.stdout, evaluation)
    print_controls(env.stdout, loaded.policies, evaluation)
    print_grants(env.stdout, evaluation.grants)
    if offline:
        env.stdout.write("offline: platforms were not contacted, so no changes are shown\n")
        ctx.exit(1 if broken else 0)
    evaluation = judge(loaded, now, ended=history_requests(repo, env))
    ledgers = read_ledgers(store_for(repo, env.environ), tuple(loaded.policies.providers), env)
    converged, providers = converge(loaded.policies, evaluation, env.environ, ledgers=ledgers)
    providers.close()
    print_changes(env.stdout, converged.plan.changes, "Changes")
    for grant in converged.standing:
        env.stdout.write(f"{grant.person} already holds {grant.entitlement} "
                         f"({grant.target.display}) (standing access, not managed by "
                         "accessctl)\n")
    for name, why in sorted(converged.observation.failures.items()):
        env.stdout.write(f"unreachable: {name}: {why}\n")
    if converged.observation.failures or broken:
        ctx.exit(1)
