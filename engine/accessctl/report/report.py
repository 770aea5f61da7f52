"""The auditor's export: every request with its state, people, reasons, times and PR. Pure."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from accessctl.approval.approval import Verdict
from accessctl.core import markdown
from accessctl.core.model import Request, isoformat
from accessctl.judge.evaluate import Evaluation, State

COLUMNS = ("request", "requester", "entitlement", "state", "approvers", "reason", "ticket",
           "starts_at", "expires_at", "merged_at", "pull_request", "approval")


@dataclass(frozen=True)
class Row:
    request: str
    requester: str
    entitlement: str
    state: str
    approvers: str
    reason: str
    ticket: str
    starts_at: str
    expires_at: str
    merged_at: str
    pull_request: str
    approval: str
    """How it was approved: by whom, by which auto-approval rule, or break-glass and its
    ratification deadline (empty offline)."""


def state_of(judged: State, verdict: Verdict | None) -> str:
    """rejected (invalid, or merged without a valid approval), expired, approved (starts
    later), active; without a verdict (offline) approval is unknown: pending or active."""
    if judged is State.INVALID or (verdict is not None and not verdict.approved):
        return "rejected"
    if judged is State.EXPIRED:
        return "expired"
    if verdict is None:
        return "pending" if judged is State.PENDING else "active"
    return "approved" if judged is State.PENDING else "active"


def rows(evaluation: Evaluation, verdicts: Mapping[str, Verdict], ended: Sequence[Request],
         since: datetime | None) -> list[Row]:
    result = []
    for path, judgement in sorted(evaluation.judgements.items()):
        request = judgement.request
        if since is not None and request.expires_at < since:
            continue
        verdict = verdicts.get(path)
        result.append(_row(request, state_of(judgement.state, verdict), verdict))
    for request in ended:
        if since is None or request.expires_at >= since:
            result.append(_row(request, "revoked", verdicts.get(request.path)))
    return result


def _row(request: Request, state: str, verdict: Verdict | None) -> Row:
    pull = verdict.pull if verdict else None
    return Row(
        request=request.path, requester=request.requester, entitlement=request.entitlement,
        state=state, approvers=" ".join(verdict.approvers) if verdict else "",
        reason=request.reason, ticket=request.ticket or "",
        starts_at=isoformat(request.starts_at) if request.starts_at else "",
        expires_at=isoformat(request.expires_at),
        merged_at=isoformat(pull.merged_at) if pull and pull.merged_at else "",
        pull_request=pull.url if pull else "",
        approval=verdict.how if verdict else "",
    )


def render(found: Sequence[Row], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"requests": [asdict(r) for r in found]}, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in found:
            # A leading = + - @ would run as a formula when an auditor opens the file.
            writer.writerow({k: _defuse(v) for k, v in asdict(row).items()})
        return buffer.getvalue()
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for row in found:
        # Every cell is a requester's text or derived from it: inert markdown, one cell each.
        # The pull request's address comes from the VCS, not from the file: a working link.
        cells = [markdown.link(v) if k == "pull_request" and v else markdown.text(str(v))
                 for k, v in asdict(row).items()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _defuse(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
