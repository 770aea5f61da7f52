"""Entra ID (Microsoft Graph): group membership, PIM for Groups and directory role schedules.

Three target kinds:
- `group`: direct membership through `members/$ref`. No native expiry: the revoke job ends it.
- `pim_group`: a PIM for Groups assignment schedule (member or owner) that ends at the request's
  `expires_at`: Entra removes the access itself, on time, even when the revoke job is late.
- `directory_role`: a directory role assignment schedule, with the same native expiry.

A principal is a user's userPrincipalName (or mail, as `user_lookup` says); the object id is what
the engine keeps, since a UPN can be changed (and given to someone else) while the object id
stays. Observe reads each holder's object id, a grant reports the id the UPN resolved to, and a
revoke removes that object id (from the group, or as the principalId of the schedule).

msgraph-sdk is async; the provider is sync, so each provider runs the SDK's coroutines on one event
loop of its own thread (`BackgroundLoop`), where calls from the engine's worker threads run side by
side over one HTTP client. The SDK and azure-identity are imported only when the first call is made.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from accessctl.core.model import Action, Change, Outcome, ProviderInstance, Status, Target
from accessctl.core.retry_after import retry_after
from accessctl.core.timestamps import saturating_add
from accessctl.providers import sessions
from accessctl.providers.background_loop import BackgroundLoop
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers

PLATFORM = "entra"

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
_GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_GUID_RE = re.compile(_GUID)
IN_CLAUSE = 15
"""Graph takes at most 15 values in one `in (...)` filter."""
_MAX_PAGES = 10_000  # a server that keeps answering nextLinks must not loop us forever

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tenant_id": {
            "type": "string",
            "description": "Directory (tenant) id; falls back to the AZURE_TENANT_ID variable.",
            "examples": ["72f988bf-86f1-41af-91ab-2d7cd011db47"],
        },
        "client_id": {
            "type": "string",
            "description": "Application (client) id of the engine's app registration; falls back "
                           "to the AZURE_CLIENT_ID variable.",
            "examples": ["0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"],
        },
        "graph_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "Graph v1.0 root. Change it for national clouds, or for a local test "
                           "server (plain http is accepted only for localhost).",
            "examples": [DEFAULT_GRAPH_URL, "http://127.0.0.1:8080/v1.0"],
        },
        "authority_host": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9.-]+$",
            "description": "Microsoft Entra sign-in host the token is asked of. Derived from "
                           "graph_url for the national clouds Microsoft documents "
                           "(graph.microsoft.us: login.microsoftonline.us, "
                           "microsoftgraph.chinacloudapi.cn: login.chinacloudapi.cn); set it "
                           "for any other.",
            "examples": ["login.microsoftonline.us"],
        },
        "token_exchange_audience": {
            "type": "string",
            "minLength": 1,
            "description": "Audience of the GitHub OIDC token exchanged for an Entra token "
                           "(auth: workload_identity): the audience of the app's federated "
                           "credential.",
            "examples": ["api://AzureADTokenExchange"],
        },
        "auth": {
            "enum": ["workload_identity", "client_secret", "static_token"],
            "description": "How the engine gets a Graph token: `workload_identity` (federated "
                           "credential from the GitHub Actions OIDC token, no secret), "
                           "`client_secret`, or `static_token` (a bearer token from the "
                           "environment; for test servers).",
            "examples": ["workload_identity"],
        },
        "client_secret_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "description": "Environment variable holding the client secret (auth: client_secret).",
            "examples": ["AZURE_CLIENT_SECRET"],
        },
        "static_token_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "description": "Environment variable holding a bearer token (auth: static_token).",
            "examples": ["GRAPH_TOKEN"],
        },
        "user_lookup": {
            "enum": ["userPrincipalName", "mail"],
            "description": "What identities.yaml names Entra users by: their UPN (default) or "
                           "their mail address. Observed members are reported the same way.",
            "examples": ["userPrincipalName"],
        },
        "page_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 999,
            "description": "Members per page when listing ($top); Graph's maximum is 999.",
            "examples": [999],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Per-request timeout for Graph calls.",
            "examples": [30],
        },
        **sessions.ENTRA_SETTINGS,
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
                "pattern": _GUID,
                "description": "Object id of the security group the user is added to directly.",
                "examples": ["02bd9fd6-8f93-4758-87c3-1fb73740a315"],
            },
        },
    },
    "pim_group": {
        "type": "object",
        "additionalProperties": False,
        "required": ["group"],
        "properties": {
            "group": {
                "type": "string",
                "pattern": _GUID,
                "description": "Object id of a group onboarded to PIM for Groups.",
                "examples": ["02bd9fd6-8f93-4758-87c3-1fb73740a315"],
            },
            "access": {
                "enum": ["member", "owner"],
                "description": "Which relationship the time-bound assignment gives (default "
                               "member).",
                "examples": ["member"],
            },
        },
    },
    "directory_role": {
        "type": "object",
        "additionalProperties": False,
        "required": ["role"],
        "properties": {
            "role": {
                "type": "string",
                "pattern": _GUID,
                "description": "roleDefinitionId of the directory role (the template id for "
                               "built-in roles).",
                "examples": ["729827e3-9c14-49f7-bb1b-9608f156bbb8"],
            },
            "scope": {
                "type": "string",
                "pattern": "^/",
                "description": "directoryScopeId: `/` for the tenant (default) or "
                               "`/administrativeUnits/{id}`.",
                "examples": ["/"],
            },
        },
    },
}

REQUIRED_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    "any": ("User.Read.All",),
    "group": ("GroupMember.ReadWrite.All",),
    "pim_group": ("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "GroupMember.Read.All"),
    "directory_role": ("RoleAssignmentSchedule.ReadWrite.Directory",
                       "RoleManagement.Read.Directory"),
    "end_sessions": ("User.RevokeSessions.All",),
}
"""The least Graph application permissions each target kind needs ("any": every kind), as
Microsoft Graph's API reference lists them for the calls made: users (User.Read.All); group
members, read and write (GroupMember.ReadWrite.All); PIM for Groups schedules and the group's
existence; directory role schedules (RoleAssignmentSchedule.ReadWrite.Directory) and the role
definition's existence (RoleManagement.Read.Directory)."""

PERMISSIONS = """\
Microsoft Graph **application** permissions for the engine's app registration (admin consent
required), only those the target kinds in use need:

| target kind | permissions |
| --- | --- |
| any | `User.Read.All` (find users by UPN or mail) |
| `group` | `GroupMember.ReadWrite.All` |
| `pim_group` | `PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup`, plus \
`GroupMember.Read.All` to check that the group exists |
| `directory_role` | `RoleAssignmentSchedule.ReadWrite.Directory` (the schedules), plus \
`RoleManagement.Read.Directory` to check that the role exists |
| entitlements with `end_sessions: true` | `User.RevokeSessions.All` (revoke the person's \
sign-in sessions after the removal) |

never `RoleManagement.ReadWrite.Directory`: it lets its holder assign any directory role by
itself, Global Administrator included. `GroupMember.ReadWrite.All` cannot change role-assignable
groups: manage those with `pim_group`. PIM (`pim_group`, `directory_role`) needs a Microsoft
Entra ID P2 or ID Governance licence. Authenticate with workload identity federation from GitHub
Actions (no secret): a federated credential with subject `repo:ORG/REPO:environment:NAME`. In a
national cloud, set `graph_url`; the sign-in authority follows it (`authority_host`).
"""

NATIONAL_AUTHORITIES: Mapping[str, str] = {
    "graph.microsoft.com": "login.microsoftonline.com",
    "graph.microsoft.us": "login.microsoftonline.us",
    "dod-graph.microsoft.us": "login.microsoftonline.us",
    "microsoftgraph.chinacloudapi.cn": "login.chinacloudapi.cn",
}
"""Graph host -> Microsoft Entra sign-in host, per Microsoft's national cloud deployments
page: a token from the global authority is refused by a national cloud's Graph."""

DEFAULT_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def authority_host(settings: Mapping[str, Any]) -> str | None:
    """The sign-in host to ask for tokens: `authority_host`, else the one of `graph_url`'s
    cloud; None (the library's default) for a host not in the table, such as a test server."""
    explicit = settings.get("authority_host")
    if explicit:
        return str(explicit)
    host = urlsplit(str(settings.get("graph_url", DEFAULT_GRAPH_URL))).hostname or ""
    return NATIONAL_AUTHORITIES.get(host.casefold())

T = TypeVar("T")


class StaticTokenCredential:
    """An azure-core style credential that hands out one bearer token (test servers only)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        expires = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
        return AccessToken(self._token, expires)


def _github_oidc_assertion(environ: Mapping[str, str],
                           audience: str = DEFAULT_TOKEN_EXCHANGE_AUDIENCE) -> Callable[[], str]:
    """A callable fetching a fresh GitHub Actions OIDC token for Entra's token exchange."""
    url = environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    bearer = environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]

    def fetch() -> str:
        import urllib.request

        sep = "&" if "?" in url else "?"
        request = urllib.request.Request(
            f"{url}{sep}audience={quote(audience, safe='')}",
            headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["value"])

    return fetch


def make_credential(settings: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    """The credential the settings ask for, with secrets read from the environment only."""
    auth = settings.get("auth", "workload_identity")
    if auth == "static_token":
        name = settings.get("static_token_env", "GRAPH_TOKEN")
        token = environ.get(name)
        if not token:
            raise ProviderError(f"auth static_token: environment variable {name} is not set")
        return StaticTokenCredential(token)
    tenant = settings.get("tenant_id") or environ.get("AZURE_TENANT_ID")
    client = settings.get("client_id") or environ.get("AZURE_CLIENT_ID")
    if not tenant or not client:
        raise ProviderError(f"auth {auth}: tenant_id and client_id are required (in settings or "
                            "AZURE_TENANT_ID / AZURE_CLIENT_ID)")
    import azure.identity

    # A national cloud's Graph takes only its own cloud's tokens: ask its authority.
    host = authority_host(settings)
    where: dict[str, Any] = {"authority": host} if host else {}
    if auth == "client_secret":
        name = settings.get("client_secret_env", "AZURE_CLIENT_SECRET")
        secret = environ.get(name)
        if not secret:
            raise ProviderError(f"auth client_secret: environment variable {name} is not set")
        return azure.identity.ClientSecretCredential(tenant, client, secret, **where)
    if environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        return azure.identity.WorkloadIdentityCredential(
            tenant_id=tenant, client_id=client,
            token_file_path=environ["AZURE_FEDERATED_TOKEN_FILE"], **where,
        )
    github = ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if all(environ.get(name) for name in github):
        audience = str(settings.get("token_exchange_audience")
                       or DEFAULT_TOKEN_EXCHANGE_AUDIENCE)
        return azure.identity.ClientAssertionCredential(
            tenant, client, _github_oidc_assertion(environ, audience), **where)
    raise ProviderError("auth workload_identity: no OIDC token available; in GitHub Actions grant "
                        "the job `permissions: id-token: write`, elsewhere set "
                        "AZURE_FEDERATED_TOKEN_FILE")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    return retry_after(value, datetime.now(UTC))


def odata_code(error: BaseException) -> tuple[str, str]:
    """Graph's error code and message from an ODataError (empty strings when absent)."""
    main = getattr(error, "error", None)
    code = getattr(main, "code", None) or ""
    message = getattr(main, "message", None) or getattr(error, "message", None) or str(error)
    return str(code), str(message)


def translate(error: BaseException, subject: str) -> ProviderError | None:
    """The engine's error for an SDK or transport failure, or None when it is neither."""
    import httpx
    from kiota_abstractions.api_error import APIError

    if isinstance(error, ProviderError):
        return error
    if isinstance(error, APIError):
        status = error.response_status_code or 0
        code, message = odata_code(error)
        text = f"Graph {status} {code}: {message} ({subject})"
        if status == 404:
            return NotFound(f"{subject} not found in Entra ID ({code}: {message})")
        retryable = status in (408, 429) or status >= 500
        retry_after = _retry_after(error.response_headers) if retryable else None
        return ProviderError(text, retryable=retryable, retry_after=retry_after)
    if isinstance(error, httpx.TransportError):  # timeouts, refused, reset, dropped
        return ProviderError(f"Graph unreachable ({subject}): {error!r}", retryable=True)
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:  # pragma: no cover - azure-core ships with msgraph-sdk
        return None
    if isinstance(error, ClientAuthenticationError):
        return ProviderError(f"Entra ID authentication failed: {error.message}")
    return None


def is_guid(value: str) -> bool:
    return bool(_GUID_RE.match(value))


def odata_string(value: str) -> str:
    """An OData string literal: single quotes inside are doubled, so input cannot end it."""
    return "'" + value.replace("'", "''") + "'"


# A schedule request's `status` (learn.microsoft.com/graph/api/resources/request): only
# `Provisioned` means the assignment exists; the pending ones may still get there.
PIM_DONE = frozenset({"Provisioned"})
PIM_PENDING = frozenset({"Granted", "PendingApproval", "PendingAdminDecision",
                         "PendingProvisioning", "PendingScheduleCreation", "ScheduleCreated"})
PIM_WAITS_FOR_PEOPLE = frozenset({"PendingApproval", "PendingAdminDecision"})
PIM_POLL_FIRST_DELAY = 0.5
PIM_POLL_MAX_DELAY = 4.0


class EntraProvider:
    observe_in_parallel = True
    """Calls from several threads share the provider's one event loop (`BackgroundLoop`): the
    engine may split the targets over threads, and their reads run side by side."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        settings = instance.settings
        self.graph_url = str(settings.get("graph_url", DEFAULT_GRAPH_URL)).rstrip("/")
        self.lookup = str(settings.get("user_lookup", "userPrincipalName"))
        self.page_size = int(settings.get("page_size", 999))
        self.timeout = float(settings.get("timeout_seconds", 30))
        self.pim_poll_timeout = float(settings.get("timeout_seconds", 30))
        """How long a grant waits for a PIM request to be provisioned before it is retried."""
        self._loop = BackgroundLoop(f"entra-{instance.name}")
        self._client_lock = threading.Lock()
        self._client: Any = None
        self._owned: list[Any] = []  # HTTP clients and transports to close with the loop
        self._user_ids: dict[str, str] = {}
        """Principal key -> object id, from look-ups and from the member lists observe read
        (a revoke of an observed member needs no look-up). Touched only on the loop's thread."""
        self._ids = ObservedMembers()
        """Target display -> its holders' principal keys -> their object ids, as observed."""

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._client_lock:  # worker threads share one client
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> Any:
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory

        from accessctl.providers.http_lanes import LaneTransport

        host = urlsplit(self.graph_url).hostname or ""
        credential = make_credential(self.instance.settings, self._environ)
        scopes = [f"https://{host}/.default"]
        auth = AzureIdentityAuthenticationProvider(credential, scopes=scopes, allowed_hosts=[host])
        # One retry loop (the engine's): the SDK's RetryHandler would multiply attempts and
        # sleep on Retry-After itself.
        options = {**graph_options,
                   RetryHandlerOption.get_key(): RetryHandlerOption(delay=0, max_retries=0)}
        # Graph's transport wrapper does not close what it wraps: keep the real one to close.
        # Lanes of small pools: one big httpcore pool costs CPU quadratic in its connections
        # on the one loop thread (see http_lanes).
        transport = LaneTransport()
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=transport,
                                     timeout=httpx.Timeout(self.timeout, connect=10)),
            options=options,
        )
        self._owned.extend([http, transport])
        adapter = _adapter_class()(auth, client=http)
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coroutine)

    def close(self) -> None:
        """Release the HTTP connections and the event loop (a later call starts afresh)."""
        with self._client_lock:
            owned, self._owned, self._client = self._owned, [], None
        self._loop.close(*(http.aclose for http in owned))

    async def _call(self, awaitable: Awaitable[T], subject: str) -> T:
        try:
            return await awaitable
        except Exception as error:
            mapped = translate(error, subject)
            if mapped is None:
                raise
            raise mapped from None

    async def _pages(self, builder: Any, config: Any, subject: str) -> list[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink`, as plain JSON objects.

        The SDK builds each request (URL, auth, error mapping), but the pages are read as JSON:
        its models cost ~20 ms per entity to deserialize, which would make observing a group of
        a few thousand members take minutes.
        """
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        adapter = self.client.request_adapter
        info = builder.to_get_request_information(config)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while True:
            raw = await self._call(
                adapter.send_primitive_async(info, "bytes", {"XXX": ODataError}), subject
            )
            page = json.loads(raw) if raw else {}
            items.extend(v for v in page.get("value") or [] if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            if not link:
                return items
            if link in seen or len(seen) >= _MAX_PAGES:
                raise ProviderError(f"Graph paging did not end for {subject}")
            seen.add(link)
            info = builder.with_url(link).to_get_request_information()

    async def _object(self, builder: Any, config: Any, subject: str) -> dict[str, Any]:
        """One entity as plain JSON (as `_pages` reads collections: the SDK's User model alone
        costs ~30 ms of CPU to deserialize, a look-up per grant)."""
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        info = builder.to_get_request_information(config)
        raw = await self._call(
            self.client.request_adapter.send_primitive_async(info, "bytes", {"XXX": ODataError}),
            subject,
        )
        found = json.loads(raw) if raw else {}
        return found if isinstance(found, dict) else {}

    # -- users ---------------------------------------------------------------------------------
    async def _user_id(self, principal: str) -> str:
        """The object id of the user identities.yaml names `principal` (looked up once)."""
        key = principal_key(principal)
        if key not in self._user_ids:
            self._user_ids[key] = await self._look_up_user_id(principal)
        return self._user_ids[key]

    async def _look_up_user_id(self, principal: str) -> str:
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        subject = f"user {principal}"
        if self.lookup == "mail" and not is_guid(principal):
            from msgraph.generated.users.users_request_builder import UsersRequestBuilder

            query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=f"mail eq {odata_string(principal)}", select=["id", "mail"]
            )
            found = await self._pages(
                self.client.users, RequestConfiguration(query_parameters=query), subject
            )
            if not found:
                raise NotFound(f"user {principal} not found in Entra ID (no user has that mail)")
            if len(found) > 1:
                raise ProviderError(f"user {principal}: {len(found)} Entra users share that mail")
            return str(found[0]["id"])
        from msgraph.generated.users.item.user_item_request_builder import (
            UserItemRequestBuilder,
        )

        by_id = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=["id"])
        user = await self._object(self.client.users.by_user_id(principal),
                                  RequestConfiguration(query_parameters=by_id), subject)
        if not user.get("id"):
            raise NotFound(f"user {principal} not found in Entra ID")
        return str(user["id"])

    async def _look_up_many(self, principals: Sequence[str]) -> None:
        """Object ids of many users, `IN_CLAUSE` per call (`$filter=... in (...)`), the calls
        side by side, into the cache `_user_id` reads. Names Graph does not know are left to
        `_user_id`, which says so."""
        import asyncio

        wanted = sorted({principal_key(p): p for p in principals
                         if not is_guid(p) and principal_key(p) not in self._user_ids}.items())
        chunks = [[name for _, name in wanted[start:start + IN_CLAUSE]]
                  for start in range(0, len(wanted), IN_CLAUSE)]
        for found in await asyncio.gather(*(self._users_named(c) for c in chunks)):
            keys: dict[str, list[str]] = {}
            for user in found:
                if user.get("id") and user.get(self.lookup):
                    keys.setdefault(principal_key(str(user[self.lookup])), []).append(
                        str(user["id"]))
            for key, ids in keys.items():
                if len(ids) == 1:  # two users sharing a mail: _user_id reports it
                    self._user_ids.setdefault(key, ids[0])

    async def _users_named(self, names: Sequence[str]) -> list[dict[str, Any]]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.users_request_builder import UsersRequestBuilder

        listed = ", ".join(odata_string(name) for name in names)
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"{self.lookup} in ({listed})", select=["id", self.lookup], top=IN_CLAUSE)
        return await self._pages(self.client.users, RequestConfiguration(query_parameters=query),
                                 f"{len(names)} users")

    def _key(self, directory_object: Mapping[str, Any]) -> str:
        """How observe names a member: the user's UPN or mail, else its object id (groups,
        service principals, users without mail), which revoke accepts as is."""
        name = directory_object.get(self.lookup)
        return principal_key(str(name or directory_object.get("id")))

    async def _key_of_id(self, principal_id: str) -> str:
        try:
            user = await self._call(self.client.users.by_user_id(principal_id).get(),
                                    f"user {principal_id}")
        except NotFound:
            return principal_key(principal_id)  # not a user (a group or app): name it by id
        return self._key({"id": user.id, "userPrincipalName": user.user_principal_name,
                          "mail": user.mail})

    # -- public interface ----------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return target.kind in ("pim_group", "directory_role")

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._run(self._observe(target)) for target in targets}

    def prepare(self, changes: Sequence[Change]) -> None:
        """Look up in bulk the users these grants name (observe gave the ids of members, which
        revokes use): a grant is then one write, not a look-up and a write."""
        names = [c.principal for c in changes if c.action is Action.GRANT]
        if names:
            self._run(self._look_up_many(names))

    def member_ids(self, target: Target) -> Mapping[str, str]:
        return self._ids.held(target.display)

    def grant(self, change: Change) -> Outcome:
        kind = change.target.kind
        if kind == "group":
            return self._run(self._grant_group(change))
        if kind in ("pim_group", "directory_role"):
            return self._run(self._grant_schedule(change))
        raise ProviderError(f"entra has no target kind {kind!r}")

    def end_sessions(self, change: Change) -> str:
        """After a revoke: revoke the person's sign-in sessions (entra_sessions.py)."""
        from accessctl.providers import entra_sessions

        return entra_sessions.end_sessions(self, change)

    def revoke(self, change: Change) -> Outcome:
        kind = change.target.kind
        if kind == "group":
            return self._run(self._revoke_group(change))
        if kind in ("pim_group", "directory_role"):
            return self._run(self._revoke_schedule(change))
        raise ProviderError(f"entra has no target kind {kind!r}")

    async def _observe(self, target: Target) -> frozenset[str]:
        if target.kind == "group":
            return await self._observe_group(target)
        await self._check_resource(target)
        schedules = await self._schedules(target, principal_id=None)
        ids: dict[str, str] = {}
        for schedule in schedules:
            principal = schedule.get("principal")
            if isinstance(principal, dict) and principal.get("id"):
                ids[self._key(principal)] = str(principal["id"])
            else:  # the server did not expand the principal: look it up
                principal_id = str(schedule.get("principalId"))
                ids[await self._key_of_id(principal_id)] = principal_id
        self._ids.record(target.display, ids)
        return frozenset(ids)

    # -- group membership ----------------------------------------------------------------------
    async def _observe_group(self, target: Target) -> frozenset[str]:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.groups.item.members.members_request_builder import (
            MembersRequestBuilder,
        )

        group = target.param("group")
        query = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(
            top=self.page_size, select=["id", "userPrincipalName", "mail"]
        )
        members = await self._pages(
            self.client.groups.by_group_id(group).members,
            RequestConfiguration(query_parameters=query), f"group {group}",
        )
        ids: dict[str, str] = {}
        for member in members:
            key = self._key(member)
            ids[key] = str(member.get("id") or "")
            if member.get("id") and member.get(self.lookup):
                self._user_ids.setdefault(key, str(member["id"]))
        self._ids.record(target.display, {k: v for k, v in ids.items() if v})
        return frozenset(ids)

    async def _grant_group(self, change: Change) -> Outcome:
        from kiota_abstractions.api_error import APIError
        from msgraph.generated.models.reference_create import ReferenceCreate

        group = change.target.param("group")
        user_id = await self._user_id(change.principal)
        body = ReferenceCreate(odata_id=f"{self.graph_url}/directoryObjects/{user_id}")
        try:
            await self.client.groups.by_group_id(group).members.ref.post(body)
        except APIError as error:
            _, message = odata_code(error)
            if error.response_status_code == 400 and "already exist" in message:
                return Outcome(change, Status.UNCHANGED, f"already a member of group {group}",
                               principal_id=user_id)
            raise translate(error, f"group {group}") or error from None
        except Exception as error:
            raise translate(error, f"group {group}") or error from None
        return Outcome(change, Status.DONE, f"added to group {group}", principal_id=user_id)

    async def _revoke_id(self, change: Change) -> str:
        """The object id a revoke removes: the one the engine observed (whatever the UPN is
        now); else the principal itself when observe named it by object id (groups, apps);
        else the user the principal names now."""
        if change.principal_id is not None:
            if not is_guid(change.principal_id):
                raise NotFound(f"Entra object id {change.principal_id!r} is not an object id")
            return change.principal_id
        if is_guid(change.principal):
            return change.principal
        return await self._user_id(change.principal)

    async def _revoke_group(self, change: Change) -> Outcome:
        group = change.target.param("group")
        user_id = await self._revoke_id(change)
        builder = self.client.groups.by_group_id(group).members.by_directory_object_id(user_id)
        try:
            await self._call(builder.ref.delete(), f"member {change.principal} of group {group}")
        except NotFound:
            # Either not a member (done already) or no such group: only the second is an error.
            await self._call(self.client.groups.by_group_id(group).get(), f"group {group}")
            return Outcome(change, Status.UNCHANGED, f"not a member of group {group}")
        return Outcome(change, Status.DONE, f"removed from group {group}")

    # -- PIM for Groups and directory roles ----------------------------------------------------
    async def _check_resource(self, target: Target) -> None:
        """Raise NotFound when the target's group or role definition does not exist."""
        if target.kind == "pim_group":
            group = target.param("group")
            await self._call(self.client.groups.by_group_id(group).get(), f"group {group}")
        else:
            role = target.param("role")
            builder = self.client.role_management.directory.role_definitions
            await self._call(builder.by_unified_role_definition_id(role).get(),
                             f"directory role {role}")

    async def _schedules(self, target: Target, principal_id: str | None
                         ) -> list[dict[str, Any]]:
        """The target's active assignment schedules, for one principal or for all."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration

        query_type: Any
        if target.kind == "pim_group":
            from msgraph.generated.identity_governance.privileged_access.group.assignment_schedules.assignment_schedules_request_builder import (  # noqa: E501
                AssignmentSchedulesRequestBuilder as GroupSchedules,
            )

            group = target.param("group")
            clauses = [f"groupId eq {odata_string(group)}"]
            builder = self.client.identity_governance.privileged_access.group.assignment_schedules
            query_type = GroupSchedules.AssignmentSchedulesRequestBuilderGetQueryParameters
            subject = f"PIM assignments of group {group}"
        else:
            from msgraph.generated.role_management.directory.role_assignment_schedules.role_assignment_schedules_request_builder import (  # noqa: E501
                RoleAssignmentSchedulesRequestBuilder as RoleSchedules,
            )

            role = target.param("role")
            clauses = [f"roleDefinitionId eq {odata_string(role)}"]
            builder = self.client.role_management.directory.role_assignment_schedules
            query_type = RoleSchedules.RoleAssignmentSchedulesRequestBuilderGetQueryParameters
            subject = f"assignments of directory role {role}"
        if principal_id is not None:
            clauses.append(f"principalId eq {odata_string(principal_id)}")
        query = query_type(filter=" and ".join(clauses), expand=["principal"])
        found = await self._pages(builder, RequestConfiguration(query_parameters=query), subject)
        return [s for s in found if self._matches(target, s)]

    @staticmethod
    def _matches(target: Target, schedule: Mapping[str, Any]) -> bool:
        """Filter client-side what the server may not: access relationship, directory scope."""
        if target.kind == "pim_group":
            return bool(schedule.get("accessId") == target.param("access", "member"))
        return bool((schedule.get("directoryScopeId") or "/") == target.param("scope", "/"))

    def _schedule_request(self, target: Target, action: str, principal_id: str,
                          expires_at: datetime | None, justification: str) -> tuple[Any, Any]:
        """The request body and the collection to POST it to."""
        from msgraph.generated.models.expiration_pattern import ExpirationPattern
        from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
        from msgraph.generated.models.request_schedule import RequestSchedule

        schedule = None
        if action != "adminRemove":  # a removal names the assignment, not a schedule
            schedule = RequestSchedule(
                start_date_time=datetime.now(UTC).replace(microsecond=0),
                expiration=ExpirationPattern(type=ExpirationPatternType.NoExpiration)
                if expires_at is None else
                ExpirationPattern(type=ExpirationPatternType.AfterDateTime,
                                  end_date_time=expires_at.astimezone(UTC)),
            )
        if target.kind == "pim_group":
            from msgraph.generated.models.privileged_access_group_assignment_schedule_request import (  # noqa: E501
                PrivilegedAccessGroupAssignmentScheduleRequest,
            )
            from msgraph.generated.models.privileged_access_group_relationships import (
                PrivilegedAccessGroupRelationships,
            )
            from msgraph.generated.models.schedule_request_actions import ScheduleRequestActions

            body: Any = PrivilegedAccessGroupAssignmentScheduleRequest(
                access_id=PrivilegedAccessGroupRelationships(target.param("access", "member")),
                action=ScheduleRequestActions(action),
                group_id=target.param("group"),
                principal_id=principal_id,
                justification=justification,
                schedule_info=schedule,
            )
            collection = (self.client.identity_governance.privileged_access.group
                          .assignment_schedule_requests)
        else:
            from msgraph.generated.models.unified_role_assignment_schedule_request import (
                UnifiedRoleAssignmentScheduleRequest,
            )
            from msgraph.generated.models.unified_role_schedule_request_actions import (
                UnifiedRoleScheduleRequestActions,
            )

            body = UnifiedRoleAssignmentScheduleRequest(
                action=UnifiedRoleScheduleRequestActions(action),
                role_definition_id=target.param("role"),
                directory_scope_id=target.param("scope", "/"),
                principal_id=principal_id,
                justification=justification,
                schedule_info=schedule,
            )
            collection = self.client.role_management.directory.role_assignment_schedule_requests
        return body, collection

    async def _post_schedule_request(self, change: Change, action: str, principal_id: str,
                                     ) -> str | None:
        """POST the request and wait for PIM to carry it out; return the PIM error code when
        Graph refused it with a 400 or 404 (the caller decides what that means)."""
        from kiota_abstractions.api_error import APIError

        body, collection = self._schedule_request(
            change.target, action, principal_id, change.expires_at, _justification(change)
        )
        try:
            made = await collection.post(body)
        except APIError as error:
            code, _ = odata_code(error)
            status = error.response_status_code
            if status == 400 and code in ("RoleAssignmentExists", "RoleAssignmentDoesNotExist"):
                return code
            if action == "adminRemove" and status in (400, 404):
                return code or str(status)  # the caller reads the schedules again
            raise translate(error, change.target.display) or error from None
        except Exception as error:
            raise translate(error, change.target.display) or error from None
        if action != "adminRemove":
            await self._until_provisioned(change, collection, made)
        return None

    async def _until_provisioned(self, change: Change, collection: Any, made: Any) -> None:
        """Poll the schedule request (bounded) until PIM says `Provisioned`: a request that
        waits for an approver, or that PIM failed, denied or cancelled, is not a grant."""
        status = str(getattr(made, "status", None) or "Provisioned")
        request_id = str(getattr(made, "id", None) or "")
        subject = f"{change.target.display}: PIM request {request_id}"
        delay, waited = PIM_POLL_FIRST_DELAY, 0.0
        while status in PIM_PENDING and status not in PIM_WAITS_FOR_PEOPLE \
                and waited + delay <= self.pim_poll_timeout and request_id:
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, PIM_POLL_MAX_DELAY)
            item = _request_item(collection, request_id)
            again = await self._call(item.get(), subject)
            status = str(getattr(again, "status", None) or status)
        if status in PIM_DONE:
            return
        if status in PIM_WAITS_FOR_PEOPLE:
            raise ProviderError(f"{subject} is {status}: PIM waits for an approver, so nothing is "
                                "granted yet; approve it in PIM or remove the approval rule "
                                "from the role's PIM settings")
        if status in PIM_PENDING:
            raise ProviderError(f"{subject} still {status} after {waited:g}s", retryable=True)
        raise ProviderError(f"{subject} ended {status}: Entra PIM did not grant it")

    async def _grant_schedule(self, change: Change) -> Outcome:
        target = change.target
        await self._check_resource(target)
        principal_id = await self._user_id(change.principal)
        native = change.expires_at is not None
        held = await self._schedules(target, principal_id)
        if held:
            end = _end_of(held[0])
            wanted = change.expires_at
            if end is None or (wanted is not None
                               and end >= saturating_add(wanted, -timedelta(seconds=1))):
                return Outcome(change, Status.UNCHANGED, f"already assigned until {_text(end)}",
                               native_expiry_set=end is not None, principal_id=principal_id)
            refused = await self._post_schedule_request(change, "adminUpdate", principal_id)
            if refused is None:
                return Outcome(change, Status.DONE, f"assignment extended to {_text(wanted)}",
                               native_expiry_set=native, principal_id=principal_id)
            # The schedule ended between the read and the update: assign afresh.
        refused = await self._post_schedule_request(change, "adminAssign", principal_id)
        if refused == "RoleAssignmentExists":
            # Made by a concurrent run (or a retried call whose answer was lost).
            return Outcome(change, Status.UNCHANGED, "already assigned", native_expiry_set=native,
                           principal_id=principal_id)
        return Outcome(change, Status.DONE,
                       f"assigned until {_text(change.expires_at)} by Entra PIM",
                       native_expiry_set=native, principal_id=principal_id)

    async def _revoke_schedule(self, change: Change) -> Outcome:
        await self._check_resource(change.target)
        principal_id = await self._revoke_id(change)
        refused = await self._post_schedule_request(change, "adminRemove", principal_id)
        if refused is not None:
            # Graph's documentation names no code for "no such assignment" (the emulator's
            # RoleAssignmentDoesNotExist is an assumption), so the refusal is not trusted
            # either way: what PIM holds now decides.
            if not await self._schedules(change.target, principal_id):
                return Outcome(change, Status.UNCHANGED, "no active assignment")
            raise ProviderError(f"{change.target.display}: Entra PIM refused to remove the "
                                f"assignment of {change.principal} ({refused})")
        return Outcome(change, Status.DONE, "assignment removed")


def _adapter_class() -> Any:
    """Graph's request adapter, expanding each request's URL template once: kiota reads the
    URL three times per request (authentication, the request, tracing) and expands the RFC
    6570 template each time, about a millisecond of CPU on the loop thread every one of them.
    """
    from msgraph.graph_request_adapter import GraphRequestAdapter

    class PinnedUrls(GraphRequestAdapter):
        def set_base_url_for_request_information(self, request_info: Any) -> None:
            super().set_base_url_for_request_information(request_info)
            request_info.url = request_info.url  # expanded once, kept as the raw URL

    return PinnedUrls


def _request_item(collection: Any, request_id: str) -> Any:
    """The request builder for one schedule request of `collection` (group or role)."""
    by_id = next(name for name in dir(collection) if name.startswith("by_"))
    return getattr(collection, by_id)(request_id)


def _end_of(schedule: Mapping[str, Any]) -> datetime | None:
    """When a schedule ends; None for noExpiration (or an end Graph did not say)."""
    expiration = (schedule.get("scheduleInfo") or {}).get("expiration") or {}
    end = expiration.get("endDateTime")
    if expiration.get("type") == "noExpiration" or not isinstance(end, str):
        return None
    try:
        parsed = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: datetime | None) -> str:
    return "no expiry" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _justification(change: Change) -> str:
    # PIM keeps the justification in its audit log; say who asked and through which file.
    parts = [f"accessctl: {change.why}"]
    if change.person:
        parts.append(f"for {change.person}")
    if change.requests:
        parts.append(f"({', '.join(change.requests)})")
    return " ".join(parts)[:500]


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> EntraProvider:
    return EntraProvider(instance, environ)
