"""LDAP as AD speaks it, without a connection: the result codes the provider treats specially,
the search filters (every name from a request escaped), the values written into `member`, the
ranges AD hands large attributes out in, and objectGUIDs."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from accessctl.providers.base import NotFound

GUID = "objectGUID"
USER_ACCOUNT = "805306368"  # sAMAccountType of normal user accounts (SAM_USER_OBJECT)

# LDAP result codes (RFC 4511) the provider treats specially.
SUCCESS = 0
TIME_LIMIT_EXCEEDED = 3
STRONGER_AUTH_REQUIRED = 8
NO_SUCH_ATTRIBUTE = 16
NO_SUCH_OBJECT = 32
INVALID_DN_SYNTAX = 34
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53
ENTRY_ALREADY_EXISTS = 68
RETRYABLE_CODES = frozenset({TIME_LIMIT_EXCEEDED, BUSY, UNAVAILABLE})


def member_value(dn: str, ttl_seconds: int | None) -> str:
    """The value written into `member`: the DN itself, or AD's time-bound `<TTL=seconds,DN>`."""
    if ttl_seconds is None:
        return dn
    if ttl_seconds < 1:
        raise ValueError(f"a TTL membership needs a positive number of seconds, not {ttl_seconds}")
    return f"<TTL={ttl_seconds},{dn}>"


def ttl_seconds(expires_at: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `expires_at`, rounded up so the grant never ends early."""
    return math.ceil((expires_at - now).total_seconds())


def member_changes(operation: str, value: str) -> dict[str, list[tuple[str, list[str]]]]:
    """The ldap3 `changes` argument of one membership modify (operation: MODIFY_ADD/_DELETE)."""
    return {"member": [(operation, [value])]}


def user_filter(name: str) -> str:
    """The search filter for a user named `name` by sAMAccountName or userPrincipalName."""
    from ldap3.utils.conv import escape_filter_chars

    literal = escape_filter_chars(name)
    return (f"(&(sAMAccountType={USER_ACCOUNT})"
            f"(|(sAMAccountName={literal})(userPrincipalName={literal})))")


def group_filter(sam: str) -> str:
    from ldap3.utils.conv import escape_filter_chars

    return f"(&(objectClass=group)(sAMAccountName={escape_filter_chars(sam)}))"


def members_filter(dns: Sequence[str]) -> str:
    """User accounts among `dns`: one OR of distinguishedName equalities."""
    from ldap3.utils.conv import escape_filter_chars

    either = "".join(f"(distinguishedName={escape_filter_chars(dn)})" for dn in dns)
    return f"(&(sAMAccountType={USER_ACCOUNT})(|{either}))"


def parse_range(attribute: str) -> tuple[int, int | None] | None:
    """(low, high) of an attribute description `member;range=low-high`; high None for `*`.
    None when the description carries no range (the server sent every value at once)."""
    _, _, options = attribute.partition(";")
    for option in options.split(";"):
        key, _, bounds = option.partition("=")
        if key.strip().lower() == "range":
            low, _, high = bounds.partition("-")
            return int(low), None if high.strip() == "*" else int(high)
    return None


def guid_filter(guid: str) -> str:
    """The search filter for the object whose objectGUID is `guid` (a UUID string): the GUID's
    16 bytes in AD's byte order, each escaped, so that nothing in `guid` reaches the filter as
    text."""
    from ldap3.utils.conv import escape_bytes

    return f"(&(sAMAccountType={USER_ACCOUNT})(objectGUID={escape_bytes(_guid_bytes(guid))}))"


def _guid_bytes(guid: str) -> bytes:
    try:
        return uuid.UUID(guid).bytes_le
    except ValueError:
        raise NotFound(f"AD objectGUID {guid!r} is not a GUID") from None


def guid_of(entry: Mapping[str, Any]) -> str | None:
    raw = entry.get("raw_attributes", {}).get(GUID)
    value = raw[0] if isinstance(raw, list) and raw else raw
    if not isinstance(value, bytes) or len(value) != 16:
        return None
    return str(uuid.UUID(bytes_le=value))


def require_dn(text: str) -> None:
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        parse_dn(text)
    except LDAPInvalidDnError as error:
        raise NotFound(f"AD group {text!r} does not exist: it is neither a sAMAccountName "
                       f"(which cannot hold '=') nor a valid DN ({error})") from None


def first(entry: Mapping[str, Any], attribute: str) -> str | None:
    values = entry.get("attributes", {}).get(attribute)
    if isinstance(values, list):
        values = values[0] if values else None
    return str(values) if values else None

