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

The package, by what each part does: `schema` (settings, target block, permissions), `auth`
(the credentials and what a refusal of them means), `client` (the SDK client, its event loop,
one call at a time, paging), `responses` (what an answer says: status, headers, waits,
errors), `users` (user ids behind logins) and `provider` (group membership, the `Provider`
interface). Importing it imports no SDK: the okta SDK loads when the first call is made.
"""

from __future__ import annotations

from accessctl.providers.okta.auth import TOKEN_PATH, TOKEN_RENEWAL_MINUTES
from accessctl.providers.okta.provider import OktaProvider, create
from accessctl.providers.okta.schema import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_PRIVATE_KEY_ENV,
    DEFAULT_SCOPES,
    DEFAULT_TOKEN_ENV,
    PERMISSIONS,
    SETTINGS_SCHEMA,
    TARGET_SCHEMAS,
)
from accessctl.providers.okta.users import LOGINS_PER_LOOKUP

PLATFORM = "okta"

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PRIVATE_KEY_ENV",
    "DEFAULT_SCOPES",
    "DEFAULT_TOKEN_ENV",
    "LOGINS_PER_LOOKUP",
    "PERMISSIONS",
    "PLATFORM",
    "SETTINGS_SCHEMA",
    "TARGET_SCHEMAS",
    "TOKEN_PATH",
    "TOKEN_RENEWAL_MINUTES",
    "OktaProvider",
    "create",
]
