"""`accessctl validate`: every request and policy file, judged now."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from engine.commands.common import (
    environment,
    has_errors,
    judge,
    load,
    now_option,
    print_findings,
    repo_option,
    resolve_now,
)


@click.command("validate")
@repo_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="github prints workflow annotations on the files.")
@click.option("--changed", "changed", multiple=True, metavar="PATH",
              help="Files proposed by the change under review: their expiry must lie ahead.")
@now_option
@click.pass_context
def command(ctx: click.Context, repo: Path, fmt: str, changed: tuple[str, ...],
            now_text: str | None) -> None:
    """Check request and policy files; exit 1 when any has an error."""
    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    evaluation = judge(loaded, now, fresh=changed)
    findings = [*loaded.findings, *evaluation.findings]
    states = Counter(j.state.value for j in evaluation.judgements.values())
    unreadable = len({f.location.path for f in loaded.findings
                      if f.location.path.startswith("access-requests/")})
    summary = {
        "requests": len(loaded.requests) + unreadable,
        **{state: states[state] for state in sorted(states)},
        "errors": sum(1 for f in findings if f.severity.value == "error"),
    }
    print_findings(findings, fmt, env, summary)
    ctx.exit(1 if has_errors(findings) else 0)
