"""Who PagerDuty had on call at a merge, for auto-approval rules that ask (apply only).

Through PagerDuty's own client library (`pagerduty` on PyPI, the maintained successor of
pdpyras): `GET /oncalls` with `schedule_ids[]` / `escalation_policy_ids[]` and `since` = `until`
= the merge time, every page (`offset`/`limit`/`more`), 429 retried with backoff by the library.
The token (PAGERDUTY_TOKEN) is a secret of the apply job; validate never has it, so the pull
request only says the rule approves "if still on call at merge".

Any failure is an answer with an `error`: the judge then approves nobody by that rule (fail
closed) and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from accessctl.core.model import PagerDutyOnCall, isoformat
from accessctl.judge.auto_approve import OnCallAnswer, OnCallUser

TOKEN_ENV = "PAGERDUTY_TOKEN"
URL_ENV = "PAGERDUTY_API_URL"
"""The REST API's base address: https://api.pagerduty.com (the default), or the EU service
region's https://api.eu.pagerduty.com."""
MAX_429_RETRIES = 5


class PagerDuty:
    """Asks PagerDuty once per (rule's schedules, merge time) and remembers the answer."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.token = environ.get(TOKEN_ENV) or None
        self.base_url = environ.get(URL_ENV) or None
        self.ca_file = environ.get("SSL_CERT_FILE") or None
        """Certificates to trust instead of the system's (a TLS-inspecting proxy, a test
        server), as the standard variable says, read from the run's environment."""
        self._client: Any = None
        self._answers: dict[tuple[PagerDutyOnCall, datetime], OnCallAnswer] = {}

    def on_call(self, where: PagerDutyOnCall, at: datetime) -> OnCallAnswer:
        key = (where, at)
        if key not in self._answers:
            self._answers[key] = self._ask(where, at)
        return self._answers[key]

    def _ask(self, where: PagerDutyOnCall, at: datetime) -> OnCallAnswer:
        if self.token is None:
            return OnCallAnswer(at, error=f"{TOKEN_ENV} is not set in this job: give the apply "
                                "job a PagerDuty read-only token")
        try:
            client = self._connect()
        except ImportError:
            return OnCallAnswer(at, error="the pagerduty library is not installed: "
                                "pip install 'accessctl[pagerduty]'")
        params: dict[str, Any] = {"since": isoformat(at), "until": isoformat(at)}
        if where.schedule_ids:
            params["schedule_ids[]"] = list(where.schedule_ids)
        if where.escalation_policy_ids:
            params["escalation_policy_ids[]"] = list(where.escalation_policy_ids)
        users: dict[str, OnCallUser] = {}
        try:
            for entry in client.iter_all("oncalls", params=params):
                if not _covers(entry, at):
                    continue
                user = entry.get("user") or {}
                if isinstance(user.get("id"), str):
                    users.setdefault(user["id"], OnCallUser(user["id"],
                                                            str(user.get("summary") or "")))
        except Exception as error:  # the library's errors, httpx's, a malformed answer
            return OnCallAnswer(at, error=f"PagerDuty unreachable or refused: "
                                f"{type(error).__name__}: {_first_line(error)}")
        return OnCallAnswer(at, tuple(sorted(users.values(), key=lambda u: u.id)))

    def _connect(self) -> Any:
        if self._client is None:
            import pagerduty

            extra: dict[str, Any] = {}
            if self.ca_file is not None:
                import ssl

                extra["verify"] = ssl.create_default_context(cafile=self.ca_file)
            client = pagerduty.RestApiV2Client(str(self.token), base_url=self.base_url, **extra)
            # Bounded: a run waits at most ~30 s for a rate-limited or unreachable PagerDuty,
            # then the rule approves nobody (the library retries 429 forever by default).
            client.retry[429] = MAX_429_RETRIES
            client.sleep_timer = 0.5
            client.max_network_attempts = 2
            client.timeout = 20
            self._client = client
        return self._client


def _covers(entry: Mapping[str, Any], at: datetime) -> bool:
    """Whether the on-call entry includes `at` (a null start or end is open-ended)."""
    from accessctl.core.timestamps import parse_timestamp

    try:
        start = entry.get("start")
        end = entry.get("end")
        if start and parse_timestamp(str(start)) > at:
            return False
        return not (end and parse_timestamp(str(end)) <= at)
    except ValueError:
        return False


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else ""
