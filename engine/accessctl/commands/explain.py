"""`accessctl explain FILE`: every rule one request is judged by, with its result."""

from __future__ import annotations

import json
from pathlib import Path

import click

from accessctl.commands.common import environment, load, now_option, repo_option, resolve_now
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.report.explain import Explanation, explain

CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
"""Where GitHub, then GitLab, look for the file, in their order."""

MARKS = {True: "ok  ", False: "FAIL", None: "info"}


@click.command("explain")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@repo_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--new", "new", is_flag=True,
              help="Judge the file as proposed by a pull request: its expiry must lie ahead, "
              "and it comes after the requests already on the branch.")
@now_option
@click.pass_context
def command(ctx: click.Context, file: Path, repo: Path, fmt: str, new: bool,
            now_text: str | None) -> None:
    """Why the request FILE is or is not allowed, rule by rule (exit 0 allowed, 1 not).

    Offline: teams come from policies/identities.yaml and approvals are described, not read.
    """
    from accessctl.approval.codeowners import CodeOwners

    env = environment(ctx)
    now = resolve_now(now_text, env)
    loaded = load(repo)
    if loaded.policies is None:
        raise FindingsError("policies cannot be read: run 'accessctl validate'")
    path = _relative(file, repo)
    owners_file = next((repo / p for p in CODEOWNERS_PLACES if (repo / p).is_file()), None)
    codeowners = None
    if owners_file is not None:
        codeowners = CodeOwners.parse(owners_file.read_text("utf-8", "replace"),
                                      gitlab=owners_file.parent.name == ".gitlab")
    result = explain(loaded.policies, loaded.requests, path, now, codeowners,
                     load_findings=loaded.findings, fresh=[path] if new else [])
    if fmt == "json":
        env.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    else:
        env.stdout.write(render(result))
    ctx.exit(0 if result.allowed else 1)


def _relative(file: Path, repo: Path) -> str:
    """FILE as a repository path: given from the current directory or from the repository."""
    root = repo.resolve()
    for candidate in (file, repo / file):
        resolved = candidate.resolve()
        if candidate.exists() and resolved.is_relative_to(root):
            return resolved.relative_to(root).as_posix()
    if not file.is_absolute() and not file.exists():
        return file.as_posix()
    raise ConfigError(f"{file} is not inside the repository {repo}")


def render(result: Explanation) -> str:
    lines = [f"{result.path}"]
    width = max((len(c.rule) for c in result.checks), default=4)
    for check in result.checks:
        lines.append(f"  {MARKS[check.ok]}  {check.rule:<{width}}  {check.detail}")
    verdict = "allowed" if result.allowed else "not allowed"
    state = f" ({result.state})" if result.state else ""
    lines.append(f"{verdict}{state}")
    return "\n".join(lines) + "\n"
