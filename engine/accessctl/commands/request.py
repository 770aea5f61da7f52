"""`accessctl request`: write a request file at the right path, check it, and open the PR."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path

import click

from accessctl.commands.common import environment, load, now_option, repo_option, resolve_now
from accessctl.core.durations import format_duration, parse_duration
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Severity, isoformat
from accessctl.core.timestamps import parse_timestamp
from accessctl.judge.evaluate import evaluate
from accessctl.read.load import ENTITLEMENTS_DIR, REQUESTS_DIR, MemorySource, load_request

SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/access-request.schema.json\n"


def complete_entitlements(ctx: click.Context, param: click.Parameter,
                          incomplete: str) -> list[click.shell_completion.CompletionItem]:
    """Entitlement names from the repository in the current directory (or --repo)."""
    root = Path(ctx.params.get("repo") or ".")
    names = sorted(p.stem for p in (root / ENTITLEMENTS_DIR).glob("*.yaml"))
    return [click.shell_completion.CompletionItem(n) for n in names if n.startswith(incomplete)]


def slugify(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())[:5]
    return "-".join(words) or "access"


def render(requester: str, entitlement: str, reason: str, ticket: str | None,
           starts: datetime | None, expires: datetime) -> str:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [SCHEMA_LINE.rstrip("\n"), f"requester: {requester}", f"entitlement: {entitlement}",
             f"reason: {quoted(reason)}"]
    if ticket:
        lines.append(f"ticket: {quoted(ticket)}")
    if starts is not None:
        lines.append(f"starts_at: {isoformat(starts)}")
    lines.append(f"expires_at: {isoformat(expires)}")
    return "\n".join(lines) + "\n"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@click.command("request")
@click.argument("entitlement", required=False, shell_complete=complete_entitlements)
@click.option("--for", "duration", metavar="DURATION", help="How long, e.g. 4h, 30m, 1d.")
@click.option("--reason", help="Why you need it (reviewers read this).")
@click.option("--ticket", default=None, help="Incident or change ticket.")
@click.option("--start", "start", default=None, metavar="TIME",
              help="Start later (RFC 3339); default: on merge.")
@click.option("--as", "login", default=None, envvar="ACCESSCTL_LOGIN",
              help="Your VCS login [default: $ACCESSCTL_LOGIN, else asked of the VCS].")
@click.option("--pr/--no-pr", default=True, show_default=True,
              help="Create a branch, commit, push and open the pull request.")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default=None)
@click.option("--from-issue", "from_issue", type=click.IntRange(min=1), metavar="N",
              default=None,
              help="GitHub: turn access request issue N (the issue form) into the pull request, "
              "for the issue's author; for the request workflow, with a request App's token.")
@click.option("--close-issue-for-pr", "close_for", type=click.IntRange(min=1), metavar="N",
              default=None,
              help="GitHub: pull request N, opened from an issue, was merged or closed: say so "
              "on the issue and close it.")
@repo_option
@now_option
@click.pass_context
def command(ctx: click.Context, entitlement: str | None, duration: str | None,
            reason: str | None, ticket: str | None, start: str | None, login: str | None,
            pr: bool, vcs_kind: str | None, from_issue: int | None, close_for: int | None,
            repo: Path, now_text: str | None) -> None:
    """Ask for ENTITLEMENT: writes access-requests/ENTITLEMENT/<you>-<slug>.yaml.

    With --from-issue N, the request comes from an access request issue instead (GitHub's issue
    form): see docs/requesting.md.
    """
    env = environment(ctx)
    # Whole seconds, as the file is written: the window then is exactly what --for says.
    now = resolve_now(now_text, env).replace(microsecond=0)
    if from_issue is not None or close_for is not None:
        from accessctl.commands import request_from_issue as issues

        given = [name for name, value in (("ENTITLEMENT", entitlement), ("--for", duration),
                                          ("--reason", reason), ("--ticket", ticket),
                                          ("--start", start), ("--as", login)) if value]
        if given or (from_issue is not None and close_for is not None):
            raise ConfigError("--from-issue and --close-issue-for-pr take no ENTITLEMENT, "
                              "--for, --reason, --ticket, --start or --as (the issue says "
                              "them), and not each other")
        issues.check_github(vcs_kind)
        if from_issue is not None:
            issues.open_from_issue(env, repo, from_issue, now)
        else:
            assert close_for is not None
            issues.close_issue_for(env, repo, close_for)
        return
    missing = [name for name, value in (("ENTITLEMENT", entitlement), ("--for", duration),
                                        ("--reason", reason)) if not value]
    if missing:
        raise ConfigError(f"request needs {', '.join(missing)} (or --from-issue N)")
    assert entitlement is not None and duration is not None and reason is not None
    try:
        length = parse_duration(duration)
        starts = parse_timestamp(start) if start else None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    from accessctl.approval.vcs.select import detect, from_environment

    vcs = None
    if pr or login is None or vcs_kind or detect(env.environ):
        vcs = from_environment(env.environ, vcs_kind)
        login = login or vcs.current_login()
    assert login is not None
    expires = (starts or now) + length
    slug = slugify(ticket or reason)
    path = f"{REQUESTS_DIR}/{entitlement}/{login}-{slug}.yaml"
    text = render(login, entitlement, reason, ticket, starts, expires)
    loaded = load(repo)
    if loaded.policies is None:
        raise FindingsError("the repository's policies have errors: run 'accessctl validate'")
    request, problems = load_request(MemorySource({path: text}), path)
    findings = list(problems)
    if request is not None:
        teams = None
        if vcs is not None:
            from accessctl.approval.verify import Verifier

            teams = Verifier(vcs).team_lookup(loaded.policies)
        findings += evaluate(loaded.policies, [request], now, fresh=[path],
                             teams=teams).findings
    errors = [f for f in findings if f.severity is Severity.ERROR]
    for finding in errors:
        message = finding.message
        if finding.code == "window-too-long":
            # Said in the terms the user wrote, not in terms of the file not yet written.
            limit = format_duration(loaded.policies.entitlements[entitlement].max_duration)
            message = f"--for {duration.strip()}: {entitlement} allows at most {limit}"
        env.stderr.write(f"{finding.location.path}: {message}\n")
    if errors:
        raise FindingsError("the request was not written")
    target = repo / path
    if target.exists():
        raise ConfigError(f"{path} exists already: edit it, or choose another --reason")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    env.stdout.write(f"wrote {path} ({format_duration(length)} until {isoformat(expires)})\n")
    if not pr or vcs is None:
        return
    policy = loaded.policies.entitlements[entitlement]
    branch = f"access/{login}-{slug}"
    _git(repo, "checkout", "-b", branch)
    _git(repo, "add", "--", path)
    _git(repo, "commit", "-m", f"Request {entitlement} for {login}", "--", path)
    _git(repo, "push", "--set-upstream", "origin", branch)
    approvers = ", ".join(policy.approvers)
    body = (f"{login} requests **{entitlement}** until {isoformat(expires)}.\n\n"
            f"> {reason}\n\n"
            f"Needs {policy.approvals} approval(s) from a code owner in {approvers}.\n")
    url = vcs.create_pull_request(branch, vcs.default_branch,
                                  f"Access request: {entitlement} for {login}", body)
    env.stdout.write(f"opened {url}\n")
