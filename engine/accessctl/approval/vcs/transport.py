"""The HTTP layer under both VCS clients: the API budget, retries, and errors a run can act on.

PyGithub and python-gitlab both speak HTTP through `requests`; `BudgetAdapter` sits under each
(mounted on its session) and sees every request either makes:

- Before a request: when the last answer said the budget is down to the reserve
  (`x-ratelimit-remaining` on GitHub, `RateLimit-Remaining` on GitLab) and its window has not
  reset, the request is not sent: `VcsBudgetSpent`. The reserve is left for whatever else uses
  the same token within the hour (comments, other workflow jobs, the next run's first calls).
- After it: 429, 5xx and GitHub's secondary limit (403 with `retry-after`, or the documented
  "secondary rate limit" message) are retried with backoff, honouring Retry-After; a primary
  limit answered with `x-ratelimit-remaining: 0` (403 or 429) is waited out until its reset when
  that is near enough (`max_wait`), else the budget is spent. A 401 is the token's fault:
  `VcsTokenRejected`, a configuration error naming the variable it came from.
- A VCS that cannot be reached (refused, reset, timed out, 5xx to the last attempt) is
  `VcsUnreachable`, and every later request of the run fails at once with the same reason: the
  run goes on without the VCS instead of waiting out a timeout per request.

`VcsBudgetSpent` and `VcsUnreachable` are `VcsDeferral`s: the requests they stop are deferred
(neither granted nor revoked, retried next run), and the run exits 1. They never exit 3.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from accessctl.core.errors import AccessctlError, ConfigError
from accessctl.core.retry_after import retry_after, until_reset

DEFAULT_RESERVE = 50
DEFAULT_MAX_WAIT = 60.0
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SECONDARY_WAIT = 60.0
"""GitHub: without Retry-After, wait at least a minute after a secondary limit."""
SECONDARY_MESSAGE = "secondary rate limit"
"""The words GitHub's documented secondary-limit answer carries ("You have exceeded a secondary
rate limit. Please wait a few minutes before you try again...")."""


class VcsDeferral(AccessctlError):
    """The VCS cannot answer in this run: what needed it waits for the next run (exit 1)."""

    exit_code = 1


class VcsUnreachable(VcsDeferral):
    """The VCS did not answer (connection refused or reset, timeout, 5xx every time)."""


class VcsBudgetSpent(VcsDeferral):
    """The API budget is down to the reserve, or the VCS said it is spent until too late."""


class VcsTokenRejected(ConfigError):
    """401: the token is wrong, expired or revoked (exit 2)."""


@dataclass(frozen=True)
class BudgetSettings:
    platform: str
    """"GitHub" or "GitLab", for messages."""
    url: str
    token_variable: str
    """The environment variable the token came from, named when the VCS refuses it."""
    reserve: int = DEFAULT_RESERVE
    max_wait: float = DEFAULT_MAX_WAIT
    """The longest wait for a limit's reset or a Retry-After; longer means spent for this run."""
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0


def settings_from(environ: Mapping[str, str], platform: str, url: str,
                  token_variable: str) -> BudgetSettings:
    """Settings with the reserve and the longest wait from ACCESSCTL_VCS_RESERVE and
    ACCESSCTL_VCS_MAX_WAIT (seconds) when set."""
    reserve = _number(environ, "ACCESSCTL_VCS_RESERVE", DEFAULT_RESERVE)
    wait = _number(environ, "ACCESSCTL_VCS_MAX_WAIT", DEFAULT_MAX_WAIT)
    return BudgetSettings(platform, url, token_variable, reserve=int(reserve), max_wait=wait)


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ConfigError(f"{name}={text!r}: expected a number of at least 0")
    return value


class Budget:
    """What the VCS said about the budget, shared by every request of one client."""

    def __init__(self, settings: BudgetSettings, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.down: str | None = None
        """Why the VCS is unreachable, once it was: later requests fail at once."""
        self.sent = 0
        """Requests sent (retries included)."""

    # -- before a request ---------------------------------------------------------------------
    def check(self) -> None:
        with self._lock:
            if self.down is not None:
                raise VcsUnreachable(self.down)
            remaining, reset_at = self.remaining, self.reset_at
            if remaining is None or remaining > self.settings.reserve:
                return
            wait = None if reset_at is None else reset_at - self._clock()
            if wait is not None and wait <= self.settings.max_wait:
                # A new window soon (or already): wait for it rather than defer; the next
                # answer says how much it holds.
                self.remaining = None
            else:
                raise VcsBudgetSpent(self._spent_message(remaining, reset_at))
        if wait > 0:
            self._sleep(wait + 1.0)  # resets have one-second granularity

    def _spent_message(self, remaining: int, reset_at: float | None) -> str:
        s = self.settings
        when = (f"; it resets at {_stamp(reset_at)}" if reset_at is not None else "")
        return (f"{s.platform} API budget at {s.url} is down to {remaining} requests, the "
                f"reserve kept for other work{when} (ACCESSCTL_VCS_RESERVE={s.reserve})")

    # -- after it -----------------------------------------------------------------------------
    def observe(self, headers: Mapping[str, str]) -> None:
        """Remember what the answer says is left (GitHub's or GitLab's headers)."""
        resource = _header(headers, "x-ratelimit-resource")
        if resource is not None and resource.strip().lower() != "core":
            # GitHub meters GraphQL (and search) apart: their headers say nothing of the REST
            # budget the run spends.
            with self._lock:
                self.sent += 1
            return
        left = _header(headers, "x-ratelimit-remaining", "ratelimit-remaining")
        reset = _header(headers, "x-ratelimit-reset", "ratelimit-reset")
        with self._lock:
            self.sent += 1
            if left is not None:
                try:
                    self.remaining = max(0, int(float(left)))
                except ValueError:
                    return
                if reset is not None:
                    wait = until_reset(reset, self._now())
                    self.reset_at = None if wait is None else self._clock() + wait

    def retry_wait(self, response: requests.Response) -> tuple[str, float] | None:
        """("limited" or "failing", seconds to wait) when the answer is worth retrying."""
        status = response.status_code
        headers = response.headers
        now = self._now()
        asked = retry_after(headers.get("retry-after"), now)
        left = _header(headers, "x-ratelimit-remaining", "ratelimit-remaining")
        exhausted = left is not None and left.strip() == "0"
        until = until_reset(_header(headers, "x-ratelimit-reset", "ratelimit-reset"), now)
        if status in (403, 429):
            secondary = status == 403 and (asked is not None or _says_secondary(response))
            if status == 429 or secondary or exhausted:
                if asked is not None:
                    return "limited", asked
                if exhausted and until is not None:
                    return "limited", until + 1.0  # resets have one-second granularity
                return "limited", SECONDARY_WAIT if secondary else self._backoff(1)
            return None
        if status >= 500:
            return "failing", asked if asked is not None else -1.0
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.max_delay, self.settings.base_delay * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)

    def wait(self, seconds: float, attempt: int) -> None:
        self._sleep(seconds if seconds >= 0 else self._backoff(attempt))

    def mark_down(self, why: str) -> VcsUnreachable:
        with self._lock:
            self.down = why
        return VcsUnreachable(why)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


class BudgetAdapter(HTTPAdapter):
    """`requests` transport that keeps a VCS client inside its budget (see the module)."""

    def __init__(self, budget: Budget, **kwargs: Any) -> None:
        super().__init__(max_retries=0, **kwargs)
        self.budget = budget

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        settings = self.budget.settings
        # A write that failed on the way may still have been made: it is sent again only after
        # an answer that says it was not (a rate limit), never after a 5xx or a lost answer.
        idempotent = _idempotent(request)
        attempt = 1
        while True:
            self.budget.check()
            try:
                response = super().send(request, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt >= settings.attempts or not idempotent:
                    raise self.budget.mark_down(
                        f"{settings.platform} unreachable at {settings.url}: "
                        f"{type(error).__name__}: {_short(error)}") from None
                self.budget.wait(-1.0, attempt)
                attempt += 1
                continue
            self.budget.observe(response.headers)
            if response.status_code == 401:
                said = _message(response)
                response.close()
                hint = ("; a GitHub App installation token expires an hour after it is made: "
                        "mint it in the job" if settings.platform == "GitHub" else "")
                raise VcsTokenRejected(
                    f"{settings.platform} at {settings.url} refused the token (401"
                    f"{': ' + said if said else ''}): check {settings.token_variable}{hint}")
            retry = self.budget.retry_wait(response)
            if retry is None:
                return response
            kind, seconds = retry
            response.close()
            if kind == "failing" and not idempotent:
                raise VcsUnreachable(
                    f"{settings.platform} at {settings.url} answered HTTP {response.status_code} "
                    f"to a {request.method}: not sent again, since it may have been made")
            if kind == "limited" and seconds > settings.max_wait:
                raise VcsBudgetSpent(
                    f"{settings.platform} API rate limit at {settings.url}: the budget is spent "
                    f"for the next {seconds:.0f} s (longer than ACCESSCTL_VCS_MAX_WAIT="
                    f"{settings.max_wait:g})")
            if attempt >= settings.attempts:
                if kind == "limited":
                    raise VcsBudgetSpent(f"{settings.platform} API rate limit at {settings.url}: "
                                         f"still limited after {attempt} attempts")
                raise self.budget.mark_down(
                    f"{settings.platform} unreachable at {settings.url}: HTTP "
                    f"{response.status_code} after {attempt} attempts")
            self.budget.wait(min(seconds, settings.max_wait), attempt)
            attempt += 1


def _idempotent(request: requests.PreparedRequest) -> bool:
    """Whether sending `request` twice does what sending it once does: the idempotent methods,
    and a GraphQL query (a POST that only reads; a `mutation` writes)."""
    method = (request.method or "GET").upper()
    if method in IDEMPOTENT:
        return True
    if method != "POST" or not urlsplit(request.url or "").path.endswith("/graphql"):
        return False
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    try:
        query = json.loads(body or b"null").get("query", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(query, str) and query.lstrip().startswith(("query", "{"))


def mount(session: requests.Session, budget: Budget) -> None:
    adapter = BudgetAdapter(budget)
    session.mount("http://", adapter)
    session.mount("https://", adapter)


def install_on_github(client: Any, budget: Budget) -> None:
    """Put the adapter under a PyGithub client. PyGithub builds its `requests` session in a
    connection object when the first request is made and offers no way to pass one in, so the
    requester's connection class is replaced by one that mounts the adapter on the session it
    builds. Checked here, so that a PyGithub that renamed it fails loudly, not silently
    unbudgeted."""
    requester = client.requester
    name = "_Requester__connectionClass"
    base = getattr(requester, name, None)
    if base is None or not hasattr(base, "__init__"):
        raise RuntimeError("this PyGithub has no connection class to budget: pin PyGithub 2.x")

    class Budgeted(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            mount(self.session, budget)

    setattr(requester, name, Budgeted)


def _says_secondary(response: requests.Response) -> bool:
    try:
        text = response.text[:2000]
    except Exception:  # a body that cannot be read says nothing
        return False
    return SECONDARY_MESSAGE in text.casefold()


def _message(response: requests.Response) -> str:
    """The platform's own words from an error body ({"message": ...}), one short line."""
    try:
        data = response.json()
    except ValueError:
        return ""
    text = data.get("message") if isinstance(data, dict) else None
    return _short(ValueError(text)) if isinstance(text, str) else ""


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    """The first of `names` (lower case) the headers hold, in any case."""
    for name in names:
        value = headers.get(name)  # requests' headers ignore case already
        if value is not None:
            return str(value)
    lowered = {str(key).lower(): value for key, value in headers.items()}
    return next((str(lowered[name]) for name in names if name in lowered), None)


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:200] + "..."


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
