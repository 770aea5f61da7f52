"""When access is fully gone: a grant's expiry plus what outlives the revoke on its platform.

Removing a membership does not end every session it fed: an Identity Center role session lasts
until its permission set's SessionDuration runs out, Okta and Entra tokens keep their group
claims until they expire, an Active Directory Kerberos ticket carries the group until it does.
Pure: the settings come from the provider instance, the one platform fact (an Identity Center
permission set's SessionDuration) is read by the caller (providers/sessions.py) and passed in;
without it the longest value AWS allows is the bound, and the sentence says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from accessctl.core.durations import format_duration, parse_duration
from accessctl.core.model import Entitlement, Policies, ProviderInstance, Target, isoformat
from accessctl.core.timestamps import saturating_add
from accessctl.judge.evaluate import target_of
from accessctl.providers.sessions import (
    AD_TICKET_LIFETIME,
    END_SESSIONS_PLATFORMS,
    ENTRA_SESSION_LIFETIME,
    IDENTITY_CENTER_DEFAULT,
    IDENTITY_CENTER_LONGEST,
    OKTA_SESSION_LIFETIME,
    DurationRead,
)

NONE = timedelta(0)

PER_REQUEST = {
    "aws": "IAM evaluates the group's policies on every request",
    "gcp": "Google Cloud checks IAM on every request (a change usually applies within minutes)",
    "github": "GitHub checks team and repository permissions on every request",
    "gitlab": "GitLab checks membership on every request",
}
"""Platforms where nothing outlives the removal but the platform's own propagation, and why."""


@dataclass(frozen=True)
class Residual:
    """What may outlive a revoke on one target: for how long after it, and why."""

    after: timedelta
    why: str
    exact: bool = True
    """False: an upper bound (the platform's real value was not read)."""
    ends_sessions: bool = False
    """The revoke also ends the person's sessions (`end_sessions`)."""

    def as_dict(self) -> dict[str, Any]:
        return {"after_seconds": int(self.after.total_seconds()),
                "after": format_duration(self.after), "why": self.why, "exact": self.exact,
                "ends_sessions": self.ends_sessions}


def ends_sessions(policies: Policies, target: Target) -> bool:
    """Whether a revoke on `target` ends the person's sessions: some entitlement that grants it
    asks for it (entitlements sharing a target share its revokes)."""
    return any(e.end_sessions and target_of(e, policies) == target
               for e in policies.entitlements.values())


def residual(instance: ProviderInstance, kind: str, *, end_sessions: bool = False,
             read: DurationRead | None = None) -> Residual:
    """What outlives a revoke on a target of `kind` on `instance`. `read` is the Identity
    Center permission set's SessionDuration as read from AWS (None: not read)."""
    platform = instance.platform
    settings = instance.settings
    if platform == "aws" and kind == "account_assignment":
        return _identity_center(read)
    if platform == "okta":
        if end_sessions:
            return Residual(NONE, "the revoke also ends the person's Okta sessions and OAuth "
                            "tokens (end_sessions): nothing Okta issued outlives it (the "
                            "sessions apps keep themselves are the apps')", ends_sessions=True)
        after, named = _setting(settings, "session_lifetime", OKTA_SESSION_LIFETIME)
        return Residual(after, f"sign-ins made before the revoke keep it up to "
                        f"{format_duration(after)}: Okta access tokens carry the groups until "
                        f"they expire ({named}; end_sessions ends them with the access)")
    if platform == "entra":
        after, named = _setting(settings, "session_lifetime", ENTRA_SESSION_LIFETIME)
        if end_sessions:
            return Residual(after, "the revoke also revokes the person's sign-in sessions and "
                            "refresh tokens (end_sessions); access tokens already issued stay "
                            f"valid until they expire, up to {format_duration(after)} "
                            f"({named}), except at resources that apply Continuous Access "
                            "Evaluation, which reject them within minutes",
                            ends_sessions=True)
        # end_sessions is offered on groups only: PIM ends its own schedules.
        hint = " (end_sessions revokes them)" if kind == "group" else ""
        return Residual(after, f"access tokens issued before the revoke keep it up to "
                        f"{format_duration(after)} ({named}; Entra gives them 60-90 minutes by "
                        f"default); sign-in sessions and refresh tokens stay valid{hint}")
    if platform == "ad":
        if settings.get("ttl_membership"):
            return Residual(NONE, "the domain controller issues no Kerberos ticket that "
                            "outlives the membership's TTL (ttl_membership)")
        after, named = _setting(settings, "ticket_lifetime", AD_TICKET_LIFETIME)
        return Residual(after, f"Kerberos tickets issued before the revoke carry the group up "
                        f"to {format_duration(after)} ({named})")
    how = PER_REQUEST.get(platform, f"{platform} checks access on every request")
    return Residual(NONE, f"none beyond propagation: {how}")


def _setting(settings: Mapping[str, Any], name: str, default: timedelta
             ) -> tuple[timedelta, str]:
    """A lifetime setting and how to name where it came from (the schema checked its form)."""
    text = settings.get(name)
    if text is None:
        return default, f"{name} default {format_duration(default)}"
    try:
        return parse_duration(str(text)), f"{name} {text}"
    except ValueError:
        return default, f"{name} {text!r} not understood, default {format_duration(default)}"


def _identity_center(read: DurationRead | None) -> Residual:
    longest = format_duration(IDENTITY_CENTER_LONGEST)
    if read is None or read.error is not None:
        unread = "not read here" if read is None else f"not read: {read.error}"
        return Residual(IDENTITY_CENTER_LONGEST, f"role sessions started before the revoke last "
                        f"up to the permission set's SessionDuration, at most {longest} "
                        f"({unread}; accessctl plan reads it from AWS)", exact=False)
    value = read.value or IDENTITY_CENTER_DEFAULT
    try:
        after = parse_duration(value)
    except ValueError:
        return Residual(IDENTITY_CENTER_LONGEST, f"role sessions last up to the permission "
                        f"set's SessionDuration, at most {longest} (AWS answered {value!r}, "
                        "which is not a duration)", exact=False)
    source = f"permission set SessionDuration {value}" if read.value else \
        f"permission set SessionDuration not set: AWS's default {value}"
    return Residual(after, f"sessions last up to {format_duration(after)} after the revoke "
                    f"({source})")


def for_entitlement(policies: Policies, entitlement: Entitlement,
                    reads: Mapping[Target, DurationRead] | None = None) -> Residual | None:
    """What outlives a revoke of this entitlement's grants (None: its provider is unknown)."""
    instance = policies.providers.get(entitlement.provider)
    target = target_of(entitlement, policies)
    if instance is None or target is None:
        return None
    return for_target(policies, instance, target, reads)


def for_target(policies: Policies, instance: ProviderInstance, target: Target,
               reads: Mapping[Target, DurationRead] | None = None) -> Residual:
    return residual(instance, target.kind, end_sessions=ends_sessions(policies, target),
                    read=(reads or {}).get(target))


def fully_ends_by(expires_at: datetime, found: Residual) -> datetime:
    """The moment access is fully gone if the revoke comes at `expires_at`."""
    return saturating_add(expires_at, found.after)


def sentence(expires_at: datetime, found: Residual) -> str:
    """"access fully ends by T: why", T being `expires_at` plus what outlives the revoke."""
    when = isoformat(fully_ends_by(expires_at, found))
    return f"access fully ends by {when}{'' if found.exact else ' at the latest'}: {found.why}"


def can_end_sessions(platform: str) -> bool:
    return platform in END_SESSIONS_PLATFORMS
