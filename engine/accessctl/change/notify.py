"""Tell people what happened to access: a generic webhook, Slack-compatible.

Each notice is one POST of JSON: `text` (what Slack and most chat webhooks show) plus an
`accessctl` object with the same facts as fields, for anything that routes on them. Formatting is
pure; `send` is the only I/O, bounded by a timeout, and it never raises into the engine: a chat
outage must not fail a grant or a revocation, so failures are written to stderr and counted.

The URL is a secret (a Slack webhook URL is its own credential): it comes from the environment
variable ACCESSCTL_WEBHOOK_URL only, and it is never printed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from accessctl.core import markdown
from accessctl.core.model import Action, Grant, Outcome, Status, isoformat

WEBHOOK_ENV = "ACCESSCTL_WEBHOOK_URL"
TIMEOUT_SECONDS = 5.0
EXPIRY_WARNING = timedelta(minutes=30)


class Kind(enum.StrEnum):
    GRANTED = "granted"
    REVOKED = "revoked"
    DENIED = "denied"
    EXPIRING = "expiring"
    BREAK_GLASS = "break_glass"
    """Access granted through break-glass, before any approval: the code owners must review."""
    NOT_RATIFIED = "break_glass_not_ratified"


@dataclass(frozen=True)
class Notice:
    kind: Kind
    entitlement: str
    person: str | None = None
    principal: str | None = None
    target: str | None = None
    expires_at: datetime | None = None
    requests: tuple[str, ...] = ()
    detail: str = ""
    deadline: datetime | None = None
    """Break-glass: when the code owners' ratification is due."""


def from_outcome(outcome: Outcome) -> Notice | None:
    """A notice for a change that was made; nothing for unchanged, skipped or failed ones."""
    if outcome.status is not Status.DONE:
        return None
    change = outcome.change
    kind = Kind.GRANTED if change.action is Action.GRANT else Kind.REVOKED
    return Notice(kind, change.entitlement, change.person, change.principal,
                  change.target.display, change.expires_at, change.requests, change.why)


def break_glass_used(path: str, entitlement: str, person: str, deadline: datetime,
                    reviewers: Sequence[str], pull_url: str | None) -> Notice:
    who = ", ".join(reviewers) or "the code owners"
    where = f" at {pull_url}" if pull_url else ""
    return Notice(Kind.BREAK_GLASS, entitlement, person, requests=(path,), deadline=deadline,
                  detail=f"{who} must approve the pull request{where} by {isoformat(deadline)} "
                         "or the access is revoked")


def not_ratified(path: str, entitlement: str, person: str, why: str) -> Notice:
    return Notice(Kind.NOT_RATIFIED, entitlement, person, requests=(path,), detail=why)


def denied(path: str, entitlement: str, person: str | None, reasons: Sequence[str]) -> Notice:
    return Notice(Kind.DENIED, entitlement, person, requests=(path,), detail="; ".join(reasons))


def expiring(grants: Iterable[Grant], now: datetime, *, within: timedelta = EXPIRY_WARNING,
             every: timedelta | None = None) -> list[Notice]:
    """Grants that end within `within` of `now`.

    With `every` (how often the scheduled job runs), only the run whose interval crosses the
    warning mark names a grant, so a job every 10 minutes warns once, not three times.
    """
    notices = []
    for grant in grants:
        left = grant.expires_at - now
        if left <= timedelta(0) or left > within:
            continue
        if every is not None and left <= within - every:
            continue
        notices.append(Notice(Kind.EXPIRING, grant.entitlement, grant.person, grant.principal,
                              grant.target.display, grant.expires_at, grant.requests))
    return notices


def payload(notice: Notice, now: datetime | None = None) -> dict[str, Any]:
    """The JSON body: a sentence in `text`, and the facts as fields."""
    who = notice.person or notice.principal or "someone"
    until = f" until {isoformat(notice.expires_at)}" if notice.expires_at else ""
    where = f" ({notice.target})" if notice.target else ""
    files = f" [{', '.join(notice.requests)}]" if notice.requests else ""
    if notice.kind is Kind.GRANTED:
        text = f"accessctl: granted {notice.entitlement} to {who}{until}{where}{files}"
    elif notice.kind is Kind.REVOKED:
        text = f"accessctl: revoked {notice.entitlement} from {who}{where}"
    elif notice.kind is Kind.DENIED:
        text = f"accessctl: denied {notice.entitlement} for {who}{files}: {notice.detail}"
    elif notice.kind is Kind.BREAK_GLASS:
        text = (f"accessctl: BREAK-GLASS {notice.entitlement} granted to {who} without prior "
                f"approval{files}: {notice.detail}")
    elif notice.kind is Kind.NOT_RATIFIED:
        text = (f"accessctl: break-glass not ratified: {notice.entitlement} for {who}{files}: "
                f"{notice.detail}")
    else:
        left = ""
        if now is not None and notice.expires_at is not None:
            minutes = max(0, int((notice.expires_at - now).total_seconds() // 60))
            left = f" in {minutes} minutes"
        text = (f"accessctl: {who}'s {notice.entitlement} expires{left}"
                f" (at {isoformat(notice.expires_at) if notice.expires_at else '?'}){where}: "
                "to keep it, open a pull request that extends expires_at")
    # Slack and its look-alikes render `text`, where `<...>` is a link or a mention (<!channel>):
    # it names files and repeats what requesters wrote, so it is escaped; the fields are data.
    text = markdown.chat(text)
    fields: dict[str, Any] = {
        "event": notice.kind.value,
        "entitlement": notice.entitlement,
        "person": notice.person,
        "principal": notice.principal,
        "target": notice.target,
        "expires_at": isoformat(notice.expires_at) if notice.expires_at else None,
        "requests": list(notice.requests),
    }
    if notice.detail:
        fields["detail"] = notice.detail
    if notice.deadline is not None:
        fields["deadline"] = isoformat(notice.deadline)
    return {"text": text, "accessctl": fields}


def send(url: str, notices: Sequence[Notice], stderr: TextIO, *,
         now: datetime | None = None, timeout: float = TIMEOUT_SECONDS) -> int:
    """POST each notice; returns how many were accepted (2xx). Never raises."""
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        stderr.write(f"accessctl: {WEBHOOK_ENV} is not an http(s) URL: no notifications sent\n")
        return 0
    host = parts.hostname or "?"
    sent = 0
    for notice in notices:
        body = json.dumps(payload(notice, now)).encode()
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "accessctl"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                answer.read(1024)
            sent += 1
        except urllib.error.HTTPError as error:
            stderr.write(f"accessctl: webhook at {host} answered HTTP {error.code} for a "
                         f"{notice.kind.value} notice: not delivered\n")
        except Exception as error:
            # A notification never fails the engine. Only network errors' reasons are shown:
            # others (an invalid URL) may quote the URL, which is a secret.
            reason = f": {getattr(error, 'reason', error)}" if isinstance(error, OSError) else ""
            stderr.write(f"accessctl: webhook at {host} unreachable for a {notice.kind.value} "
                         f"notice ({type(error).__name__}{reason}): not delivered\n")
    return sent


def notify(environ: Mapping[str, str], notices: Sequence[Notice], stderr: TextIO, *,
           now: datetime | None = None, timeout: float = TIMEOUT_SECONDS) -> int:
    """Send `notices` when ACCESSCTL_WEBHOOK_URL is set; without it, do nothing (returns 0)."""
    url = environ.get(WEBHOOK_ENV, "").strip()
    if not url or not notices:
        return 0
    return send(url, notices, stderr, now=now, timeout=timeout)
