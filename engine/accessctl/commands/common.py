"""Options and helpers every command shares."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from accessctl.core import console, workflow_commands
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError
from accessctl.core.model import Finding, Request, Severity
from accessctl.core.timestamps import parse_timestamp
from accessctl.judge.evaluate import Evaluation, evaluate
from accessctl.read.load import Loaded, TreeSource, load_repository

F = TypeVar("F", bound=Callable[..., Any])


def repo_option(function: F) -> F:
    return click.option(
        "--repo", "repo", type=click.Path(file_okay=False, path_type=Path), default=".",
        show_default=True, help="The access repository's root.",
    )(function)


def now_option(function: F) -> F:
    return click.option(
        "--now", "now_text", metavar="TIME", default=None,
        help="Judge as of this RFC 3339 time instead of the clock (reproducible runs).",
    )(function)


def environment(ctx: click.Context) -> Environment:
    """The injected environment, its stdout and stderr behind the console guard: every command
    prints values from request files (engine/accessctl/core/console.py)."""
    env: Environment = ctx.ensure_object(Environment)
    if console.install(env):
        ctx.find_root().call_on_close(functools.partial(console.release, env))
    return env


def resolve_now(text: str | None, env: Environment) -> datetime:
    if text is None:
        return env.clock()
    try:
        return parse_timestamp(text)
    except ValueError as error:
        raise ConfigError(f"--now: {error}") from None


def load(repo: Path) -> Loaded:
    if not repo.is_dir():
        raise ConfigError(f"{repo} is not a directory: pass --repo with the access repository")
    if not (repo / "policies").is_dir():
        raise ConfigError(
            f"{repo} has no policies/ directory: run from the access repository or pass --repo"
        )
    return load_repository(TreeSource(repo))


def judge(loaded: Loaded, now: datetime, fresh: Iterable[str] = (),
          ended: Iterable[Request] = ()) -> Evaluation:
    if loaded.policies is None:
        return Evaluation(findings=[])
    return evaluate(loaded.policies, loaded.requests, now, fresh=fresh, ended=ended)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(set(findings), key=lambda f: (f.location, f.code, f.message))


def print_findings(
    findings: Sequence[Finding], fmt: str, env: Environment, summary: dict[str, Any]
) -> None:
    ordered = sort_findings(findings)
    if fmt == "json":
        payload = {"findings": [f.as_dict() for f in ordered], "summary": summary}
        env.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    if fmt == "github":
        lines = [workflow_commands.annotation(
            {"error": "error", "warning": "warning"}.get(finding.severity.value, "notice"),
            f"{finding.code}: {finding.message}", file=finding.location.path,
            line=finding.location.line, col=finding.location.column, title="accessctl",
        ) for finding in ordered]
        console.write_commands(env.stdout, lines)
    else:
        for finding in ordered:
            env.stdout.write(
                f"{console.escape(str(finding.location))}: {finding.severity.value}: "
                f"{console.escape(finding.message)} [{finding.code}]\n"
            )
    errors = sum(1 for f in ordered if f.severity is Severity.ERROR)
    parts = ", ".join(f"{v} {k}" for k, v in summary.items() if k != "errors")
    verdict = f"{errors} error(s)" if errors else "no errors"
    env.stdout.write(f"{verdict}; {parts}\n" if fmt == "text" else "")


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
