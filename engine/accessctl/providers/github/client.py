"""The PyGithub client of a GitHub instance (built on first use, with the engine's retry loop as
the only one), its failures mapped to the engine's errors, and the accounts behind logins: a
login can change hands, the account id never does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from accessctl.core.model import Change, ProviderInstance
from accessctl.core.retry_after import retry_after, until_reset
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.github.schema import DEFAULT_WRITE_INTERVAL, NAME
from accessctl.providers.observed import ObservedMembers

_LOGIN = re.compile(NAME)

T = TypeVar("T")


class Forbidden(ProviderError):
    """A 403 that is not a rate limit: a missing permission, or a team an IdP manages."""


class GitHubClient:
    """The client and the look-ups every part of the GitHub provider makes."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._client: Any = None
        self._users: dict[str, Any] = {}
        self._ids = ObservedMembers()
        """Team or repository -> its holders' principal keys -> their account ids."""
        self._known: dict[str, str] = {}
        """Principal key -> account id of every account a member list showed this run."""

    @property
    def base_url(self) -> str:
        return str(self.instance.settings.get("base_url") or "https://api.github.com").rstrip("/")

    @property
    def token_env(self) -> str:
        return str(self.instance.settings.get("token_env") or "GITHUB_TOKEN")

    @property
    def client(self) -> Any:
        if self._client is None:
            from github import Auth, Github

            token = self._environ.get(self.token_env)
            if not token:
                raise ProviderError(
                    f"GitHub token missing: set the environment variable {self.token_env}")
            interval = float(self.instance.settings.get("write_interval",
                                                        DEFAULT_WRITE_INTERVAL))
            # retry=None: the engine's retry loop is the only one, so attempts do not multiply
            # and a 429's Retry-After reaches it.
            self._client = Github(
                auth=Auth.Token(token), base_url=self.base_url, lazy=True, retry=None,
                per_page=100, timeout=30, seconds_between_requests=None,
                seconds_between_writes=interval or None,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, subject: str, call: Callable[[], T]) -> T:
        """Run one SDK call, mapping its failures to the engine's errors."""
        import requests
        from github import GithubException

        try:
            return call()
        except GithubException as error:
            raise self._map(subject, error) from None
        except requests.exceptions.RequestException as error:
            raise ProviderError(f"GitHub unreachable at {self.base_url}: {error}",
                                retryable=True) from None

    def _map(self, subject: str, error: Any) -> ProviderError:
        from github import RateLimitExceededException

        status = int(error.status or 0)
        data = error.data
        message = str(data.get("message") if isinstance(data, dict) else data or "").strip()
        details = data.get("errors") if isinstance(data, dict) else None
        if details:
            message = f"{message}: {details}"
        headers = {str(k).lower(): str(v) for k, v in (error.headers or {}).items()}
        # A rate limit answers 429 or 403 (docs: "Rate limits for the REST API"); a 403 is one
        # when it says so, when it carries retry-after, or when no requests remain.
        limited = (isinstance(error, RateLimitExceededException) or status == 429
                   or (status == 403 and ("rate limit" in message.lower()
                                          or "retry-after" in headers
                                          or headers.get("x-ratelimit-remaining") == "0")))
        if limited:
            return ProviderError(f"GitHub rate limit on {subject}: {message}", retryable=True,
                                 retry_after=_retry_after(headers))
        if status == 401:
            return ProviderError(f"GitHub rejected the token ({message}): check the token in "
                                 f"{self.token_env}")
        if status == 404:
            return NotFound(f"{subject}: not found on GitHub (or the token cannot see it)")
        if status == 403:
            return Forbidden(f"GitHub 403 on {subject}: {message}")
        if status >= 500:
            return ProviderError(f"GitHub {status} on {subject}: {message}", retryable=True,
                                 retry_after=_retry_after(headers))
        return ProviderError(f"GitHub {status} on {subject}: {message}")

    # -- look-ups ---------------------------------------------------------------------------------
    def _login(self, principal: str) -> str:
        """The principal's login as GitHub spells it; NotFound when there is no such user."""
        return str(self._user(principal).login)

    def _user(self, principal: str) -> Any:
        """The principal's NamedUser (fetched once); NotFound when there is no such user."""
        key = principal_key(principal)
        if key not in self._users:
            if not _LOGIN.match(principal):
                raise NotFound(f"GitHub user {principal} does not exist (not a valid login)")
            try:
                user = self._call(f"GitHub user {principal}",
                                  lambda: self.client.get_user(principal))
            except NotFound:
                raise NotFound(f"GitHub user {principal} does not exist") from None
            if user.type == "Organization":
                raise NotFound(f"GitHub user {principal} does not exist (it is an organization)")
            self._users[key] = user
        return self._users[key]

    def _id(self, principal: str) -> str:
        """The account id of a login: from this run's member lists, else looked up."""
        known = self._known.get(principal_key(principal))
        return known if known is not None else str(self._user(principal).id)

    def _login_of_id(self, principal_id: str) -> str:
        """The login the account `principal_id` has now; NotFound when there is no such
        account (deleted: nothing left to hold anything)."""
        if not principal_id.isascii() or not principal_id.isdigit():
            raise NotFound(f"GitHub account id {principal_id!r} is not an account id")
        def fetch() -> tuple[Any, str]:
            user = self.client.get_user_by_id(int(principal_id))
            return user, str(user.login)  # the lazy object's first attribute makes the GET

        try:
            user, login = self._call(f"GitHub account {principal_id}", fetch)
        except NotFound:
            raise NotFound(f"GitHub account {principal_id} does not exist") from None
        self._users.setdefault(principal_key(login), user)
        self._known[principal_key(login)] = principal_id
        return login

    def _holder(self, subject: str, change: Change) -> str | None:
        """The principal a revoke acts on: the holder of `change.principal_id` (under the
        login observe read, else the login the account has now), or `change.principal` when no
        id is given. None: this run's observation shows nobody with that id."""
        if change.principal_id is None:
            return change.principal
        observed, key = self._ids.key_of(subject, change.principal_id)
        if observed:
            return key
        return self._login_of_id(change.principal_id)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: Retry-After, else the primary limit's reset when nothing remains."""
    now = datetime.now(UTC)
    if headers.get("retry-after"):
        return retry_after(headers["retry-after"], now)
    if headers.get("x-ratelimit-remaining") == "0":
        return until_reset(headers.get("x-ratelimit-reset"), now)
    return None
