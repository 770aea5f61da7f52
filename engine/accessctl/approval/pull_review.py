"""Validation of a pull request: only its changed files, judged by its base commit's policies.

It also writes (and keeps updating in place) one comment on the pull request with the plan, the
approvals still needed and who can give them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from accessctl.approval.approval import (
    REQUESTS_PREFIX,
    Verdict,
    judge_approval,
    mixes_requests_and_policy,
)
from accessctl.approval.on_behalf import is_request_bot, opener_problem
from accessctl.approval.vcs.base import PullRequest, Vcs
from accessctl.approval.verify import Verifier
from accessctl.core import markdown
from accessctl.core.durations import format_duration
from accessctl.core.errors import ConfigError
from accessctl.core.model import Finding, Location, Request, Severity, isoformat
from accessctl.judge import access_end
from accessctl.judge.evaluate import evaluate
from accessctl.read.load import FileSource, load_request
from accessctl.read.load_changed import same_requesters

MARKER = "<!-- accessctl:pull-request-review -->"
APPROVAL_MARKER = "<!-- accessctl:auto-approval -->"


@dataclass
class PullReview:
    pull: PullRequest
    findings: list[Finding]
    requests: list[Request]
    verdicts: dict[str, Verdict]
    removed: list[str]
    ends: dict[str, str] = dataclasses.field(default_factory=dict)
    """Request path -> "access fully ends by T: why" (judge/access_end.py; the pull request
    job holds no platform credentials, so an Identity Center session is given its longest)."""

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def pull_number(event: Mapping[str, Any]) -> int:
    pull = event.get("pull_request") or event.get("object_attributes")
    if not isinstance(pull, Mapping) or ("number" not in pull and "iid" not in pull):
        raise ConfigError("the event is not a pull request event (no pull_request.number)")
    return int(pull.get("number") or pull["iid"])


def review(head: FileSource, pull: PullRequest, vcs: Vcs, now: datetime) -> PullReview:
    """Judge the pull request's request files; `head` holds the files as the PR proposes them."""
    verifier = Verifier(vcs)
    base_policies, owners = verifier.base(pull.base_sha)
    changed = [p for p in pull.changed_files if p.startswith(REQUESTS_PREFIX)]
    findings: list[Finding] = []
    requests: list[Request] = []
    removed: list[str] = []
    for path in changed:
        if head.read(path) is None:
            removed.append(path)  # deleting a request ends the access early: always allowed
            continue
        request, problems = load_request(head, path)
        findings.extend(problems)
        if request is not None:
            requests.append(request)
    for protected in mixes_requests_and_policy(pull.changed_files):
        findings.append(Finding(
            Location(protected), "mixed-pull-request",
            "this pull request changes access requests and this protected file together: "
            "split it in two (policy changes need their own review)",
        ))
    if base_policies is None:
        findings.append(Finding(Location("policies/"), "base-policies",
                                "the base commit's policies cannot be read"))
        return PullReview(pull, findings, requests, {}, removed)
    teams = verifier.team_lookup(base_policies)
    # The requesters' other requests (unchanged by the pull request, so as on the base branch):
    # conflicts and the cap on active grants compare with them. Only the changed files' own
    # findings are this pull request's to report.
    others = same_requesters(head, requests, skip=changed)
    evaluation = evaluate(base_policies, [*requests, *others.values()], now, teams=teams,
                          fresh=[r.path for r in requests])
    findings.extend(f for f in evaluation.findings if f.location.path not in others)
    findings.extend(_edit_effects(vcs, pull, changed, requests, findings, now))
    # A request bot's pull request is the requester's when they opened the issue it names.
    opened = {r.path: verifier.on_behalf(pull, r, base_policies) for r in requests}
    for request in requests:
        if request.requester.casefold() == pull.author.casefold():
            continue
        problem = opener_problem(request, opened[request.path], base_policies)
        if problem is None:
            continue
        if not is_request_bot(pull, base_policies):
            problem = (f"the requester is {request.requester} but the pull request was opened "
                       f"by {pull.author}: people request access for themselves only")
        findings.append(Finding(request.line_of("requester"), "requester-not-author", problem))
    # Approvals so far, judged as if the pull request were merged now.
    reviews = vcs.reviews(pull)
    verdicts = {
        r.path: judge_approval(r, dataclasses.replace(
            opened[r.path], merged=True, merged_at=now, base_ref=vcs.default_branch),
            reviews, base_policies, owners, teams, vcs.default_branch, now=now)
        for r in requests
    }
    ends = {}
    for request in requests:
        entitlement = base_policies.entitlements.get(request.entitlement)
        residual = access_end.for_entitlement(base_policies, entitlement) if entitlement else None
        if residual is not None:
            ends[request.path] = access_end.sentence(request.expires_at, residual)
    return PullReview(pull, findings, requests, verdicts, removed, ends)


def _edit_effects(vcs: Vcs, pull: PullRequest, changed: list[str], requests: list[Request],
                  findings: list[Finding], now: datetime) -> list[Finding]:
    """Notices for the changed files that already existed on the base branch: what the edit
    does to the access the file backed there (one file read each, only for edits)."""
    from accessctl.judge.edit_effects import edit_effects

    after = {r.path: r for r in requests}
    base = vcs.files_at(pull.base_sha)
    notices: list[Finding] = []
    for path in changed:
        if base.read(path) is None:
            continue  # new on this branch: nothing was backed
        before, _ = load_request(base, path)
        notices += edit_effects(path, before, after.get(path), findings, now)
    return notices


def render_comment(result: PullReview) -> str:
    """Markdown for the pull request comment (pure)."""
    lines = [MARKER, "### accessctl review", ""]
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    if result.requests:
        lines += ["| request | entitlement | for | window | approvals |",
                  "| --- | --- | --- | --- | --- |"]
        for request in result.requests:
            verdict = result.verdicts.get(request.path)
            start = isoformat(request.starts_at) if request.starts_at else "on merge"
            if verdict is None:
                status = "-"
            elif verdict.approved_by_rule:
                status = f"auto-approved by rule `{verdict.approved_by_rule}` (checked again " \
                         "at the merge time)"
            elif verdict.pending_rule:
                # The PagerDuty token is the apply job's: this job cannot know who is on call.
                status = f"approved by rule `{verdict.pending_rule}` if still on call at merge " \
                         "(PagerDuty is asked when the pull request is merged)"
            elif verdict.break_glass == "awaiting":
                who = ", ".join(verdict.could_approve) or "the code owners"
                merged = verdict.pull.merged_at if verdict.pull else None
                within = format_duration(verdict.deadline - merged) \
                    if verdict.deadline and merged else "the review deadline"
                status = (f"**break-glass**: granted on merge without approval; {who} must "
                          f"approve within {within} of the merge, or it is revoked")
            elif verdict.approved:
                status = "approved by " + ", ".join(f"@{a}" for a in verdict.approvers)
            else:
                who = ", ".join(verdict.could_approve) or "nobody: check the policy"
                have = len(verdict.approvers)
                status = f"{have} so far; needed from {who}"
            # File names and values are the requester's: inert text (core/markdown.py).
            name = markdown.code(PurePosixPath(request.path).name)
            lines.append(f"| {name} | {markdown.text(request.entitlement)} | "
                         f"{markdown.text(request.requester)} | "
                         f"{start} → {isoformat(request.expires_at)} | {status} |")
        lines.append("")
        lines += [f"- {markdown.code(PurePosixPath(path).name)}: {markdown.text(sentence)}."
                  for path, sentence in sorted(result.ends.items())]
    for path in result.removed:
        lines.append(f"- {markdown.code(path)} is removed: its access ends when this merges.")
    lines += [f"- {markdown.code(f.location.path)}: {markdown.text(f.message)}."
              for f in result.findings if f.code == "ends-access"]
    if errors:
        lines += ["", f"**{len(errors)} problem(s) to fix:**", ""]
        lines += [f"- {markdown.code(f.location.path)} line {f.location.line}: "
                  f"{markdown.text(f.message)}" for f in errors]
    else:
        verdicts = [v for v in result.verdicts.values() if v is not None]
        if verdicts and all(v.pending_rule for v in verdicts):
            ending = ("No problems found. An auto-approval rule approves this if the requester "
                      "is still on call in PagerDuty when the pull request is merged; otherwise "
                      "a code owner must approve the final commit.")
        elif verdicts and all(v.approved_by_rule for v in verdicts):
            ending = ("No problems found. An auto-approval rule approves this: the access is "
                      "granted when the pull request is merged, if the rule still holds then.")
        elif verdicts and all(v.break_glass == "awaiting" for v in verdicts):
            ending = ("No problems found. **Break-glass**: the access is granted on merge; the "
                      "code owners must then approve this pull request before the deadline, or "
                      "it is revoked.")
        else:
            ending = ("No problems found. The access is granted when a code owner approves the "
                      "final commit and the pull request is merged.")
        lines += ["", ending]
    return "\n".join(lines).rstrip() + "\n"


def bot_approval(result: PullReview) -> str | None:
    """The body of the engine's approving review, when every request of a clean pull request is
    approved and an auto-approval rule approved at least one (None: no review). Pure.

    The review is a visible trace for people and branch protection; apply judges the rule again
    at the merge time and never counts a bot's review, this one included."""
    if not result.ok or not result.requests or result.removed:
        return None
    verdicts = [result.verdicts.get(r.path) for r in result.requests]
    if any(v is None or not v.approved or v.break_glass == "awaiting" for v in verdicts):
        return None
    rules = sorted({v.approved_by_rule for v in verdicts if v and v.approved_by_rule})
    if not rules:
        return None
    return (f"{APPROVAL_MARKER}\nAuto-approved by accessctl: rule {', '.join(rules)}. "
            "The rule is checked again when this pull request is merged; this review does not "
            "count as an approval by itself.\n")
