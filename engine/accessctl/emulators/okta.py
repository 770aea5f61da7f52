"""An Okta Management API emulator: users, groups, group membership, and user role assignments.

It answers under `/api/v1` what the okta SDK (3.x) sends, in the wire format of Okta's published
OpenAPI description (tests/contracts/okta-management-subset.json):

- `Authorization: SSWS <token>`, also without the space (the SDK's generated client sends
  `SSWS<token>`), or `Authorization: Bearer <access token>` from the org authorization server's
  `POST /oauth2/v1/token` (OAuth 2.0 service apps: client credentials with a `private_key_jwt`
  client assertion, checked against the client's registered public keys), or `Authorization:
  DPoP <access token>` with a `DPoP` proof (RFC 9449: Okta's nonce challenge at the token
  endpoint, the token bound to the proof's key, `ath` on every API call); anything else is a
  401 `E0000011`. A bearer token must hold the scope the endpoint's `security` names in the
  contract (`okta.*.read`, or the `.manage` scope that includes it); without it the answer is a
  403 `E0000006` with `WWW-Authenticate: Bearer ... error="insufficient_scope"`.
- Okta's error body `{errorCode, errorSummary, errorLink, errorId, errorCauses}`; a missing user or
  group is a 404 `E0000007` "Not found: Resource not found: <id> (User)" / "(UserGroup)".
- Cursor pagination: `limit` and an opaque `after`, with the next page in a
  `Link: <absolute URL>; rel="next"` header pointing back at this emulator.
- Rate-limit headers on every response (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset` in epoch
  seconds) from one request budget per window; a spent budget, or an injected fault, answers 429
  `E0000047` with those headers.
- Membership writes are idempotent as in Okta: `PUT` of an existing member and `DELETE` of a
  non-member both answer 204. They take the user's id only (a login there is a 404), while
  `GET /api/v1/users/{id}` also accepts the login.

A user's sessions and OAuth tokens end with `DELETE /api/v1/users/{userId}/sessions`
(okta_sessions.py, which records each call for the tests).

Search expressions (`search=`, `filter=`) support `eq`, `sw`, `co` and `pr`, `and`/`or` and
parentheses, with Okta's case-insensitive string comparison; anything else is a 400 `E0000031`.
Every response is kept in `responses` so tests can check it against the contract.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

from accessctl.emulators import okta_sessions
from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

API = "/api/v1"
DEFAULT_TOKEN = "okta-emulator-token"
USERS_DEFAULT_LIMIT = 200
GROUPS_DEFAULT_LIMIT = 10_000
MEMBERS_DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
ROLE_TYPES = frozenset({
    "API_ACCESS_MANAGEMENT_ADMIN", "APP_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "HELP_DESK_ADMIN",
    "MOBILE_ADMIN", "ORG_ADMIN", "READ_ONLY_ADMIN", "REPORT_ADMIN", "SUPER_ADMIN", "USER_ADMIN",
})
ROLE_LABELS = {
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
    "APP_ADMIN": "Application Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "MOBILE_ADMIN": "Mobile Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "READ_ONLY_ADMIN": "Read-only Administrator",
    "REPORT_ADMIN": "Report Administrator",
    "SUPER_ADMIN": "Super Administrator",
    "USER_ADMIN": "Group Administrator",
}
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
TOKEN_PATH = "/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3600  # Okta's org authorization server: fixed at one hour for service apps
ASSERTION_MAX_LIFETIME = 3600  # Okta refuses a client assertion whose exp is further away
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    # The scope each endpoint's `security` names in the contract (its `oauth2` requirement).
    ("GET", f"{API}/groups"): "okta.groups.read",
    ("GET", f"{API}/groups/{{groupId}}"): "okta.groups.read",
    ("GET", f"{API}/groups/{{groupId}}/users"): "okta.groups.read",
    ("PUT", f"{API}/groups/{{groupId}}/users/{{userId}}"): "okta.groups.manage",
    ("DELETE", f"{API}/groups/{{groupId}}/users/{{userId}}"): "okta.groups.manage",
    ("GET", f"{API}/users"): "okta.users.read",
    ("GET", f"{API}/users/{{id}}"): "okta.users.read",
    ("GET", f"{API}/users/{{id}}/groups"): "okta.users.read",
    ("GET", f"{API}/users/{{userId}}/roles"): "okta.roles.read",
    ("POST", f"{API}/users/{{userId}}/roles"): "okta.roles.manage",
    ("GET", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}"): "okta.roles.read",
    ("DELETE", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}"): "okta.roles.manage",
    ("DELETE", okta_sessions.PATH): okta_sessions.SCOPE,
}


def stamp(value: datetime) -> str:
    """Okta's timestamp form: UTC, milliseconds, `Z`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def okta_error(code: str, summary: str, causes: list[str] | None = None) -> dict[str, JSON]:
    """Okta's error body. `errorLink` repeats the code, as the real service does."""
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": "oae" + _base62(time.time_ns() % 62**19, 19),
        "errorCauses": [{"errorSummary": cause} for cause in causes or []],
    }


def not_found(resource_id: str, kind: str) -> HttpError:
    return HttpError(404, okta_error(
        "E0000007", f"Not found: Resource not found: {resource_id} ({kind})"))


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


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")[-width:]


# -- state ----------------------------------------------------------------------------------------
@dataclass
class User:
    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    status: str
    created: datetime
    last_updated: datetime

    def profile(self) -> dict[str, JSON]:
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "mobilePhone": None,
            "secondEmail": None,
            "login": self.login,
            "email": self.email,
        }

    def field(self, name: str) -> JSON:
        """The value a search expression names, e.g. `profile.login` or `status`."""
        if name.startswith("profile."):
            return self.profile().get(name.removeprefix("profile."))
        return {"id": self.id, "status": self.status, "created": stamp(self.created),
                "lastUpdated": stamp(self.last_updated)}.get(name)


@dataclass
class Group:
    id: str
    name: str
    description: str
    type: str
    created: datetime
    last_updated: datetime
    last_membership_updated: datetime
    members: set[str] = field(default_factory=set)

    def field(self, name: str) -> JSON:
        if name.startswith("profile."):
            return {"name": self.name, "description": self.description}.get(
                name.removeprefix("profile."))
        return {"id": self.id, "type": self.type, "created": stamp(self.created),
                "lastUpdated": stamp(self.last_updated),
                "lastMembershipUpdated": stamp(self.last_membership_updated)}.get(name)


@dataclass
class RoleAssignment:
    id: str
    type: str
    created: datetime


@dataclass
class OAuthClient:
    """An OAuth 2.0 service app: its public keys (JWKs) and the Okta scopes granted to it."""

    client_id: str
    keys: list[dict[str, Any]]
    scopes: frozenset[str]
    dpop_required: bool = False
    """"Require Demonstrating Proof of Possession (DPoP) header in token requests", which the
    Admin Console turns on for new API service integrations."""


@dataclass
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jkt: str | None = None
    """For a DPoP-bound token: the thumbprint (RFC 7638) of the key every proof must be signed
    with; None for a Bearer token."""


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


_SCOPE_PATTERNS = [(method, _route_pattern(template), scope)
                   for (method, template), scope in ROUTE_SCOPES.items()]


def scope_satisfied(needed: str, held: Iterable[str]) -> bool:
    """A `.manage` scope includes its `.read` (Okta: "okta.groups.read or okta.groups.manage")."""
    held = set(held)
    return needed in held or (needed.endswith(".read")
                              and needed.removesuffix(".read") + ".manage" in held)


@dataclass
class RateLimit:
    """One request budget per window: a simplification of Okta's per-endpoint buckets."""

    limit: int = 600
    window: float = 60.0
    used: int = 0
    reset_at: float = 0.0

    def take(self, now: float) -> bool:
        """Spend one request; False when the budget for this window is gone."""
        if now >= self.reset_at:
            self.used, self.reset_at = 0, now + self.window
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, now: float) -> dict[str, str]:
        reset = self.reset_at if self.reset_at > now else now + self.window
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(max(self.limit - self.used, 0)),
            "X-Rate-Limit-Reset": str(int(reset + 0.999)),
        }


@dataclass
class LoggedResponse:
    """What the emulator answered; `path` is None for injected faults (no route was matched)."""

    method: str | None
    path: str | None
    status: int
    body: JSON
    headers: dict[str, str]


# -- search expressions ---------------------------------------------------------------------------
_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[\w.:-]+))')


class _Search:
    """A tiny recursive-descent parser for Okta's SCIM-like search and filter expressions."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise _invalid_search()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.position = 0

    def parse(self) -> Any:
        tree = self._or()
        if self.position != len(self.tokens):
            raise _invalid_search()
        return tree

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise _invalid_search()
        self.position += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while (token := self._peek()) and token[0] == "word" and token[1].lower() == "or":
            self.position += 1
            left = ("or", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._clause()
        while (token := self._peek()) and token[0] == "word" and token[1].lower() == "and":
            self.position += 1
            left = ("and", left, self._clause())
        return left

    def _clause(self) -> Any:
        kind, text = self._next()
        if (kind, text) == ("paren", "("):
            inner = self._or()
            if self._next() != ("paren", ")"):
                raise _invalid_search()
            return inner
        if kind != "word":
            raise _invalid_search()
        operator = self._next()
        if operator[0] != "word" or operator[1].lower() not in ("eq", "sw", "co", "pr"):
            raise _invalid_search()
        if operator[1].lower() == "pr":
            return ("pr", text, None)
        value_kind, value = self._next()
        if value_kind == "string":
            # Okta's escapes: \" and \\ inside a double-quoted string.
            literal: JSON = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif value_kind == "word" and value.lower() in ("true", "false"):
            literal = value.lower() == "true"
        elif value_kind == "word" and value.isdigit():
            literal = int(value)
        else:
            raise _invalid_search()
        return (operator[1].lower(), text, literal)


def _invalid_search() -> HttpError:
    return HttpError(400, okta_error("E0000031", "Invalid search criteria."))


def _matches(tree: Any, lookup: Any) -> bool:
    operator, left, right = tree
    if operator == "and":
        return _matches(left, lookup) and _matches(right, lookup)
    if operator == "or":
        return _matches(left, lookup) or _matches(right, lookup)
    value = lookup(left)
    if operator == "pr":
        return value is not None and value != ""
    if value is None:
        return False
    if isinstance(right, str):
        have, want = str(value).casefold(), right.casefold()
        if operator == "eq":
            return have == want
        if operator == "sw":
            return have.startswith(want)
        return want in have
    return bool(operator == "eq" and value == right)


# -- the emulator ---------------------------------------------------------------------------------
class OktaEmulator(Emulator):
    name = "okta"

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.roles: dict[str, dict[str, RoleAssignment]] = {}
        self.rate = RateLimit()
        self.responses: list[LoggedResponse] = []
        self.clients: dict[str, OAuthClient] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.token_lifetime = TOKEN_LIFETIME
        """Seconds an access token lives (`expires_in`); tests shorten it to see renewal."""
        self._used_jti: set[str] = set()
        self._dpop_nonce = secrets.token_urlsafe(16)
        self._serial = itertools.count(1)
        self.sessions = okta_sessions.Sessions()
        """Users' sessions and OAuth tokens, and every revocation of them (okta_sessions.py)."""
        self._register_routes()

    def _register_routes(self) -> None:
        self.route("POST", TOKEN_PATH, self._token)
        self.route("GET", f"{API}/groups", self._list_groups)
        self.route("GET", f"{API}/groups/{{groupId}}", self._get_group)
        self.route("GET", f"{API}/groups/{{groupId}}/users", self._list_members)
        self.route("PUT", f"{API}/groups/{{groupId}}/users/{{userId}}", self._add_member)
        self.route("DELETE", f"{API}/groups/{{groupId}}/users/{{userId}}", self._remove_member)
        self.route("GET", f"{API}/users", self._list_users)
        self.route("GET", f"{API}/users/{{id}}", self._get_user)
        self.route("GET", f"{API}/users/{{id}}/groups", self._list_user_groups)
        self.route("GET", f"{API}/users/{{userId}}/roles", self._list_roles)
        self.route("POST", f"{API}/users/{{userId}}/roles", self._assign_role)
        self.route("GET", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}", self._get_role)
        self.route("DELETE", f"{API}/users/{{userId}}/roles/{{roleAssignmentId}}",
                   self._unassign_role)
        okta_sessions.register(self)

    # -- the wire: auth, rate limits, error bodies, the response log ---------------------------
    def error_body(self, status: int, message: str) -> JSON:
        if status == 404:
            return okta_error("E0000007", "Not found: Resource not found")
        if status == 405:
            return okta_error("E0000022", "The endpoint does not support the provided HTTP method")
        if status == 429:
            return okta_error("E0000047", "API call exceeded rate limit due to too many requests.")
        if status == 401:
            return okta_error("E0000011", "Invalid token provided")
        return okta_error("E0000009", f"Internal Server Error: {message}")

    def fault_response(self, kind: str) -> Response:
        now = time.time()
        if kind == "429":
            headers = {
                "X-Rate-Limit-Limit": str(self.rate.limit),
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": str(int(now) + self.faults.retry_after),
            }
            response = Response(429, self.error_body(429, ""), headers)
        else:
            response = Response(int(kind), self.error_body(int(kind), "Service Unavailable"))
            with self.lock:
                response.headers.update(self.rate.headers(now))
        response.headers["X-Okta-Request-Id"] = self._request_id()
        self._log(None, None, response)
        return response

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
        needed = next((scope for method, pattern, scope in _SCOPE_PATTERNS
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

    # -- the org authorization server's token endpoint -------------------------------------------
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

    def _log(self, method: str | None, path: str | None, response: Response) -> None:
        with self.lock:
            self.responses.append(
                LoggedResponse(method, path, response.status, response.body, dict(response.headers))
            )

    def _request_id(self) -> str:
        return "X" + _base62(next(self._serial), 19)

    def _link(self, path: str, query: dict[str, str]) -> str:
        encoded = urlencode(query, quote_via=quote)
        return f"{self.base_url}{path}" + (f"?{encoded}" if encoded else "")

    def _page(self, request: Request, items: list[tuple[str, JSON]], default_limit: int
              ) -> Response:
        """One page of `(cursor key, item)` pairs sorted by key, with `Link` self and next."""
        limit_text = request.arg("limit")
        try:
            limit = int(limit_text) if limit_text else default_limit
        except ValueError:
            raise HttpError(400, okta_error("E0000001", "Api validation failed: limit",
                                            ["limit: must be a number"])) from None
        limit = min(max(limit, 1), MAX_LIMIT)
        after = request.arg("after")
        ordered = sorted(items, key=lambda pair: pair[0])
        if after:
            ordered = [pair for pair in ordered if pair[0] > after]
        page = ordered[:limit]
        kept = {k: v[0] for k, v in request.query.items() if k not in ("after",) and v}
        links = [f'<{self._link(request.path, kept)}>; rel="self"']
        if len(ordered) > limit:
            # Okta sends self and next as two Link headers; one comma-joined header is the same
            # field to an HTTP client (RFC 9110 5.3), and aiohttp parses both into `links`.
            links.append(f'<{self._link(request.path, {**kept, "after": page[-1][0]})}>; '
                         'rel="next"')
        return Response(200, [item for _, item in page], {"Link": ", ".join(links)})

    # -- JSON renderings -------------------------------------------------------------------------
    def _user_json(self, user: User) -> dict[str, JSON]:
        href = f"{self.base_url}{API}/users/{user.id}"
        return {
            "id": user.id,
            "status": user.status,
            "created": stamp(user.created),
            "activated": stamp(user.created) if user.status == "ACTIVE" else None,
            "statusChanged": stamp(user.created),
            "lastLogin": None,
            "lastUpdated": stamp(user.last_updated),
            "passwordChanged": None,
            "type": {"id": "oty1emulatordefault0"},
            "profile": user.profile(),
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": href}},
        }

    def _group_json(self, group: Group) -> dict[str, JSON]:
        href = f"{self.base_url}{API}/groups/{group.id}"
        return {
            "id": group.id,
            "created": stamp(group.created),
            "lastUpdated": stamp(group.last_updated),
            "lastMembershipUpdated": stamp(group.last_membership_updated),
            "objectClass": ["okta:user_group"],
            "type": group.type,
            "profile": {"name": group.name, "description": group.description},
            "_links": {
                "logo": [{"name": "medium", "type": "image/png",
                          "href": f"{self.base_url}/img/logos/groups/okta-medium.png"}],
                "users": {"href": f"{href}/users"},
                "apps": {"href": f"{href}/apps"},
            },
        }

    def _role_json(self, user: User, role: RoleAssignment) -> dict[str, JSON]:
        return {
            "id": role.id,
            "label": ROLE_LABELS.get(role.type, role.type),
            "type": role.type,
            "status": "ACTIVE",
            "created": stamp(role.created),
            "lastUpdated": stamp(role.created),
            "assignmentType": "USER",
            "_links": {"assignee": {"href": f"{self.base_url}{API}/users/{user.id}"}},
        }

    # -- lookups ---------------------------------------------------------------------------------
    def _user(self, id_or_login: str, *, by_login: bool) -> User:
        user = self.users.get(id_or_login)
        if user is None and by_login:
            wanted = id_or_login.casefold()
            user = next((u for u in self.users.values() if u.login.casefold() == wanted), None)
        if user is None:
            raise not_found(id_or_login, "User")
        return user

    def _group(self, group_id: str) -> Group:
        group = self.groups.get(group_id)
        if group is None:
            raise not_found(group_id, "UserGroup")
        return group

    @staticmethod
    def _search(request: Request) -> Any:
        expression = request.arg("search") or request.arg("filter")
        return _Search(expression).parse() if expression else None

    # -- handlers: groups ------------------------------------------------------------------------
    def _list_groups(self, request: Request) -> Response:
        tree = self._search(request)
        prefix = (request.arg("q") or "").casefold()
        with self.lock:
            chosen = [
                (g.id, self._group_json(g)) for g in self.groups.values()
                if g.name.casefold().startswith(prefix)
                and (tree is None or _matches(tree, g.field))
            ]
        return self._page(request, chosen, GROUPS_DEFAULT_LIMIT)

    def _get_group(self, request: Request) -> JSON:
        with self.lock:
            return self._group_json(self._group(request.params["groupId"]))

    def _list_members(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["groupId"])
            chosen = self.listing_lag.listed(group.id, (
                (uid, (uid, self._user_json(self.users[uid]))) for uid in group.members))
        return self._page(request, chosen, MEMBERS_DEFAULT_LIMIT)

    def _add_member(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["groupId"])
            user = self._user(request.params["userId"], by_login=False)
            if group.type != "OKTA_GROUP":
                raise HttpError(403, okta_error(
                    "E0000006", "You do not have permission to perform the requested action"))
            if user.id not in group.members:
                group.members.add(user.id)
                group.last_membership_updated = datetime.now(UTC)
                self.listing_lag.wrote(group.id, user.id, True)
        return Response(204)

    def _remove_member(self, request: Request) -> Response:
        with self.lock:
            group = self._group(request.params["groupId"])
            user = self._user(request.params["userId"], by_login=False)
            if group.type != "OKTA_GROUP":
                raise HttpError(403, okta_error(
                    "E0000006", "You do not have permission to perform the requested action"))
            if user.id in group.members:
                group.members.discard(user.id)
                group.last_membership_updated = datetime.now(UTC)
                self.listing_lag.wrote(group.id, user.id, False, (user.id, self._user_json(user)))
        return Response(204)

    # -- handlers: users -------------------------------------------------------------------------
    def _list_users(self, request: Request) -> Response:
        tree = self._search(request)
        prefix = (request.arg("q") or "").casefold()
        with self.lock:
            chosen = [
                (u.id, self._user_json(u)) for u in self.users.values()
                if any(part.casefold().startswith(prefix)
                       for part in (u.first_name, u.last_name, u.email, u.login))
                and (tree is None or _matches(tree, u.field))
                # Without a search, Okta lists every user except DEPROVISIONED ones.
                and (tree is not None or u.status != "DEPROVISIONED")
            ]
        return self._page(request, chosen, USERS_DEFAULT_LIMIT)

    def _get_user(self, request: Request) -> JSON:
        with self.lock:
            return self._user_json(self._user(request.params["id"], by_login=True))

    def _list_user_groups(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["id"], by_login=True)
            return [self._group_json(g) for g in sorted(self.groups.values(), key=lambda g: g.id)
                    if user.id in g.members]

    # -- handlers: role assignments --------------------------------------------------------------
    def _list_roles(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            return [self._role_json(user, r) for r in self.roles.get(user.id, {}).values()]

    def _assign_role(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        role_type = body.get("type") if isinstance(body, dict) else None
        if role_type not in ROLE_TYPES:
            raise HttpError(400, okta_error("E0000001", "Api validation failed: type",
                                            [f"type: unsupported role type {role_type!r}"]))
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            held = self.roles.setdefault(user.id, {})
            if any(r.type == role_type for r in held.values()):
                raise HttpError(409, okta_error(
                    "E0000090", "Duplicate role assignment exception"))
            role = RoleAssignment("ra1" + _base62(next(self._serial), 17), str(role_type),
                                  datetime.now(UTC))
            held[role.id] = role
            return Response(201, self._role_json(user, role))

    def _get_role(self, request: Request) -> JSON:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            role = self.roles.get(user.id, {}).get(request.params["roleAssignmentId"])
            if role is None:
                raise not_found(request.params["roleAssignmentId"], "RoleAssignment")
            return self._role_json(user, role)

    def _unassign_role(self, request: Request) -> Response:
        with self.lock:
            user = self._user(request.params["userId"], by_login=False)
            if self.roles.get(user.id, {}).pop(request.params["roleAssignmentId"], None) is None:
                raise not_found(request.params["roleAssignmentId"], "RoleAssignment")
        return Response(204)

    # -- seeding helpers (tests and the demo) ----------------------------------------------------
    def add_user(self, login: str, email: str | None = None, *, first_name: str = "Test",
                 last_name: str = "User", status: str = "ACTIVE") -> str:
        """Create a user and return its id (`00u` + 17 characters, in creation order)."""
        now = datetime.now(UTC)
        with self.lock:
            user_id = "00u" + _base62(next(self._serial), 17)
            self.users[user_id] = User(user_id, login, email or login, first_name, last_name,
                                       status, now, now)
        return user_id

    def rename_user(self, login: str, new_login: str, email: str | None = None) -> None:
        """An administrator changes the user's `profile.login` (and, if given, email): the user
        keeps its id, so group memberships follow it, and the old login is free."""
        with self.lock:
            user = self._user(login, by_login=True)
            wanted = new_login.casefold()
            taken = next((u for u in self.users.values() if u.login.casefold() == wanted), None)
            if taken is not None and taken is not user:
                raise ValueError(f"login {new_login!r} is taken")
            user.login = new_login
            if email is not None:
                user.email = email
            user.last_updated = datetime.now(UTC)

    def add_group(self, name: str, description: str = "", *, group_type: str = "OKTA_GROUP"
                  ) -> str:
        """Create a group and return its id (`00g` + 17 characters)."""
        now = datetime.now(UTC)
        with self.lock:
            group_id = "00g" + _base62(next(self._serial), 17)
            self.groups[group_id] = Group(group_id, name, description, group_type, now, now, now)
        return group_id

    def add_member(self, group_id: str, user_id: str) -> None:
        with self.lock:
            self._group(group_id).members.add(self._user(user_id, by_login=False).id)

    def member_logins(self, group_id: str) -> set[str]:
        with self.lock:
            return {self.users[uid].login for uid in self._group(group_id).members}

    def user_id(self, login: str) -> str:
        with self.lock:
            return self._user(login, by_login=True).id

    def register_client(self, public_keys: Mapping[str, Any] | list[Mapping[str, Any]],
                        scopes: Iterable[str], *, dpop_required: bool = False) -> str:
        """Register a service app with its public JWK(s) and granted scopes; its client id."""
        keys = [dict(public_keys)] if isinstance(public_keys, Mapping) else [
            dict(key) for key in public_keys]
        if any("d" in key for key in keys):
            raise ValueError("register the public key, not the private one")
        with self.lock:
            client_id = "0oa" + _base62(next(self._serial), 17)
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

    def set_rate_limit(self, limit: int, window: float = 60.0) -> None:
        """Give the org a fresh budget of `limit` requests per `window` seconds."""
        with self.lock:
            self.rate = RateLimit(limit, window)
