"""What outlives a revoke on each platform: the settings that bound it, their documented
defaults, and the one platform read it needs (an Identity Center permission set's
`SessionDuration`).

Removing a membership does not end every session it fed. The settings here let an operator say
how long their tenant lets sessions and tokens live; the defaults are the vendors' documented
ones. `judge/access_end.py` turns them into "access fully ends by T" without any I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from accessctl.core.durations import PATTERN, format_duration
from accessctl.core.model import Target
from accessctl.providers.base import ProviderError

OKTA_SESSION_LIFETIME = timedelta(hours=1)
"""Okta: access tokens carry the user's groups and stay valid until they expire. The org
authorization server issues them for 60 minutes (fixed), and a custom authorization server's
default access policy rule for 1 hour too (support.okta.com, "Lifetime of the Okta Minted JSON
Web Tokens": access token 60 minutes, configurable 5 minutes to 24 hours on custom servers).
The Okta session itself (2 hours idle by default, help.okta.com "Enforce a limited session
lifetime") carries no group: each app sign-in is judged again."""

ENTRA_SESSION_LIFETIME = timedelta(minutes=90)
"""Entra ID: "the default lifetime of an access token is variable ... a random value ranging
between 60-90 minutes (75 minutes on average)" (learn.microsoft.com/entra/identity-platform/
configurable-token-lifetimes); the bound is the top of that range. Where client and resource
both support Continuous Access Evaluation, tokens may live 24-28 hours, and a group change is
not one of the events CAE revokes them for (an administrator revoking the user's sessions is)."""

AD_TICKET_LIFETIME = timedelta(hours=10)
"""Active Directory: "Maximum lifetime for user ticket", 10 hours in the Default Domain Policy
(learn.microsoft.com/windows/win32/adschema/a-maxticketage). A Kerberos ticket carries the
user's groups (its PAC) until it expires; renewing it does not read them again."""

IDENTITY_CENTER_DEFAULT = "PT1H"
"""A permission set's SessionDuration when none was set (AWS's documented default)."""
IDENTITY_CENTER_LONGEST = timedelta(hours=12)
"""The longest SessionDuration AWS allows: the bound when the real one could not be read."""


def lifetime_setting(what: str, default: timedelta, source: str) -> dict[str, Any]:
    """The JSON Schema of one lifetime setting (a duration such as 2h, 90m or PT1H)."""
    return {
        "type": "string",
        "pattern": PATTERN,
        "default": format_duration(default),
        "description": f"{what}; `accessctl plan`, `explain`, `status` and the pull request "
                       f"comment add it to a grant's expiry to say when access fully ends. "
                       f"Default {format_duration(default)}: {source}.",
        "examples": [format_duration(default)],
    }


OKTA_SETTINGS: Mapping[str, Any] = {
    "session_lifetime": lifetime_setting(
        "How long sign-ins made before a revoke keep the access (access tokens carry the "
        "groups until they expire), unless the entitlement has `end_sessions: true`",
        OKTA_SESSION_LIFETIME,
        "Okta's access token lifetime (fixed on the org authorization server; set your custom "
        "authorization servers' longest, up to 24h, or an app's own session if it keeps Okta "
        "groups longer)"),
}
ENTRA_SETTINGS: Mapping[str, Any] = {
    "session_lifetime": lifetime_setting(
        "How long access tokens issued before a revoke keep the access (they carry group and "
        "role claims until they expire; `end_sessions` cannot revoke them either)",
        ENTRA_SESSION_LIFETIME,
        "Entra gives access tokens a random lifetime of 60-90 minutes (set your token "
        "lifetime policy's; clients using Continuous Access Evaluation may hold tokens up to "
        "28h, which `end_sessions` revokes)"),
}
AD_SETTINGS: Mapping[str, Any] = {
    "ticket_lifetime": lifetime_setting(
        "How long Kerberos tickets issued before a revoke keep the group (the domain's "
        "Maximum lifetime for user ticket)",
        AD_TICKET_LIFETIME,
        "the Default Domain Policy's maximum user ticket lifetime"),
}
SETTINGS: Mapping[str, Mapping[str, Any]] = {
    "okta": OKTA_SETTINGS, "entra": ENTRA_SETTINGS, "ad": AD_SETTINGS}
"""Platform -> its lifetime settings (each in that provider's SETTINGS_SCHEMA)."""

END_SESSIONS_PLATFORMS = ("okta", "entra")
"""Where a revoke can end the person's sessions through the platform's API."""


@dataclass(frozen=True)
class DurationRead:
    """An Identity Center permission set's SessionDuration as AWS answered: `value` is the
    ISO 8601 duration (None: none set, AWS's default applies), or `error` says why it could
    not be read."""

    value: str | None = None
    error: str | None = None


def read_session_durations(provider_for: Callable[[str], object], targets: Iterable[Target]
                           ) -> dict[Target, DurationRead]:
    """The SessionDuration of each Identity Center target's permission set, read with
    DescribePermissionSet through its provider (which caches it per permission set for the
    run). Other targets have nothing to read."""
    found: dict[Target, DurationRead] = {}
    for target in sorted(set(targets), key=lambda t: t.display):
        if target.platform != "aws" or target.kind != "account_assignment":
            continue
        try:
            read = getattr(provider_for(target.instance), "session_duration", None)
            if not callable(read):
                found[target] = DurationRead(error="the provider cannot read it")
                continue
            value = read(target)
        except (ProviderError, ImportError) as error:
            found[target] = DurationRead(error=str(error))
            continue
        found[target] = DurationRead(value=None if value is None else str(value))
    return found
