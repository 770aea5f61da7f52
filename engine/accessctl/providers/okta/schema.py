"""What an Okta instance is configured with: its settings, the `target:` block of its one
target kind, and the permissions its credentials need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.providers import sessions
from accessctl.providers.target_schema import param, target_kind

DEFAULT_TOKEN_ENV = "OKTA_API_TOKEN"
DEFAULT_PRIVATE_KEY_ENV = "OKTA_PRIVATE_KEY"
DEFAULT_SCOPES = ("okta.groups.manage", "okta.users.read")
"""What the provider's calls need: membership writes, group reads (included in manage), and
user reads to resolve logins. Nothing else, so a leaked access token can do nothing else."""
DEFAULT_PAGE_SIZE = 200

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
    "group": target_kind(
        ["group"],
        group=param("The Okta group (type OKTA_GROUP) the user is added to: its id, or its exact "
                    "name (looked up once per run).",
                    ["00g1helpdeskadmins0x7", "Help Desk Admins (JIT)"],
                    type="string", minLength=1, maxLength=255),
    ),
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
