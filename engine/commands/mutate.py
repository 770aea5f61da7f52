"""`apply` and `revoke` share one flow; they differ only in which changes they may make."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine.audit import AuditLog, Event
from engine.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from engine.converge import converge
from engine.errors import FindingsError
from engine.model import Action, Status
from engine.render import print_changes, print_outcomes
from engine.runner import DEFAULT_CONCURRENCY, execute

DEFAULT_AUDIT_FILE = ".accessctl/audit.jsonl"


def options(function: Callable[..., None]) -> click.Command:
    decorators: list[Callable[[Any], Any]] = [
        repo_option,
        now_option,
        click.option("--confirm", is_flag=True, help="Make the changes (default: dry-run)."),
        click.option("--audit-file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None,
                     help=f"Append-only audit log [default: <repo>/{DEFAULT_AUDIT_FILE}]."),
        click.option("--commit", default=None, help="The commit being applied, for the audit."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=DEFAULT_CONCURRENCY,
                     show_default=True, help="Changes made in parallel."),
        click.pass_context,
    ]
    wrapped: Any = function
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


def run(ctx: click.Context, repo: Path, now_text: str | None, confirm: bool,
        audit_file: Path | None, commit: str | None, concurrency: int,
        actions: frozenset[Action]) -> None:
    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    if loaded.policies is None:
        raise FindingsError("policies cannot be read: run 'accessctl validate'")
    evaluation = judge(loaded, now)
    converged, providers = converge(loaded.policies, evaluation, env.environ)
    changes = [c for c in converged.plan.changes if c.action in actions]
    if Action.GRANT in actions:
        env.stderr.write(
            "warning: approval was not verified: every valid active request is treated as "
            "approved\n"
        )
    for name, why in sorted(converged.observation.failures.items()):
        env.stderr.write(f"unreachable: {name}: {why}\n")
    invalid = [f for f in loaded.findings + evaluation.findings if f.severity.value == "error"]
    for finding in invalid:
        env.stderr.write(f"skipped: {finding.location}: {finding.message}\n")
    if not confirm:
        print_changes(env.stderr, changes, "Dry run: changes that --confirm would make")
        failed = bool(converged.observation.failures)
        ctx.exit(1 if failed else 0)
    audit = AuditLog(audit_file or repo / DEFAULT_AUDIT_FILE, env.stdout)
    try:
        for name, why in sorted(converged.observation.failures.items()):
            audit.record(Event(time=env.clock(), action="observe", outcome="failed",
                               provider=name, commit=commit, error=why))
        outcomes = execute(changes, providers, audit, env.clock, commit=commit,
                           concurrency=concurrency)
    finally:
        audit.close()
    print_outcomes(env.stderr, outcomes)
    failed = any(o.status is Status.FAILED for o in outcomes) or bool(
        converged.observation.failures)
    ctx.exit(1 if failed or invalid else 0)
