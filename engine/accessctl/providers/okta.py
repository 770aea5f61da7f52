"""Okta: group membership through the okta SDK (3.x, async; imported only when Okta is used).

The engine authenticates either as an OAuth 2.0 service app (`auth: private_key`, recommended: the
client-credentials grant with a `private_key_jwt` client assertion, scoped access tokens that live
an hour) or with an API token (`auth: api_token`, the default: `Authorization: SSWS ...`, with all
the permissions of the admin who created it). Secrets come from the environment only.

A principal is the person's Okta login (email-like), as identities.yaml names it; the Okta user id
is what the engine keeps, since an administrator can change a login (and give the old one to
someone else) while the id stays. A grant reports the id the login resolved to, observe reads the
id of every member, and a revoke removes that id from the group. A target of kind `group` names an
Okta group by id, or by its exact name (resolved once per provider). Okta has no expiry on group
membership in its core API: the revoke job ends these grants.

The SDK is async; the provider is sync, so each provider runs the SDK's coroutines on one event loop
of its own thread (`BackgroundLoop`), where calls from the engine's worker threads run side by side.
The SDK opens a fresh aiohttp session per request, so nothing outlives a call but the loop itself.
Its own rate-limit retries are switched off (`rateLimit.maxRetries: 0`) so that the engine's
`call_with_retry` is the one retry loop, and transport failures (which the SDK would otherwise turn
into an `AttributeError` on a missing response) are raised from a thin `HTTPClient` subclass.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from accessctl.core.model import Action, Change, Outcome, ProviderInstance, Status, Target
from accessctl.core.retry_after import retry_after, until_reset
from accessctl.providers import sessions
from accessctl.providers.background_loop import BackgroundLoop
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers

PLATFORM = "okta"
DEFAULT_TOKEN_ENV = "OKTA_API_TOKEN"
DEFAULT_PRIVATE_KEY_ENV = "OKTA_PRIVATE_KEY"
DEFAULT_SCOPES = ("okta.groups.manage", "okta.users.read")
"""What the provider's calls need: membership writes, group reads (included in manage), and
user reads to resolve logins. Nothing else, so a leaked access token can do nothing else."""
TOKEN_PATH = "/oauth2/v1/token"
TOKEN_RENEWAL_MINUTES = 5
"""The SDK fetches a new access token this long before the current one expires (its default,
pinned here so that a run never sends a token that expires in flight)."""
DEFAULT_PAGE_SIZE = 200
LOGINS_PER_LOOKUP = 40
"""Logins per bulk look-up: 40 `profile.login eq "..."` clauses keep the URL near 2 KB."""
_MAX_PAGES = 100_000  # a server that keeps answering `rel="next"` must not loop us forever
_ID_LIKE = re.compile(r"^[A-Za-z0-9]{1,64}$")

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["org_url"],
    # A service app is named by its client id: without one there is nothing to authenticate as.
    "if": {"required": ["auth"], "properties": {"auth": {"const": "private_key"}}},
    "then": {"required": ["client_id"]},
    "properties": {
        "org_url": {
            "type": "string",
            "pattern": r"^https?://[^/\s]+/?$",
            "description": "The Okta org's base URL (https; http only for local test servers with "
                           "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK=true in the environment).",
            "examples": ["https://acme.okta.com"],
        },
        "auth": {
            "enum": ["api_token", "private_key"],
            "default": "api_token",
            "description": "How the engine authenticates: `private_key` as an OAuth 2.0 service "
                           "app (client credentials with a private_key_jwt assertion; "
                           "recommended), or `api_token` with an SSWS API token.",
            "examples": ["private_key"],
        },
        "token_env": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
            "default": DEFAULT_TOKEN_ENV,
            "description": "With `auth: api_token`: name of the environment variable that holds "
                           "the Okta API token (SSWS).",
            "examples": [DEFAULT_TOKEN_ENV],
        },
        "client_id": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_-]{1,100}$",
            "description": "With `auth: private_key`: the client id of the API service "
                           "integration or OAuth 2.0 service app (not a secret).",
            "examples": ["0oa1jitengine0service7"],
        },
        "scopes": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^okta\.[A-Za-z.]+$"},
            "minItems": 1,
            "uniqueItems": True,
            "default": list(DEFAULT_SCOPES),
            "description": "With `auth: private_key`: the Okta scopes requested for the access "
                           "token; each must be granted to the app.",
            "examples": [list(DEFAULT_SCOPES)],
        },
        "private_key_env": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
            "default": DEFAULT_PRIVATE_KEY_ENV,
            "description": "With `auth: private_key`: name of the environment variable that "
                           "holds the app's RSA private key, as PEM or as a JWK (JSON).",
            "examples": [DEFAULT_PRIVATE_KEY_ENV],
        },
        "dpop": {
            "type": "boolean",
            "default": False,
            "description": "With `auth: private_key`: bind access tokens to a key the engine "
                           "holds (DPoP, RFC 9449), for apps that require DPoP proofs; a stolen "
                           "token is then useless without that key.",
            "examples": [True],
        },
        "key_id": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "With `auth: private_key`: the `kid` of the app's public key that "
                           "matches the private key (sent in the assertion's header; a JWK's "
                           "own `kid` is used when this is not set).",
            "examples": ["jit-engine-2026"],
        },
        "page_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "default": DEFAULT_PAGE_SIZE,
            "description": "Members fetched per page when listing a group (Okta recommends 200).",
            "examples": [200],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 30,
            "description": "Timeout of one HTTP request to Okta, in seconds.",
            "examples": [30],
        },
        **sessions.OKTA_SETTINGS,
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "group": {
        "type": "object",
        "additionalProperties": False,
        "required": ["group"],
        "properties": {
            "group": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "description": "The Okta group (type OKTA_GROUP) the user is added to: its id, or "
                               "its exact name (looked up once per run).",
                "examples": ["00g1helpdeskadmins0x7", "Help Desk Admins (JIT)"],
            },
        },
    },
}

PERMISSIONS = """\
Recommended (`auth: private_key`): an API service integration or OAuth 2.0 service app using the
client-credentials grant with `private_key_jwt`; its private key in the environment variable named
by `private_key_env` (default `OKTA_PRIVATE_KEY`). Grant the app only the scopes
`okta.groups.manage` and `okta.users.read`, and assign the app (it acts as the admin) a custom
admin role or the Group Membership Administrator role limited to the managed groups, as below.

Alternative (`auth: api_token`): an Okta API token (`Authorization: SSWS ...`), read from the
environment variable named by `token_env` (default `OKTA_API_TOKEN`). A token acts with the admin
roles of the user who created it, so create it as a dedicated service user whose only role is a
custom admin role:

- permissions: `okta.groups.members.manage` (add and remove members) and `okta.users.read`
  (resolve logins to user ids), which includes reading the groups in its resource set;
- resource set: only the groups the entitlements name, plus all users (to resolve logins).

The built-in Group Membership Administrator role, constrained to those groups, is the nearest
standard role.

Entitlements with `end_sessions: true` also need the `okta.users.manage` scope (add it to
`scopes`) and an admin role that may clear the sessions of the people concerned.

Groups that have an admin role assigned are the exception: Okta lets only a Super Administrator
change their membership. Manage those through a separate provider instance whose token (a Super
Administrator's) is held apart, and keep them out of the limited token's resource set.
"""


@dataclass(frozen=True)
class _Group:
    id: str
    name: str
    type: str


class _TransportError(Exception):
    """The request never got an HTTP answer (refused, reset, timed out)."""


class OktaProvider:
    observe_in_parallel = True
    """Calls from several threads share the provider's one event loop (`BackgroundLoop`): the
    engine may split the targets over threads, and their reads run side by side."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        settings = instance.settings
        self._org_url = str(settings.get("org_url", "")).rstrip("/")
        self._auth = str(settings.get("auth") or "api_token")
        self._token_env = str(settings.get("token_env") or DEFAULT_TOKEN_ENV)
        self._token = environ.get(self._token_env, "") if self._auth == "api_token" else ""
        self._client_id = str(settings.get("client_id") or "")
        self._scopes = tuple(str(s) for s in settings.get("scopes") or DEFAULT_SCOPES)
        self._key_env = str(settings.get("private_key_env") or DEFAULT_PRIVATE_KEY_ENV)
        self._private_key = environ.get(self._key_env, "") if self._auth == "private_key" else ""
        self._key_id = str(settings.get("key_id") or "")
        self._dpop = bool(settings.get("dpop", False))
        self._page_size = int(settings.get("page_size") or DEFAULT_PAGE_SIZE)
        self._timeout = float(settings.get("timeout_seconds") or 30)
        self._loop = BackgroundLoop(f"okta-{instance.name}")
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._users: dict[str, str] = {}
        self._groups: dict[str, _Group] = {}
        self._observed = ObservedMembers()
        """Group id -> its members' principal keys -> their user ids, as observe read them."""
        self._paused_until = 0.0
        """Monotonic time until which the last successful answer said the budget is spent."""

    # -- the Provider protocol -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._members(self._group(target)) for target in targets}

    def member_ids(self, target: Target) -> Mapping[str, str]:
        group = self._groups.get(target.param("group"))
        held = self._observed.held(group.id) if group is not None else {}
        return {key: user_id for key, user_id in held.items() if user_id}

    def grant(self, change: Change) -> Outcome:
        group = self._group(change.target)
        self._require_writable(group)
        user_id = self._user_id(change.principal)
        # PUT answers 204 whether or not the user was a member: to report honestly, know first.
        # This run's observation of the group says it without a request; else ask.
        if self._is_member(group, user_id):
            return Outcome(change, Status.UNCHANGED, f"already a member of Okta group {group.name}",
                           principal_id=user_id)
        self._run(lambda c: c.assign_user_to_group(group.id, user_id),
                  f"user {change.principal} or group {group.name}")
        self._observed.note(group.id, change.principal, user_id)
        return Outcome(change, Status.DONE, f"added to Okta group {group.name}",
                       principal_id=user_id)

    def prepare(self, changes: Sequence[Change]) -> None:
        """Look up in bulk the users these grants name (`filter=profile.login eq ... or ...`,
        LOGINS_PER_LOOKUP a call, the calls side by side): a grant is then one write, not a
        look-up and a write. Revokes need none: observe gave the members' ids."""
        from concurrent.futures import ThreadPoolExecutor

        wanted = {principal_key(c.principal): c.principal for c in changes
                  if c.action is Action.GRANT and principal_key(c.principal) not in self._users}
        names = sorted(wanted.values())
        chunks = [names[i:i + LOGINS_PER_LOOKUP]
                  for i in range(0, len(names), LOGINS_PER_LOOKUP)]
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(chunks))) as pool:
            found = list(pool.map(self._users_with_logins, chunks))
        for users in found:
            for user in users:
                key = principal_key(_login_of(user))
                if key in wanted and getattr(user, "id", None):
                    self._users.setdefault(key, str(user.id))

    def _users_with_logins(self, logins: Sequence[str]) -> list[Any]:
        expression = " or ".join(f'profile.login eq "{_search_literal(login)}"'
                                 for login in logins)
        return self._all_pages(
            lambda c, after: c.list_users(filter=expression, after=after, limit=200),
            f"{len(logins)} Okta users")

    def revoke(self, change: Change) -> Outcome:
        group = self._group(change.target)
        self._require_writable(group)
        if change.principal_id is not None:
            # The user the engine granted, by id: whatever their login is now.
            user_id = change.principal_id
            if not _ID_LIKE.match(user_id):
                raise NotFound(f"Okta user id {user_id!r} is not an Okta id")
        else:
            try:
                user_id = self._user_id(change.principal)
            except NotFound:
                # No such user: nobody by that login holds the group, the wanted end state.
                return Outcome(change, Status.UNCHANGED, f"no Okta user {change.principal}")
        if not self._is_member(group, user_id):
            return Outcome(change, Status.UNCHANGED, "not a member")
        try:
            self._run(lambda c: c.unassign_user_from_group(group.id, user_id),
                      f"user {change.principal} in group {group.name}")
        except NotFound:
            return Outcome(change, Status.UNCHANGED, "not a member")
        _, key = self._observed.key_of(group.id, user_id)
        if key is not None:
            self._observed.note(group.id, key, None)
        return Outcome(change, Status.DONE, f"removed from Okta group {group.name}")

    def end_sessions(self, change: Change) -> str:
        """After a revoke: end the person's Okta sessions and OAuth tokens (okta_sessions.py)."""
        from accessctl.providers import okta_sessions

        return okta_sessions.end_sessions(self, change)

    def close(self) -> None:
        """Stop the event loop's thread (the SDK holds no connection between calls)."""
        self._loop.close()

    # -- lookups ---------------------------------------------------------------------------------
    def _group(self, target: Target) -> _Group:
        wanted = target.param("group")
        cached = self._groups.get(wanted)
        if cached is not None:
            return cached
        group: _Group | None = None
        if _ID_LIKE.match(wanted):
            try:
                found, _ = self._run(lambda c: c.get_group(wanted), f"group {wanted}")
                group = _group_of(found)
            except NotFound:
                group = None  # not an id after all: try it as a name
        if group is None:
            group = self._group_by_name(wanted)
        self._groups[wanted] = group
        return group

    def _group_by_name(self, name: str) -> _Group:
        # The name goes into a search expression: escape it the way Okta's grammar reads strings.
        expression = f'profile.name eq "{_search_literal(name)}"'
        matches = [
            group for group in map(_group_of, self._all_pages(
                lambda c, after: c.list_groups(search=expression, after=after, limit=200),
                f"group {name}",
            ))
            if group.name == name  # Okta compares case-insensitively; the policy names exactly
        ]
        if not matches:
            raise NotFound(f"Okta group {name!r} does not exist (no group has that id or name)")
        if len(matches) > 1:
            ids = ", ".join(g.id for g in matches)
            raise ProviderError(f"Okta group name {name!r} is ambiguous ({ids}): use the id")
        return matches[0]

    @staticmethod
    def _require_writable(group: _Group) -> None:
        if group.type != "OKTA_GROUP":
            raise ProviderError(
                f"Okta group {group.name} ({group.id}) is of type {group.type}: its members are "
                "managed by its source (an app or directory), not through Okta"
            )

    def _user_id(self, login: str) -> str:
        key = principal_key(login)
        cached = self._users.get(key)
        if cached is not None:
            return cached
        # GET /api/v1/users/{login} accepts an id, a login or an unambiguous login shortname; only
        # an exact login match names the person identities.yaml means.
        user, _ = self._run(lambda c: c.get_user(login), f"Okta user {login}")
        found_login = _login_of(user)
        if principal_key(found_login) != key:
            raise NotFound(f"Okta user {login}: the login resolves to {found_login!r}; "
                           "identities.yaml must give the full Okta login")
        user_id = str(user.id)
        self._users[key] = user_id
        return user_id

    def _groups_of(self, user_id: str, login: str) -> set[str]:
        groups, _ = self._run(lambda c: c.list_user_groups(user_id), f"Okta user {login}")
        return {str(g.id) for g in groups or []}

    def _is_member(self, group: _Group, user_id: str) -> bool:
        """Membership of that user id as this run observed it (the engine plans from that very
        observation, moments ago), else as Okta says now: one request per change fewer."""
        observed, key = self._observed.key_of(group.id, user_id)
        if observed:
            return key is not None
        return group.id in self._groups_of(user_id, user_id)

    def _members(self, group: _Group) -> frozenset[str]:
        users = self._all_pages(
            lambda c, after: c.list_group_users(group.id, after=after, limit=self._page_size),
            f"group {group.name}",
        )
        members = {principal_key(_login_of(user)): str(getattr(user, "id", "") or "")
                   for user in users}
        for key, user_id in members.items():
            if user_id:  # the listing names each member's id: a revoke needs no look-up
                self._users.setdefault(key, user_id)
        self._observed.record(group.id, members)
        return frozenset(members)

    def _all_pages(self, call: Callable[[Any, str | None], Awaitable[Any]], subject: str
                   ) -> list[Any]:
        """Every item of a listing, following the `after` cursor in `Link: <...>; rel="next"`."""
        items: list[Any] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            page, headers = self._run(functools.partial(_with_cursor, call, after), subject)
            items.extend(page or [])
            cursor, after = after, _next_cursor(headers)
            if after is None or after == cursor:
                return items
        raise ProviderError(f"Okta kept paging {subject} past {_MAX_PAGES} pages")

    # -- one SDK call ----------------------------------------------------------------------------
    def _run(self, call: Callable[[Any], Awaitable[Any]], subject: str
             ) -> tuple[Any, Mapping[str, str]]:
        """Run one SDK call to completion; its result and response headers, or a mapped error."""
        wait, self._paused_until = self._paused_until - time.monotonic(), 0.0
        if wait > 0:
            # The last answer said the budget is spent: calling now would only earn a 429. Say
            # once how long to wait; the engine's retry loop decides, and its next try goes out.
            raise ProviderError("Okta rate limit spent (X-Rate-Limit-Remaining: 0)",
                                retryable=True, retry_after=wait)
        client = self._sdk()
        returned = self._call(client, call)
        if self._auth == "private_key" and _refused_access_token(returned):
            # The SDK keeps its access token until its own clock says it expires, and never
            # drops one that Okta refuses (revoked, or the clocks disagree). A new client
            # fetches a fresh token; the call goes out once more with it.
            returned = self._call(self._renewed_sdk(client), call)
        return self._unpack(returned, subject)

    def _call(self, client: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return self._loop.run(call(client))
        except _TransportError as error:
            raise ProviderError(f"Okta unreachable: {error}", retryable=True) from None

    def _unpack(self, returned: Any, subject: str) -> tuple[Any, Mapping[str, str]]:
        """The SDK answers tuples whose shape differs by outcome: success is
        `(result, ApiResponse, None)`; an HTTP error is `(ClientResponse, OktaAPIError)` or
        `(None, ClientResponse, OktaAPIError)`; a request that could not be built `(None, error)`.
        """
        parts = returned if isinstance(returned, tuple) else (returned,)
        error = next((p for p in reversed(parts) if isinstance(p, BaseException)), None)
        response = next((p for p in parts if _status_of(p) is not None), None)
        status = _status_of(error) or _status_of(response)
        headers = _headers_of(error) or _headers_of(response)
        if error is None and (status is None or status < 400):
            self._note_rate_limit(headers)
            return parts[0], headers
        if self._auth == "private_key":
            explained = self._explain_oauth_failure(error, status, headers, subject)
            if explained is not None:
                raise explained
        raise _mapped(error, status, headers, subject)

    def _explain_oauth_failure(self, error: BaseException | None, status: int | None,
                               headers: Mapping[str, str], subject: str) -> ProviderError | None:
        """A failure of the service app's credentials, said as what to fix; None for others."""
        code = str(getattr(error, "error_code", "") or "")
        summary = str(getattr(error, "error_summary", "") or "")
        detail = f"{code}: {summary}" if summary else code
        app = f"service app {self._client_id}"
        if str(getattr(error, "url", "")).endswith(TOKEN_PATH) and status is not None and (
                400 <= status < 500 and status != 429):
            if code == "invalid_scope":
                return ProviderError(
                    f"Okta refused the scopes {' '.join(self._scopes)} for {app} ({detail}): "
                    "grant them to the app (its Okta API Scopes tab), or correct `scopes` of "
                    f"provider {self.instance.name}")
            if code in ("invalid_dpop_proof", "use_dpop_nonce") and not self._dpop:
                return ProviderError(
                    f"Okta wants DPoP proofs from {app} ({detail}): set `dpop: true` on provider "
                    f"{self.instance.name}, or clear \"Require Demonstrating Proof of Possession "
                    "(DPoP) header in token requests\" in the app's General Settings")
            if code == "invalid_client":
                kid = f" (key id {self._key_id})" if self._key_id else ""
                return ProviderError(
                    f"Okta refused the client assertion of {app} ({detail}): check `client_id` "
                    f"of provider {self.instance.name}, and that the public key registered on "
                    f"the app matches the private key in {self._key_env}{kid}")
            return ProviderError(f"Okta token request for {app} failed (HTTP {status} {detail})")
        challenge = _header(headers, "WWW-Authenticate") or ""
        if status == 403 and "insufficient_scope" in challenge:
            needed = re.search(r'scope="([^"]*)"', challenge)
            scope = needed.group(1) if needed else "a scope"
            return ProviderError(
                f"Okta HTTP 403 {code}: the access token of {app} lacks {scope}, needed for "
                f"{subject}: add it to `scopes` of provider {self.instance.name} and grant it "
                "to the app")
        if status == 401:
            return ProviderError(
                f"Okta HTTP 401 {detail}: Okta refused a fresh access token of {app} for "
                f"{subject}")
        return None

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        remaining = _header(headers, "X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            wait = _seconds_to_reset(headers)
            if wait is not None:
                self._paused_until = time.monotonic() + wait

    def _sdk(self) -> Any:
        with self._client_lock:  # worker threads share one client
            return self._client or self._new_sdk_client()

    def _renewed_sdk(self, refused: Any) -> Any:
        """A client other than `refused`: a new one, unless another thread already made it (so
        that threads refused at once fetch one token between them, not one each)."""
        with self._client_lock:
            if self._client is refused:
                self._client = None
            return self._client or self._new_sdk_client()

    def _new_sdk_client(self) -> Any:
        if self._client is None:
            config: dict[str, Any] = {
                "orgUrl": self._org_url,
                # One retry loop (the engine's): the SDK's own would sleep and multiply attempts.
                "rateLimit": {"maxRetries": 0},
                "requestTimeout": self._timeout,
                "httpClient": _raising_http_client(),
                **self._credentials(),
            }
            from okta.client import Client

            _ignore_sdk_config_files()
            try:
                self._client = Client(config)
            except ValueError as error:  # the SDK's configuration check (https, token, ...)
                raise ProviderError(f"Okta client configuration: {error}".strip()) from None
        return self._client

    def _credentials(self) -> dict[str, Any]:
        """The SDK's configuration for the chosen authentication, secrets from the environment."""
        if self._auth == "api_token":
            if not self._token:
                raise ProviderError(
                    f"no Okta API token: set the environment variable {self._token_env}")
            return {"authorizationMode": "SSWS", "token": self._token}
        if not self._client_id:
            raise ProviderError(f"Okta provider {self.instance.name}: `auth: private_key` needs "
                                "`client_id` (the service app's client id)")
        if not self._private_key.strip():
            raise ProviderError(
                f"no Okta private key: set the environment variable {self._key_env} to the "
                f"private key (PEM or JWK) of service app {self._client_id}")
        pem, kid = _private_key_pem(self._private_key, self._key_env)
        credentials: dict[str, Any] = {
            "authorizationMode": "PrivateKey",
            "clientId": self._client_id,
            "scopes": list(self._scopes),
            # Always PEM text: the SDK would read a value naming an existing file from disk, and
            # evaluates JWK text with `literal_eval`; neither is what an environment secret means.
            "privateKey": pem,
            "oauthTokenRenewalOffset": TOKEN_RENEWAL_MINUTES,
            # The SDK makes a DPoP key per client (in memory only), answers the server's nonce
            # challenge, and signs a proof for every request.
            "dpopEnabled": self._dpop,
        }
        if self._key_id or kid:
            credentials["kid"] = self._key_id or kid
        return credentials


# -- helpers --------------------------------------------------------------------------------------
def _raising_http_client() -> type[Any]:
    """The SDK's HTTP client, raising on transport failures instead of returning a bare error."""
    from okta.http_client import HTTPClient

    class RaisingHTTPClient(HTTPClient):
        async def send_request(self, request: Any) -> Any:
            sent: Any = await super().send_request(request)  # type: ignore[no-untyped-call]
            if sent[1] is None and sent[3] is not None:
                raise _TransportError(f"{type(sent[3]).__name__}: {sent[3]}")
            return sent

    return RaisingHTTPClient


def _private_key_pem(text: str, env: str) -> tuple[str, str]:
    """The RSA private key in `text` (PEM, or a JWK as JSON) as PKCS#8 PEM, and the JWK's kid.
    A ProviderError naming the environment variable when it is anything else."""
    import jwt  # PyJWT and cryptography come with the okta SDK
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    text = text.strip()
    kid = ""
    key: Any
    try:
        if text.startswith("{"):
            jwk = json.loads(text)
            if not isinstance(jwk, dict):
                raise ValueError("not a JSON object")
            kid = str(jwk.get("kid") or "")
            key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        elif text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raise ValueError("neither PEM (-----BEGIN ...) nor a JWK ({...})")
    except (ValueError, TypeError, KeyError, UnsupportedAlgorithm, jwt.PyJWTError) as error:
        # The messages name the format's fault, never the key's content.
        raise ProviderError(f"{env} does not hold a usable private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        what = "a public key" if isinstance(key, rsa.RSAPublicKey) else type(key).__name__
        raise ProviderError(f"{env} holds {what}: Okta's private_key_jwt here needs the RSA "
                            "private key (RS256)")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem.decode("ascii"), kid


def _refused_access_token(returned: Any) -> bool:
    """True when an API call (not the token request itself) was answered 401."""
    parts = returned if isinstance(returned, tuple) else (returned,)
    error = next((p for p in reversed(parts) if isinstance(p, BaseException)), None)
    if error is None or str(getattr(error, "url", "")).endswith(TOKEN_PATH):
        return False
    return _status_of(error) == 401


def _with_cursor(call: Callable[[Any, str | None], Awaitable[Any]], cursor: str | None,
                 client: Any) -> Awaitable[Any]:
    return call(client, cursor)


def _mapped(error: BaseException | None, status: int | None, headers: Mapping[str, str],
            subject: str) -> ProviderError:
    code = str(getattr(error, "error_code", "") or "")
    summary = str(getattr(error, "error_summary", "") or "") or str(error or "") or "no detail"
    message = " ".join(part for part in ("Okta HTTP", str(status), code) if part) + f": {summary}"
    if status == 404:
        return NotFound(f"{subject}: {summary}")
    if status == 429:
        return ProviderError(message, retryable=True, retry_after=_seconds_to_reset(headers))
    if status is None or status >= 500:
        # No status: the SDK failed before or after the exchange (e.g. its timeout check).
        return ProviderError(message if status else f"Okta call failed: {summary}",
                             retryable=True, retry_after=_retry_after(headers))
    return ProviderError(message)


def _status_of(part: Any) -> int | None:
    for name in ("status", "status_code"):
        value = getattr(part, name, None)
        if isinstance(value, int):
            return value
    return None


def _headers_of(part: Any) -> Mapping[str, str]:
    for name in ("headers", "response_headers"):
        value = getattr(part, name, None)
        if value:
            return _flatten(value)
    return {}


def _flatten(headers: Any) -> dict[str, str]:
    """Headers as a plain dict; repeated ones (Okta sends two `Link`s) joined with commas."""
    getall = getattr(headers, "getall", None)
    flat: dict[str, str] = {}
    for key in headers:
        if key in flat:
            continue
        values = getall(key) if getall is not None else [headers[key]]
        flat[key] = ", ".join(str(v) for v in values)
    return flat


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _next_cursor(headers: Mapping[str, str]) -> str | None:
    link = _header(headers, "Link")
    if not link:
        return None
    from okta.pagination import PaginationHelper

    cursor = PaginationHelper.extract_next_cursor({"Link": link})
    return str(cursor) if cursor else None


def _seconds_to_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until `X-Rate-Limit-Reset` (epoch seconds), measured against the server's `Date`
    when it sent one, so that a skewed local clock does not matter."""
    reset = _header(headers, "X-Rate-Limit-Reset")
    if reset is None:
        return _retry_after(headers)
    date = _header(headers, "Date")
    now = datetime.now(UTC)
    if date:
        with contextlib.suppress(TypeError, ValueError):
            now = parsedate_to_datetime(date)
    wait = until_reset(reset, now)
    return None if wait is None else wait + 1.0  # the reset has one-second granularity


def _retry_after(headers: Mapping[str, str]) -> float | None:
    return retry_after(_header(headers, "Retry-After"), datetime.now(UTC))


def _search_literal(value: str) -> str:
    """A string inside a search or filter expression's quotes, escaped as Okta's grammar reads
    it: a quote or backslash in a login cannot end the literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _group_of(found: Any) -> _Group:
    profile = getattr(found, "profile", None)
    # The SDK wraps the profile in an anyOf holder; the real profile is its `actual_instance`.
    inner = getattr(profile, "actual_instance", None) or profile
    kind = getattr(found, "type", None)
    return _Group(str(found.id), str(getattr(inner, "name", "") or found.id),
                  str(getattr(kind, "value", kind) or "OKTA_GROUP"))


def _login_of(user: Any) -> str:
    return str(getattr(getattr(user, "profile", None), "login", "") or "")


def _ignore_sdk_config_files() -> None:
    """The okta SDK merges `okta.yaml` from the working directory (in CI: the access repository,
    whose files anyone may propose) and `~/.okta/okta.yaml` into every client's settings, a proxy
    included, which would route the token and every call through it. The engine's settings come
    from providers.yaml and the environment only: point the SDK's two paths at nothing."""
    from okta.config import config_setter

    # os.path.exists("") is False: the SDK skips both files.
    config_setter._LOCAL_YAML_PATH = ""  # type: ignore[attr-defined]
    config_setter._GLOBAL_YAML_PATH = ""  # type: ignore[attr-defined]


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> OktaProvider:
    return OktaProvider(instance, environ)
