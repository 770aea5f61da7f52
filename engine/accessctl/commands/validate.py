"""`accessctl validate`: every request and policy file, judged now."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from accessctl.commands.common import (
    environment,
    has_errors,
    judge,
    load,
    now_option,
    print_findings,
    repo_option,
    resolve_now,
)
from accessctl.core.environment import Environment
from accessctl.core.model import Finding
from accessctl.read.load import Loaded


@click.command("validate")
@repo_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="github prints workflow annotations on the files.")
@click.option("--changed", "changed", multiple=True, metavar="PATH",
              help="Files proposed by the change under review: their expiry must lie ahead. "
              "When all are request files, only they, their requesters' other requests and the "
              "policies they name are loaded (fast in CI); problems elsewhere, such as a "
              "duplicate among other people's requests or a broken entitlement nobody here "
              "asks for, are then not reported: validate without --changed for those.")
@click.option("--event", "event_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A pull request event (GitHub's $GITHUB_EVENT_PATH): judge only "
              "its changed files, by its base commit's policies, and comment on it.")
@click.option("--comment/--no-comment", default=True, show_default=True,
              help="With --event: write or update the pull request comment.")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default=None,
              help="With --event: where the pull request lives [default: detected].")
@now_option
@click.pass_context
def command(ctx: click.Context, repo: Path, fmt: str, changed: tuple[str, ...],
            event_path: Path | None, comment: bool, vcs_kind: str | None,
            now_text: str | None) -> None:
    """Check request and policy files; exit 1 when any has an error."""
    env = environment(ctx)
    now = resolve_now(now_text, env)
    from accessctl.change.heartbeat import warn_if_stale

    warn_if_stale(repo, now, env.stderr)
    if event_path is not None:
        review_pull_request(ctx, repo, fmt, event_path, comment, vcs_kind, now)
        return
    loaded = _load(repo, changed)
    evaluation = judge(loaded, now, fresh=changed)
    findings = [*loaded.findings, *evaluation.findings,
                *_repository(repo, loaded, changed, env)]
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


def _repository(repo: Path, loaded: Loaded, changed: tuple[str, ...],
                env: Environment) -> list[Finding]:
    """Stale generated files, a missing CODEOWNERS, teams nobody can resolve: whole-repository
    checks, so not with --changed, which loads only part of the policies."""
    if changed or loaded.policies is None:
        return []
    from accessctl.commands.repository_checks import findings, warnings

    for line in warnings(repo):
        env.stderr.write(f"warning: {line}\n")
    return findings(repo, loaded.policies, env.environ)


def _load(repo: Path, changed: tuple[str, ...]) -> Loaded:
    from accessctl.read.load import TreeSource
    from accessctl.read.load_changed import is_partial, load_changed

    if not is_partial(changed) or not (repo / "policies").is_dir():
        return load(repo)  # the whole repository; also what explains a wrong --repo
    return load_changed(TreeSource(repo), changed)


def review_pull_request(ctx: click.Context, repo: Path, fmt: str, event_path: Path,
                        comment: bool, vcs_kind: str | None, now: datetime) -> None:
    from accessctl.approval.pull_review import MARKER, bot_approval, render_comment, review
    from accessctl.approval.vcs.event import pull_number, read_event
    from accessctl.approval.vcs.select import choose, from_environment
    from accessctl.read.load import TreeSource

    env = environment(ctx)
    # The event is untrusted: read and checked in full before any VCS client is built. Only its
    # number is taken; its `action` is ignored on purpose (approval/vcs/event.py): the pull
    # request and its reviews are read afresh, so every event, a dismissed review included,
    # re-runs the same validation against the current state.
    event = read_event(event_path)
    kind = choose(env.environ, vcs_kind)
    number = pull_number(event, kind, env.environ, event_path)
    vcs = from_environment(env.environ, kind)
    pull = vcs.pull_request(number)  # a 404 is a ConfigError: "pull request N not found in ..."
    result = review(TreeSource(repo), pull, vcs, now)
    summary = {"requests": len(result.requests), "removed": len(result.removed),
               "errors": sum(1 for f in result.findings if f.severity.value == "error")}
    print_findings(result.findings, fmt, env, summary)
    if comment:
        vcs.upsert_comment(pull.number, MARKER, render_comment(result))
        approval = bot_approval(result)
        if approval is not None:
            from accessctl.approval.pull_review import APPROVAL_MARKER

            try:
                vcs.approve(pull, approval, APPROVAL_MARKER)
            except Exception as error:  # the review is a trace only: never fail validation
                env.stderr.write(f"warning: the auto-approval review could not be submitted "
                                 f"({type(error).__name__}: {error}); the rule still approves "
                                 "at merge\n")
    ctx.exit(0 if result.ok else 1)
