"""Active Directory: group membership over LDAP, through ldap3 (imported only when AD is used).

A principal is the user's sAMAccountName (or userPrincipalName, as `principal_attribute` says),
as identities.yaml names it. Both can be changed by an administrator (and the old name given to a
new account), and a rename changes the DN too; the objectGUID never changes, and is what the
engine keeps: observe reads each member's objectGUID with its name, a grant reports the objectGUID
of the user the name found, and a revoke removes the member with that objectGUID, under the DN it
has now (`member` values follow renames: AD links them to the object, not the name).

A target of kind `group` names a group by sAMAccountName or by its full DN. Grant and revoke write
the group's `member` attribute (MODIFY_ADD / MODIFY_DELETE of the user's DN); observe reads
`member` in ranges, the way AD hands out large multi-valued attributes, and maps the DNs back to
principal names (and objectGUIDs) in batches.

Every name from a request reaches a filter only through `escape_filter_chars`, so `*`, `(`, `)`,
`\\` and NUL are literals: a crafted name finds nobody. The bind always runs over TLS (LDAPS, or
StartTLS on ldap://); a plain-text bind would put the service account's password on the wire.

With `ttl_membership: true` a grant writes the member as `<TTL=seconds,DN>`, and the forest
removes the member itself at expiry: Windows Server 2016+ forests with the Privileged Access
Management optional feature only. Samba refuses the form (invalidDNSyntax), so that path is tested
for the value it sends and the refusal it earns, never against a real PAM forest.

The package, by what each part does: `schema` (settings, target block, permissions), `ldap`
(result codes, filters, values: no connection), `connection` (the bind and one operation at a
time) and `provider` (users, groups, membership: the `Provider` interface). Importing it imports
no ldap3: that loads when the first call is made.
"""

from __future__ import annotations

from accessctl.providers.ad.ldap import (
    member_changes,
    member_value,
    parse_range,
    ttl_seconds,
    user_filter,
)
from accessctl.providers.ad.provider import ActiveDirectoryProvider, create, protection_hint
from accessctl.providers.ad.schema import (
    DEFAULT_PASSWORD_ENV,
    DEFAULT_RANGE_SIZE,
    DEFAULT_TIMEOUT,
    PERMISSIONS,
    PRINCIPAL_ATTRIBUTES,
    SETTINGS_SCHEMA,
    TARGET_SCHEMAS,
)

PLATFORM = "ad"

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "DEFAULT_RANGE_SIZE",
    "DEFAULT_TIMEOUT",
    "PERMISSIONS",
    "PLATFORM",
    "PRINCIPAL_ATTRIBUTES",
    "SETTINGS_SCHEMA",
    "TARGET_SCHEMAS",
    "ActiveDirectoryProvider",
    "create",
    "member_changes",
    "member_value",
    "parse_range",
    "protection_hint",
    "ttl_seconds",
    "user_filter",
]
