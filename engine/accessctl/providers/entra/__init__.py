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

The package, by what each part does: `schema` (settings, target blocks, permissions), `auth`
(the Graph token), `graph` (the SDK client, its event loop, paging, errors), `users` (object ids
behind names), `groups` and `pim` (the target kinds), `provider` (the `Provider` interface).
Importing it imports no SDK: msgraph-sdk and azure-identity load when the first call is made.
"""

from __future__ import annotations

from accessctl.providers.entra.auth import (
    DEFAULT_TOKEN_EXCHANGE_AUDIENCE,
    NATIONAL_AUTHORITIES,
    StaticTokenCredential,
    authority_host,
    make_credential,
)
from accessctl.providers.entra.provider import EntraProvider, create
from accessctl.providers.entra.schema import (
    DEFAULT_GRAPH_URL,
    PERMISSIONS,
    REQUIRED_PERMISSIONS,
    SETTINGS_SCHEMA,
    TARGET_SCHEMAS,
)

PLATFORM = "entra"

__all__ = [
    "DEFAULT_GRAPH_URL",
    "DEFAULT_TOKEN_EXCHANGE_AUDIENCE",
    "NATIONAL_AUTHORITIES",
    "PERMISSIONS",
    "PLATFORM",
    "REQUIRED_PERMISSIONS",
    "SETTINGS_SCHEMA",
    "TARGET_SCHEMAS",
    "EntraProvider",
    "StaticTokenCredential",
    "authority_host",
    "create",
    "make_credential",
]
