"""How the engine authenticates to Okta: as an OAuth 2.0 service app (`auth: private_key`:
client credentials with a `private_key_jwt` assertion, optionally DPoP-bound) or with an API
token (`auth: api_token`, SSWS). Secrets come from the environment only; a refusal of the
service app's credentials is said as what to fix."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from accessctl.core.model import ProviderInstance
from accessctl.providers.base import ProviderError
from accessctl.providers.okta.responses import header, status_of
from accessctl.providers.okta.schema import (
    DEFAULT_PRIVATE_KEY_ENV,
    DEFAULT_SCOPES,
    DEFAULT_TOKEN_ENV,
)

TOKEN_PATH = "/oauth2/v1/token"
TOKEN_RENEWAL_MINUTES = 5
"""The SDK fetches a new access token this long before the current one expires (its default,
pinned here so that a run never sends a token that expires in flight)."""


class OktaAuth:
    """The credentials of one Okta instance, as the SDK takes them."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        settings = instance.settings
        self._auth = str(settings.get("auth") or "api_token")
        self._token_env = str(settings.get("token_env") or DEFAULT_TOKEN_ENV)
        self._token = environ.get(self._token_env, "") if self._auth == "api_token" else ""
        self._client_id = str(settings.get("client_id") or "")
        self._scopes = tuple(str(s) for s in settings.get("scopes") or DEFAULT_SCOPES)
        self._key_env = str(settings.get("private_key_env") or DEFAULT_PRIVATE_KEY_ENV)
        self._private_key = environ.get(self._key_env, "") if self._auth == "private_key" else ""
        self._key_id = str(settings.get("key_id") or "")
        self._dpop = bool(settings.get("dpop", False))

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
        challenge = header(headers, "WWW-Authenticate") or ""
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


def refused_access_token(returned: Any) -> bool:
    """True when an API call (not the token request itself) was answered 401."""
    parts = returned if isinstance(returned, tuple) else (returned,)
    error = next((p for p in reversed(parts) if isinstance(p, BaseException)), None)
    if error is None or str(getattr(error, "url", "")).endswith(TOKEN_PATH):
        return False
    return status_of(error) == 401

