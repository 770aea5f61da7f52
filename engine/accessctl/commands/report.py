"""`accessctl report` and `accessctl status`: what was asked, approved, granted and ended."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from accessctl.change.audit_sink import check_url
from accessctl.commands.common import environment, judge, load, now_option, repo_option, resolve_now
from accessctl.core.console import escape
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Policies, Request, isoformat
from accessctl.core.timestamps import parse_timestamp
from accessctl.judge.evaluate import State
from accessctl.judge.isolation import judge_each, write_internal_errors
from accessctl.read.history import ended_requests
from accessctl.report.access_end import Ends, print_summary

if TYPE_CHECKING:
    from accessctl.approval.approval import Verdict


@click.command("report")
@repo_option
@now_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "md"]), default="csv",
              show_default=True)
@click.option("--since", "since_text", default=None, metavar="DATE",
              help="Only requests that had not expired by then (RFC 3339 or YYYY-MM-DD).")
@click.option("--history-since", default=None, metavar="REV",
              help="Also list requests deleted since this revision (as revoked).")
@click.option("--offline", is_flag=True, help="Do not ask the VCS for approvers and PRs.")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default=None)
@click.option("--from", "source", metavar="s3://BUCKET/PREFIX", default=None,
              callback=check_url,
              help="Export the audit sink instead: every line every run wrote, and whether "
              "each started change has an outcome (exit 1 when one has not).")
@click.pass_context
def command(ctx: click.Context, repo: Path, now_text: str | None, fmt: str,
            since_text: str | None, history_since: str | None, offline: bool,
            vcs_kind: str | None, source: str | None) -> None:
    """Every request as pending, approved, rejected, active, expired or revoked."""
    from accessctl.report.report import render, rows

    env = environment(ctx)
    since = _since(since_text)
    if source is not None:
        ctx.exit(export_sink(env, source, fmt, since))
    now = resolve_now(now_text, env)
    loaded = load(repo)
    ended: list[Request] = []
    if history_since:
        ended, _ = ended_requests(repo, history_since)
    evaluation = judge(loaded, now)
    verdicts: dict[str, Verdict] = {}
    if not offline and vcs_kind is None:
        from accessctl.approval.vcs.select import detect

        if detect(env.environ) is None:
            # Nothing to ask: the files alone, said so, rather than a usage error.
            env.stderr.write("note: no VCS configured (GITHUB_REPOSITORY or CI_PROJECT_ID, or "
                             "--vcs): approvers and pull requests are not read, states come "
                             "from the files alone (as with --offline)\n")
            offline = True
    if not offline and loaded.policies is not None:
        from accessctl.approval.vcs import access
        from accessctl.approval.vcs.select import from_environment
        from accessctl.approval.verify import Verifier
        from accessctl.judge.evaluate import evaluate

        vcs = from_environment(env.environ, vcs_kind)
        access.require(vcs, loaded.policies, writes=False)
        verifier = Verifier(vcs)
        # A request whose approval cannot be verified is listed as rejected, and reported.
        verdicts, unverified = judge_each([*loaded.requests, *ended], "verifying its approval",
                                          lambda request: verifier.verify(request, now))
        evaluation = evaluate(loaded.policies, loaded.requests, now,
                              teams=verifier.team_lookup(loaded.policies),
                              failed={f.location.path: f for f in unverified})
        evaluation.findings.extend(f for f in unverified
                                   if f.location.path not in evaluation.judgements)
    env.stdout.write(render(rows(evaluation, verdicts, ended, since), fmt))
    if write_internal_errors(env.stderr, evaluation.findings):
        ctx.exit(1)


def export_sink(env: Environment, source: str, fmt: str, since: datetime | None) -> int:
    """The auditor's export of the audit sink; 1 when it is not complete."""
    from accessctl.change import audit_sink
    from accessctl.report import audit_export

    location = audit_sink.parse_url(source)
    try:
        client = audit_sink.make_client(env.environ)
    except ImportError:
        raise ConfigError("--from s3://... needs boto3: pip install 'accessctl[aws]'") from None

    def lines() -> Iterator[audit_export.SinkLine]:
        for run in audit_sink.list_runs(client, location, None):
            for key in run.lines:
                for number, text in enumerate(
                        audit_sink.read_object(client, location, key), start=1):
                    yield audit_export.SinkLine(run.run_id, key, number, text)

    try:
        export = audit_export.build(lines(), since)
    except audit_sink.SinkError as error:
        raise FindingsError(f"--from: {error}") from None
    env.stdout.write(audit_export.render(export, fmt))
    for line in audit_export.summary(export, location.url):
        env.stderr.write(escape(line) + "\n")
    return 0 if export.complete else 1


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_timestamp(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError as error:
        raise ConfigError(f"--since: {error}") from None


@click.command("status")
@repo_option
@now_option
@click.option("--mine", is_flag=True, help="Only your requests ($ACCESSCTL_LOGIN or --as).")
@click.option("--as", "login", default=None, envvar="ACCESSCTL_LOGIN")
@click.option("--soon", default="1h", show_default=True, help="What counts as expiring soon.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_context
def status(ctx: click.Context, repo: Path, now_text: str | None, mine: bool, login: str | None,
           soon: str, fmt: str) -> None:
    """Active, pending and soon-expiring access, from the files (no platform contacted)."""
    from accessctl.core.durations import parse_duration

    env = environment(ctx)
    now = resolve_now(now_text, env)
    if mine and not login:
        raise ConfigError("--mine needs your login: pass --as or set ACCESSCTL_LOGIN")
    try:
        window = parse_duration(soon)
    except ValueError as error:
        raise ConfigError(f"--soon: {error}") from None
    loaded = load(repo)
    from accessctl.change.heartbeat import warn_if_stale

    warn_if_stale(repo, now, env.stderr)
    evaluation = judge(loaded, now)
    ends = Ends(loaded.policies) if loaded.policies is not None else None
    entries = []
    for path, judgement in sorted(evaluation.judgements.items(),
                                  key=lambda kv: kv[1].request.expires_at):
        request = judgement.request
        if mine and login and request.requester.casefold() != login.casefold():
            continue
        if judgement.state not in (State.ACTIVE, State.PENDING):
            continue
        entries.append({
            "request": path, "requester": request.requester,
            "entitlement": request.entitlement, "state": judgement.state.value,
            "expiring_soon": judgement.state is State.ACTIVE
            and request.expires_at - now <= window,
            "starts_at": isoformat(request.starts_at) if request.starts_at else None,
            "expires_at": isoformat(request.expires_at),
            "left": _left(request.expires_at - now),
            # Offline: an Identity Center session's length is given as AWS's longest.
            **(ends.fields(ends.of_entitlement(request.entitlement), request.expires_at)
               if ends is not None else {"fully_ends_by": None, "residual": None}),
        })
    noted = {str(e["entitlement"]) for e in entries}
    # Access held without the engine, which it found on granting and will never revoke
    # (refs/accessctl/ledger/*, read locally: status contacts nothing). Not under --mine: a
    # record names a platform account, not a requester.
    standing = [] if mine else _standing(repo, env, loaded.policies)
    if fmt == "json":
        _print_status_json(env.stdout, entries, loaded.policies, noted, standing)
    else:
        for entry in entries:
            label = "expiring soon" if entry["expiring_soon"] else entry["state"]
            starts = f" from {entry['starts_at']}" if entry["state"] == "pending" \
                and entry["starts_at"] else ""
            gone = f", fully ends by {entry['fully_ends_by']}" if entry["fully_ends_by"] else ""
            env.stdout.write(f"{label:14} {entry['entitlement']:28} {entry['requester']:12} "
                             f"until {entry['expires_at']} ({entry['left']} left{gone}){starts}  "
                             f"{entry['request']}\n")
        if not entries:
            env.stdout.write("no active or pending access\n")
        for held in standing:
            env.stdout.write(f"{'standing':14} {escape(held['principal'])} holds "
                             f"{escape(held['target'])} without accessctl (found "
                             f"{held['recorded_at']}): never revoked by it\n")
        _print_controls(env.stdout, loaded.policies, noted)
        if ends is not None:
            print_summary(env.stdout, ends, noted)
    if write_internal_errors(env.stderr, evaluation.findings):
        ctx.exit(1)


def _standing(repo: Path, env: Environment, policies: Policies | None) -> list[dict[str, str]]:
    """The pairs the engine's records say it found held when it came to grant them."""
    from accessctl.change.ledger import Origin
    from accessctl.change.ledger_store import store_for

    store = store_for(repo, env.environ) if policies is not None else None
    if store is None or policies is None:
        return []
    found = []
    for instance in sorted(policies.providers):
        for entry in sorted(store.read(instance).entries.values(),
                            key=lambda e: (e.target, e.principal)):
            if entry.origin is Origin.STANDING:
                found.append({"instance": instance, "target": entry.target,
                              "principal": entry.principal, "recorded_at": entry.at})
    for warning in store.warnings:
        env.stderr.write(f"warning: {escape(warning)}\n")
    return found


def _print_status_json(stream: TextIO, entries: list[dict[str, object]],
                       policies: Policies | None, names: Iterable[str],
                       standing: list[dict[str, str]]) -> None:
    """{"requests": [...], "controls": {entitlement: [terms]}, "summary": {...}, "standing":
    [...]}: the same request keys as `report --format json` where they mean the same."""
    import json

    from accessctl.judge.controls import describe

    controls = {}
    for name in sorted(names):
        entitlement = policies.entitlements.get(name) if policies else None
        if entitlement is not None and (lines := describe(entitlement)):
            controls[name] = list(lines)
    summary = {
        "active": sum(1 for e in entries if e["state"] == "active"),
        "pending": sum(1 for e in entries if e["state"] == "pending"),
        "expiring_soon": sum(1 for e in entries if e["expiring_soon"]),
        "standing": len(standing),
    }
    stream.write(json.dumps({"requests": entries, "controls": controls, "summary": summary,
                             "standing": standing}, indent=2) + "\n")


def _print_controls(stream: TextIO, policies: Policies | None, names: Iterable[str]) -> None:
    """The auto-approval and break-glass terms of the entitlements shown (offline: each
    request's own rule or deadline needs the VCS, see `accessctl report`)."""
    from accessctl.judge.controls import describe

    if policies is None:
        return
    for name in sorted(names):
        entitlement = policies.entitlements.get(name)
        for line in describe(entitlement) if entitlement else []:
            stream.write(f"  {name}: {line}\n")


def _left(delta: timedelta) -> str:
    from accessctl.core.durations import format_duration

    return format_duration(timedelta(minutes=int(delta.total_seconds() // 60)))
