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
(sessions.py, which records each call for the tests).

Search expressions (`search=`, `filter=`) support `eq`, `sw`, `co` and `pr`, `and`/`or` and
parentheses, with Okta's case-insensitive string comparison; anything else is a 400 `E0000031`.
Every response is kept in `responses` so tests can check it against the contract.

Where things are: `wire.py` (constants, the error body, scopes, the request budget), `state.py`
(the records), `search.py` (search expressions), `server.py` (state, faults, the response
log, pagination), `auth.py` (SSWS, the token endpoint, Bearer and DPoP tokens, scopes),
`directory.py` (users, groups, members, role assignments), `sessions.py` (ending a user's
sessions), and `emulator.py`, which combines them into `OktaEmulator`.
"""

from __future__ import annotations

from accessctl.emulators.okta.auth import (
    generate_key_pair,
    jwk_thumbprint,
    oauth_error,
    scope_satisfied,
)
from accessctl.emulators.okta.emulator import OktaEmulator
from accessctl.emulators.okta.state import (
    AccessToken,
    Group,
    LoggedResponse,
    OAuthClient,
    RoleAssignment,
    User,
)
from accessctl.emulators.okta.wire import (
    API,
    ASSERTION_MAX_LIFETIME,
    DEFAULT_TOKEN,
    GROUPS_DEFAULT_LIMIT,
    JWT_BEARER,
    MAX_LIMIT,
    MEMBERS_DEFAULT_LIMIT,
    ROLE_LABELS,
    ROLE_TYPES,
    ROUTE_SCOPES,
    TOKEN_LIFETIME,
    TOKEN_PATH,
    USERS_DEFAULT_LIMIT,
    RateLimit,
    not_found,
    okta_error,
    stamp,
)

__all__ = [
    "API", "ASSERTION_MAX_LIFETIME", "DEFAULT_TOKEN", "GROUPS_DEFAULT_LIMIT", "JWT_BEARER",
    "MAX_LIMIT", "MEMBERS_DEFAULT_LIMIT", "ROLE_LABELS", "ROLE_TYPES", "ROUTE_SCOPES",
    "TOKEN_LIFETIME", "TOKEN_PATH", "USERS_DEFAULT_LIMIT", "AccessToken", "Group",
    "LoggedResponse", "OAuthClient", "OktaEmulator", "RateLimit", "RoleAssignment", "User",
    "generate_key_pair", "jwk_thumbprint", "not_found", "oauth_error", "okta_error",
    "scope_satisfied", "stamp",
]
