"""Who may call: an SSWS API token, or an OAuth 2.0 access token from the org authorization
server's `POST /oauth2/v1/token` (client credentials with a `private_key_jwt` client
assertion), sent as a Bearer token or bound to a key with DPoP proofs (RFC 9449), and holding
the scope the endpoint needs. The request budget is spent here too."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from accessctl.emulators.http import Handler, HttpError, Request, Response
from accessctl.emulators.okta.server import OktaServer
from accessctl.emulators.okta.state import AccessToken, OAuthClient
from accessctl.emulators.okta.wire import (
    ASSERTION_MAX_LIFETIME,
    JWT_BEARER,
    ROUTE_SCOPES,
    TOKEN_PATH,
    base62,
    okta_error,
)


def generate_key_pair(kid: str | None = None) -> tuple[str, dict[str, Any]]:
    """A fresh RSA key pair for a test service app: the private key as PKCS#8 PEM (what the
    engine reads from its environment) and the public key as a JWK (what Okta registers).
    Made at test time, so no private key ever sits in the repository."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode("ascii")
    public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"use": "sig", "alg": "RS256"})
    if kid:
        public["kid"] = kid
    return pem, public


def oauth_error(status: int, error: str, description: str) -> HttpError:
    """The token endpoint's error answer (RFC 6749 5.2, as Okta sends it)."""
    return HttpError(status, {"error": error, "error_description": description},
                     {"Cache-Control": "no-store", "Pragma": "no-cache"})


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: SHA-256 of the key's required members, sorted, without whitespace."""
    import base64
    import hashlib
    import json

    members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}.get(str(jwk.get("kty")))
    if members is None:
        raise oauth_error(400, "invalid_dpop_proof", "The DPoP proof key type is not supported.")
    canonical = json.dumps({m: jwk.get(m) for m in members}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _route_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"[^/]+", template) + "$")


SCOPE_PATTERNS = [(method, _route_pattern(template), scope)
                  for (method, template), scope in ROUTE_SCOPES.items()]


def scope_satisfied(needed: str, held: Iterable[str]) -> bool:
    """A `.manage` scope includes its `.read` (Okta: "okta.groups.read or okta.groups.manage")."""
    held = set(held)
    return needed in held or (needed.endswith(".read")
                              and needed.removesuffix(".read") + ".manage" in held)


class Auth(OktaServer):
    def _auth_routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", TOKEN_PATH, self._token)]

    def dispatch(self, request: Request) -> Response:
        now = time.time()
        if request.path == TOKEN_PATH:
            # The token endpoint authenticates the client itself (the assertion), and Okta
            # counts it in a rate-limit bucket of its own: the API budget is not spent here.
            response = super().dispatch(request)
        else:
            response = self._api(request, now)
        with self.lock:
            headers = self.rate.headers(now)
        response.headers = {**headers, **response.headers,
                            "X-Okta-Request-Id": self._request_id()}
        self._log(request.method, request.path, response)
        return response

    def _api(self, request: Request, now: float) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme in ("Bearer", "DPoP"):
            refused = self._bearer_refusal(request, scheme, credential.strip(), now)
            if refused is not None:
                return refused
        elif not self._ssws(header):
            return Response(401, self.error_body(401, ""))
        with self.lock:
            allowed = self.rate.take(now)
        if not allowed:
            return Response(429, self.error_body(429, ""))
        return super().dispatch(request)

    def _ssws(self, header: str) -> bool:
        scheme, _, rest = header.partition(" ")
        if scheme == "SSWS":
            return rest.strip() == self.token
        # The SDK's generated client joins scheme and token without a space.
        return header.startswith("SSWS") and header[4:].strip() == self.token

    def _bearer_refusal(self, request: Request, scheme: str, token: str, now: float
                        ) -> Response | None:
        """None when the access token is live, presented as it was issued (a DPoP-bound token
        with a proof by its key), and holds the endpoint's scope; else Okta's 401 (unknown,
        expired or unproven token) or 403 (missing scope) with its `WWW-Authenticate`."""
        with self.lock:
            held = self.access_tokens.get(token)
        needed = next((scope for method, pattern, scope in SCOPE_PATTERNS
                       if method == request.method and pattern.match(request.path)), None)
        challenge = (f'{scheme} authorization_uri="{self.base_url}/oauth2/v1/authorize", '
                     f'realm="{self.base_url}"')
        reason = None
        if held is None or (held.jkt is None) != (scheme == "Bearer"):
            reason = "The access token is invalid."
        elif held.expires_at <= now:
            reason = "The token has expired."
        if reason is not None:
            return Response(401, self.error_body(401, ""), {"WWW-Authenticate": (
                f'{challenge}, error="invalid_token", error_description="{reason}", '
                f'resource="{request.path}"')})
        assert held is not None  # a missing token has a reason above
        if held.jkt is not None:
            try:
                self._dpop_proof(request, f"{self.base_url}{request.path}", token, held.jkt)
            except HttpError as refused:
                description = refused.body["error_description"]
                return Response(401, self.error_body(401, ""), {"WWW-Authenticate": (
                    f'{challenge}, error="invalid_dpop_proof", '
                    f'error_description="{description}", resource="{request.path}"')})
        if needed is not None and not scope_satisfied(needed, held.scopes):
            return Response(403, okta_error(
                "E0000006", "You do not have permission to perform the requested action"),
                {"WWW-Authenticate": (
                    f'{challenge}, scope="{needed}", error="insufficient_scope", '
                    'error_description="The access token provided does not contain the '
                    f'required scopes.", resource="{request.path}"')})
        return None

    # -- the org authorization server's token endpoint ---------------------------------------------
    def _token(self, request: Request) -> Response:
        """`POST /oauth2/v1/token`: client credentials, the client authenticated by a JWT it
        signed with its private key (`private_key_jwt`), as Okta documents for service apps."""
        if not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            raise oauth_error(400, "invalid_request",
                              "The request must be sent as application/x-www-form-urlencoded.")
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            raise oauth_error(400, "unsupported_grant_type",
                              "The authorization grant type is not supported by the "
                              "authorization server. Configured grant types: "
                              "[client_credentials].")
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != JWT_BEARER or not assertion:
            raise oauth_error(401, "invalid_client", "Client authentication failed. Either the "
                              "client or the client credentials are invalid.")
        client = self._authenticate(assertion, form.get("client_id"))
        jkt = None
        if "dpop" in request.headers:
            jkt = self._dpop_proof(request, f"{self.base_url}{TOKEN_PATH}", None, None)
        elif client.dpop_required:
            raise oauth_error(400, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
        requested = form.get("scope", "").split()
        if not requested:
            raise oauth_error(400, "invalid_scope", "The authorization server resource does not "
                              "have any configured default scopes, 'scope' must be provided.")
        missing = [scope for scope in requested if scope not in client.scopes]
        if missing:
            raise oauth_error(400, "invalid_scope", "The following scopes were requested, but "
                              f"not granted: {' '.join(missing)}.")
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[token] = AccessToken(
                client.client_id, frozenset(requested), time.time() + self.token_lifetime, jkt)
        return Response(200, {"token_type": "DPoP" if jkt else "Bearer",
                              "expires_in": self.token_lifetime,
                              "access_token": token, "scope": " ".join(requested)},
                        {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _dpop_proof(self, request: Request, url: str, token: str | None, jkt: str | None) -> str:
        """Check the request's `DPoP` proof (RFC 9449 4.3) and return its key's thumbprint.
        At the token endpoint the proof must carry this server's current nonce (Okta answers
        `use_dpop_nonce` with a `DPoP-Nonce` header first); on the API it must be signed by
        the key the token is bound to and carry the token's hash (`ath`)."""
        import base64
        import hashlib

        import jwt

        def refuse(description: str) -> HttpError:
            return oauth_error(400, "invalid_dpop_proof", description)

        proof = request.headers.get("dpop", "")
        try:
            header = jwt.get_unverified_header(proof)
            public = header.get("jwk")
            if header.get("typ") != "dpop+jwt" or not isinstance(public, dict) or "d" in public:
                raise refuse("The DPoP proof JWT header is invalid.")
            claims = jwt.decode(proof, jwt.PyJWK(public, header.get("alg")).key,
                                algorithms=["RS256", "ES256"],
                                options={"require": ["jti", "htm", "htu", "iat"]})
        except jwt.PyJWTError as error:
            raise refuse(f"The DPoP proof JWT is invalid: {error}.") from None
        # Compared percent-decoded (RFC 3986 6.2.2): the SDK writes `%40` into `htu` for an `@`
        # that its HTTP client sends as it is (a login in `/api/v1/users/{login}`).
        if claims["htm"] != request.method or unquote(str(claims["htu"])) != unquote(url):
            raise refuse("The DPoP proof htm or htu claim does not match the request.")
        if abs(time.time() - float(claims["iat"])) > 300:
            raise refuse("The DPoP proof JWT is issued too far from now.")
        thumbprint = jwk_thumbprint(public)
        if token is None:
            if claims.get("nonce") != self._dpop_nonce:
                raise HttpError(400, {"error": "use_dpop_nonce", "error_description":
                                      "Authorization server requires nonce in DPoP proof."},
                                {"DPoP-Nonce": self._dpop_nonce, "Cache-Control": "no-store"})
        else:
            digest = hashlib.sha256(token.encode("ascii")).digest()
            if claims.get("ath") != base64.urlsafe_b64encode(digest).rstrip(b"=").decode():
                raise refuse("The DPoP proof ath claim does not match the access token.")
            if thumbprint != jkt:
                raise refuse("The DPoP proof is not signed by the key the token is bound to.")
        with self.lock:
            if claims["jti"] in self._used_jti:
                raise refuse("The DPoP proof jti has already been used.")
            self._used_jti.add(str(claims["jti"]))
        return thumbprint

    def _authenticate(self, assertion: str, client_id: str | None) -> OAuthClient:
        """The client whose registered key signed `assertion`, its claims checked as Okta
        checks them: iss = sub = client id, aud = this token URL, exp within the hour, jti
        never seen before."""
        import jwt

        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise oauth_error(400, "invalid_client",
                              "The client_assertion token is malformed.") from None
        issuer, subject = claims.get("iss"), claims.get("sub")
        with self.lock:
            client = self.clients.get(str(subject))
        if client is None or (client_id is not None and client_id != subject):
            raise oauth_error(401, "invalid_client", "Invalid value for 'client_id' parameter.")
        if issuer != subject:
            raise oauth_error(401, "invalid_client", "The issuer [iss] claim in the "
                              "client_assertion token must match the subject [sub] claim.")
        kid = header.get("kid")
        keys = [key for key in client.keys if kid is None or key.get("kid") == kid]
        if not keys:
            raise oauth_error(401, "invalid_client", "The client_assertion token has a kid "
                              "which does not identify any key registered for the client.")
        audience = f"{self.base_url}{TOKEN_PATH}"
        for key in keys:
            try:
                verified = jwt.decode(
                    assertion, jwt.PyJWK(key, "RS256").key, algorithms=["RS256"],
                    audience=audience, options={"require": ["exp", "iss", "sub", "aud", "jti"]})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise oauth_error(401, "invalid_client",
                                  "The client_assertion token is expired.") from None
            except jwt.InvalidAudienceError:
                raise oauth_error(401, "invalid_client", "The audience [aud] claim in the "
                                  "client_assertion token is invalid.") from None
            except jwt.PyJWTError as error:
                raise oauth_error(401, "invalid_client",
                                  f"The client_assertion token is invalid: {error}.") from None
        else:
            raise oauth_error(401, "invalid_client", "The client_assertion signature is invalid.")
        if float(verified["exp"]) > time.time() + ASSERTION_MAX_LIFETIME:
            raise oauth_error(401, "invalid_client", "The client_assertion token has an "
                              "expiration too far into the future.")
        with self.lock:
            if verified["jti"] in self._used_jti:
                raise oauth_error(401, "invalid_client",
                                  "The client_assertion token has already been used.")
            self._used_jti.add(str(verified["jti"]))
        return client

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def register_client(self, public_keys: Mapping[str, Any] | list[Mapping[str, Any]],
                        scopes: Iterable[str], *, dpop_required: bool = False) -> str:
        """Register a service app with its public JWK(s) and granted scopes; its client id."""
        keys = [dict(public_keys)] if isinstance(public_keys, Mapping) else [
            dict(key) for key in public_keys]
        if any("d" in key for key in keys):
            raise ValueError("register the public key, not the private one")
        with self.lock:
            client_id = "0oa" + base62(next(self._serial), 17)
            self.clients[client_id] = OAuthClient(client_id, keys, frozenset(scopes),
                                                  dpop_required)
        return client_id

    def expire_tokens(self) -> None:
        """End every access token now, as an org's revocation or a skewed clock would."""
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = 0.0

    def token_requests(self) -> int:
        return self.count("POST", TOKEN_PATH)
