"""How the engine gets a Graph token: workload identity federation (from the GitHub Actions OIDC
token or a federated token file), a client secret, or a static token for test servers, asked of
the sign-in authority of the Graph cloud in use. Secrets come from the environment only."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from accessctl.providers.base import ProviderError
from accessctl.providers.entra.schema import DEFAULT_GRAPH_URL

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
