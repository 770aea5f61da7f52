"""GitLab: group and project membership with an access level, through python-gitlab.

python-gitlab is imported only when a GitLab entitlement is used. A principal is a GitLab username,
and the user's numeric id is what the engine keeps: a username can be changed at any time (and is
then free for anyone to take), the id never. Observe reads each member's id with its username, a
grant reports the id it went to, and a revoke deletes the membership of that id.

GitLab's member `expires_at` is a date, and GitLab removes expired members in a daily background
job. The engine sets it to the day after the grant's UTC expiry date: a backstop that never ends a
grant early and removes the member even when the engine's revoke job is down; the revoke job still
removes the member at the exact `expires_at`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target, utc
from accessctl.core.retry_after import retry_after, until_reset
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers
from accessctl.providers.target_schema import param, target_kind

PLATFORM = "gitlab"

ACCESS_LEVELS: Mapping[str, int] = {
    "guest": 10,
    "planner": 15,
    "reporter": 20,
    "developer": 30,
    "maintainer": 40,
    "owner": 50,
}
_ROLE_NAMES = {level: name for name, level in ACCESS_LEVELS.items()}

_ACCESS_LEVEL_SCHEMA: Mapping[str, Any] = {
    "description": "The role granted: a name or GitLab's number for it (guest 10, planner 15, "
                   "reporter 20, developer 30, maintainer 40, owner 50). A member holds the "
                   "target when their direct membership is at least this level.",
    "oneOf": [
        {"type": "string", "enum": sorted(ACCESS_LEVELS, key=ACCESS_LEVELS.__getitem__)},
        {"type": "integer", "enum": sorted(ACCESS_LEVELS.values())},
    ],
    "examples": ["developer", 40],
}

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "default": "https://gitlab.com",
            "description": "Base URL of the GitLab instance (without /api/v4).",
            "examples": ["https://gitlab.com", "https://gitlab.example.com"],
        },
        "token_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "default": "GITLAB_TOKEN",
            "description": "Name of the environment variable holding the access token (a group "
                           "access token or a service account's token with the `api` scope).",
            "examples": ["GITLAB_TOKEN", "GITLAB_ACCESS_TOKEN"],
        },
    },
}

_PATH_OR_ID = r"^([0-9]+|[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)*)$"

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "group": target_kind(
        ["group", "access_level"],
        group=param("The group (or subgroup): its full path or numeric id.",
                    ["acme/platform", 1234], type=["string", "integer"], pattern=_PATH_OR_ID),
        access_level=_ACCESS_LEVEL_SCHEMA,
    ),
    "project": target_kind(
        ["project", "access_level"],
        project=param("The project: its path with namespace or numeric id.",
                      ["acme/platform/infra", 5678], type=["string", "integer"],
                      pattern=_PATH_OR_ID),
        access_level=_ACCESS_LEVEL_SCHEMA,
    ),
}

PERMISSIONS = """\
A token with the `api` scope (`read_api` cannot change members), held by an identity with the
Owner role on every managed group (Owner is needed to manage group members and to grant Owner;
Maintainer suffices on projects for roles up to Maintainer). Prefer a group access token or a
service account on the top-level group that contains the managed groups and projects, kept in a CI
secret and exposed as `GITLAB_TOKEN` (or the variable named by `token_env`). Calls made:

| call | why |
| --- | --- |
| `GET /users?username=` | resolve a username to its id |
| `GET /{groups,projects}/:id/members` | observe direct members |
| `GET /{groups,projects}/:id/members/:user_id` | compare an existing membership |
| `POST /{groups,projects}/:id/members` | grant (`access_level`, `expires_at`) |
| `PUT /{groups,projects}/:id/members/:user_id` | raise the role or extend the expiry |
| `DELETE /{groups,projects}/:id/members/:user_id` | revoke (`skip_subresources=true` on groups) |
"""

T = TypeVar("T")

PAGE_SIZE = 100
"""GitLab's largest page."""
PARALLEL_READS = 8
"""Member pages read at once per provider (the engine's default concurrency)."""


def backstop_date(expires_at: datetime) -> str:
    """The `expires_at` date GitLab gets: the day after the grant's UTC expiry date.

    GitLab ends access on the morning of that date (a daily job), so the day after is the earliest
    date that never cuts the grant short (on the calendar's last day, that day itself)."""
    day = utc(expires_at).date()
    return (day + timedelta(days=1) if day < date.max else day).isoformat()


class GitLabProvider:
    observe_in_parallel = True
    """Each observe call reads its own targets through the shared HTTP session, safe from several
    threads (as grant and revoke already are): the engine may split the targets over threads."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._client: Any = None
        self._user_ids: dict[str, int] = {}
        self._ids = ObservedMembers()
        """Target display -> its holders' principal keys -> their user ids, as observe read."""
        self._last = threading.local()
        # Member-list requests in flight at once, whatever the threads observing targets.
        self._reads = threading.BoundedSemaphore(PARALLEL_READS)

    # -- client -----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return str(self.instance.settings.get("url") or "https://gitlab.com").rstrip("/")

    @property
    def client(self) -> Any:
        if self._client is None:
            import gitlab

            name = str(self.instance.settings.get("token_env") or "GITLAB_TOKEN")
            token = self._environ.get(name)
            if not token:
                raise ProviderError(f"GitLab token missing: set the environment variable {name}")
            # retry_transient_errors=False here and obey_rate_limit=False on every call: the
            # engine's retry loop is the only one, so attempts do not multiply.
            client = gitlab.Gitlab(self.url, private_token=token, timeout=30,
                                   retry_transient_errors=False)
            client.session.hooks["response"].append(self._remember_retry_after)
            self._client = client
        return self._client

    def _remember_retry_after(self, response: Any, *args: Any, **kwargs: Any) -> None:
        """python-gitlab's errors carry no headers, so keep the wait a 429 asked for."""
        if response.status_code != 429:
            return
        headers = response.headers
        now = datetime.now(UTC)
        self._last.retry_after = (retry_after(headers["Retry-After"], now)
                                  if headers.get("Retry-After")
                                  else until_reset(headers.get("RateLimit-Reset"), now))

    def _call(self, subject: str, call: Callable[[], T]) -> T:
        """Run one SDK call, mapping its failures to the engine's errors."""
        import gitlab
        import requests

        self._last.retry_after = None
        try:
            return call()
        except gitlab.exceptions.GitlabError as error:
            raise self._map(subject, error) from None
        except requests.exceptions.RequestException as error:
            raise ProviderError(f"GitLab unreachable at {self.url}: {error}",
                                retryable=True) from None

    def _map(self, subject: str, error: Any) -> ProviderError:
        code = int(error.response_code or 0)
        message = error.error_message
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        message = str(message).strip()
        if code == 401:
            return ProviderError(f"GitLab rejected the token ({message}): check the token in "
                                 f"{self.instance.settings.get('token_env') or 'GITLAB_TOKEN'}")
        if code == 404:
            return _GitLabNotFound(f"{subject}: {message}", message)
        if code == 409:
            return _GitLabConflict(f"{subject}: {message}")
        if code == 429:
            return ProviderError(f"GitLab rate limit on {subject}: {message}", retryable=True,
                                 retry_after=getattr(self._last, "retry_after", None))
        return ProviderError(f"GitLab {code} on {subject}: {message}", retryable=code >= 500)

    # -- look-ups ---------------------------------------------------------------------------------
    def _source(self, target: Target) -> tuple[str, Any]:
        """A display name and the members manager of the target's group or project (lazy: no
        request until the members are used; python-gitlab URL-encodes the path)."""
        if target.kind == "group":
            ref = target.param("group")
            return f"group {ref}", self.client.groups.get(_ref(ref), lazy=True).members
        if target.kind == "project":
            ref = target.param("project")
            return f"project {ref}", self.client.projects.get(_ref(ref), lazy=True).members
        raise ProviderError(f"GitLab has no target kind {target.kind!r}; use group or project")

    def _user_id(self, username: str) -> int:
        key = principal_key(username)
        if key not in self._user_ids:
            found = self._call(f"user {username}", lambda: self.client.users.list(
                username=username, get_all=False, obey_rate_limit=False))
            match = [u for u in found if principal_key(u.username) == key]
            if not match:
                raise NotFound(f"GitLab user {username} does not exist")
            self._user_ids[key] = int(match[0].id)
        return self._user_ids[key]

    # -- the provider interface -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return True

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result = {}
        for target in targets:
            level = access_level(target)
            subject, members = self._source(target)
            listed = self._members(subject, members)
            holders = {principal_key(m.username): str(m.id) for m in listed
                       if int(m.access_level) >= level}
            self._ids.record(target.display, holders)
            result[target] = frozenset(holders)
            # A member's id is the user's id: a grant to a name observe just read needs no
            # GET /users?username=, and a revoke is one DELETE by id.
            for member in listed:
                self._user_ids.setdefault(principal_key(member.username), int(member.id))
        return result

    def member_ids(self, target: Target) -> Mapping[str, str]:
        return self._ids.held(target.display)

    def _members(self, subject: str, members: Any) -> list[Any]:
        """Every direct member, page by page. The first page says how many pages there are
        (X-Total-Pages); the others are then read side by side instead of one after another
        (one request per page either way). Without the header (GitLab leaves it out above
        10,000 rows) the pages follow the `next` links in turn."""
        with self._reads:
            first = self._call(subject, partial(members.list, iterator=True, per_page=PAGE_SIZE,
                                                obey_rate_limit=False))
        pages, size = first.total_pages, first.per_page
        if not pages or pages <= 1 or not size:
            with self._reads:
                return self._call(subject, partial(list, first))
        # Page 1, already read: no request (inside _call all the same, should a short first
        # page make the SDK follow its `next` link).
        listed = self._call(subject, lambda: list(itertools.islice(first, size)))

        # Imported here: validate loads this module for its schemas and never reads a page.
        from concurrent.futures import ThreadPoolExecutor

        def page(number: int) -> list[Any]:
            with self._reads:
                found: list[Any] = self._call(subject, partial(
                    members.list, page=number, per_page=size, get_all=False,
                    obey_rate_limit=False))
                return found

        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, pages - 1)) as pool:
            # In waves, so that a huge page count is never a huge queue of futures.
            wave = PARALLEL_READS * 4
            for start in range(2, pages + 1, wave):
                for rows in pool.map(page, range(start, min(pages, start + wave - 1) + 1)):
                    listed.extend(rows)
        return listed

    def grant(self, change: Change) -> Outcome:
        level = access_level(change.target)
        role = _ROLE_NAMES.get(level, str(level))
        user_id = self._user_id(change.principal)
        subject, members = self._source(change.target)
        subject = f"{change.principal} in {subject}"
        expires = backstop_date(change.expires_at) if change.expires_at else None
        data: dict[str, Any] = {"user_id": user_id, "access_level": level}
        if expires:
            data["expires_at"] = expires
        try:
            self._call(subject, lambda: members.create(data, obey_rate_limit=False))
        except _GitLabConflict:
            pass  # "Member already exists": compare below
        else:
            return Outcome(change, Status.DONE, f"added as {role} until {expires or 'removed'}",
                           native_expiry_set=expires is not None, principal_id=str(user_id))
        outcome = self._update_existing(change, members, subject, user_id, level, expires)
        return replace(outcome, principal_id=str(user_id))

    def _update_existing(self, change: Change, members: Any, subject: str, user_id: int,
                         level: int, expires: str | None) -> Outcome:
        """The user is already a direct member, with a membership the engine did not create
        (its own grants are seen by observe and never re-sent). Never lower its role, never
        write an expiry onto it (that would end access the engine does not manage): raise the
        role when it is lower, and tell the ledger what was there, so that the revoke puts it
        back instead of removing the member."""
        try:
            current = self._call(subject, lambda: members.get(user_id, obey_rate_limit=False))
        except _GitLabNotFound as error:
            # Removed between the 409 and this read: the next attempt adds it again.
            raise ProviderError(f"{subject}: membership changed during grant",
                                retryable=True) from error
        held_level = int(current.access_level)
        held_expiry: str | None = current.expires_at
        held_role = _ROLE_NAMES.get(held_level, str(held_level))
        until = f" until {held_expiry}" if held_expiry else " without expiry"
        if held_level >= level:
            return Outcome(change, Status.UNCHANGED,
                           f"already {held_role}{until} (membership not managed by accessctl)")
        self._call(subject, lambda: members.update(user_id, {"access_level": level},
                                                   obey_rate_limit=False))
        role = _ROLE_NAMES.get(level, str(level))
        return Outcome(change, Status.DONE,
                       f"raised from {held_role} to {role}; the membership{until} is not the "
                       f"engine's, so its expiry is left alone and the revoke puts {held_role} "
                       "back", previous=(("access_level", str(held_level)),))

    def revoke(self, change: Change) -> Outcome:
        # By the id observe read (the person granted, whatever their username is now), else by
        # the username as it resolves now.
        user_id = _user_id_of(change.principal_id) if change.principal_id is not None \
            else self._user_id(change.principal)
        subject, members = self._source(change.target)
        found = dict(change.restore)
        if "access_level" in found:
            return self._restore(change, members, subject, user_id, int(found["access_level"]))
        # Without skip_subresources GitLab also deletes the user's direct memberships in the
        # group's subgroups and projects: standing access that is not the engine's to end.
        below = {"skip_subresources": "true"} if change.target.kind == "group" else {}
        try:
            self._call(f"{change.principal} in {subject}",
                       lambda: members.delete(user_id, obey_rate_limit=False,
                                              query_data=below))
        except _GitLabNotFound as error:
            if error.platform_message != "404 Not found":
                # "404 Group Not Found", "404 Project Not Found": the target is missing.
                raise NotFound(str(error)) from None
            return Outcome(change, Status.UNCHANGED, "not a direct member")
        return Outcome(change, Status.DONE, f"removed from {subject}")

    def _restore(self, change: Change, members: Any, subject: str, user_id: int,
                 level: int) -> Outcome:
        """End a raise: the role the person held before the engine's grant, not removal."""
        role = _ROLE_NAMES.get(level, str(level))
        try:
            self._call(f"{change.principal} in {subject}", lambda: members.update(
                user_id, {"access_level": level}, obey_rate_limit=False))
        except _GitLabNotFound:
            return Outcome(change, Status.UNCHANGED, "not a direct member any more")
        return Outcome(change, Status.DONE, f"put back to {role} in {subject}")


class _GitLabConflict(ProviderError):
    """A 409: on member creation, "Member already exists"."""


class _GitLabNotFound(NotFound):
    """A 404, keeping GitLab's own message: "404 Not found" (no such member) differs from
    "404 Group Not Found" (no such group)."""

    def __init__(self, message: str, platform_message: str) -> None:
        super().__init__(message)
        self.platform_message = platform_message


def access_level(target: Target) -> int:
    raw = target.param("access_level").strip().casefold()
    if raw.isdigit() and int(raw) in _ROLE_NAMES:
        return int(raw)
    if raw in ACCESS_LEVELS:
        return ACCESS_LEVELS[raw]
    raise ProviderError(f"{target.display}: unknown GitLab access level {raw!r}; use one of "
                        f"{', '.join(ACCESS_LEVELS)} or {sorted(_ROLE_NAMES)}")


def _user_id_of(principal_id: str) -> int:
    if not principal_id.isascii() or not principal_id.isdigit():
        raise NotFound(f"GitLab user id {principal_id!r} is not a GitLab user id")
    return int(principal_id)


def _ref(ref: str) -> int | str:
    return int(ref) if ref.isdigit() else ref


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> GitLabProvider:
    return GitLabProvider(instance, environ)
