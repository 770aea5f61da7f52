"""GitHub: team membership and repository collaborator permission, through PyGithub.

PyGithub is imported only when a GitHub entitlement is used. A principal is a GitHub login, and
the account's numeric id is what the engine keeps: anyone may change their login at any time (the
old one is then free for others to take), the id never changes. Observe reads each holder's id
with its login (member and collaborator lists carry it; a pending team invitee's is looked up), a
grant reports the id of the account the login named when it granted, and a revoke removes the
account with that id under whatever login it has by then (the API removes by login).

GitHub has no expiry on either grant: the revoke job removes them at `expires_at`.

Adding an outside collaborator, or putting someone who is not in the organization on a team,
sends an invitation; a pending invitation counts as holding the target, so the revoke job
cancels it at expiry. Granting never lowers a role someone already holds.

The package, by what each part does: `schema` (settings, target blocks, permissions), `client`
(the PyGithub client, errors, accounts behind logins), `teams` and `repositories` (the target
kinds) and `provider` (the `Provider` interface). Importing it imports no PyGithub: that loads
when the first call is made.
"""

from __future__ import annotations

from accessctl.providers.github.provider import GitHubProvider, create
from accessctl.providers.github.repositories import required_permission
from accessctl.providers.github.schema import (
    DEFAULT_WRITE_INTERVAL,
    PERMISSIONS,
    PERMISSIONS_ORDER,
    SETTINGS_SCHEMA,
    TARGET_SCHEMAS,
)
from accessctl.providers.github.teams import IMMEDIATE_MEMBERS

PLATFORM = "github"

__all__ = [
    "DEFAULT_WRITE_INTERVAL",
    "IMMEDIATE_MEMBERS",
    "PERMISSIONS",
    "PERMISSIONS_ORDER",
    "PLATFORM",
    "SETTINGS_SCHEMA",
    "TARGET_SCHEMAS",
    "GitHubProvider",
    "create",
    "required_permission",
]
