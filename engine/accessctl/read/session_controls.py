"""The checks `end_sessions` and the lifetime settings need beyond their schemas, each a finding
on the file and line that holds the value (read/load.py calls these)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.core.durations import parse_duration
from accessctl.core.model import Finding, ProviderInstance
from accessctl.providers.sessions import END_SESSIONS_PLATFORMS, SETTINGS
from accessctl.read.yamlfile import Document

OKTA_SESSIONS_SCOPE = "okta.users.manage"
"""The scope Okta's description names for revokeUserSessions."""
NATIVE_EXPIRY_KINDS = {("entra", "pim_group"), ("entra", "directory_role")}
"""Targets the platform itself ends at expires_at: the engine sees no revoke to end sessions
after."""


def _okta_default_scopes() -> tuple[str, ...]:
    from accessctl.providers.okta import DEFAULT_SCOPES

    return DEFAULT_SCOPES


def settings_findings(document: Document, name: str, platform: str,
                      settings: Mapping[str, Any]) -> list[Finding]:
    """A lifetime setting that has the form of a duration but is not one the engine takes."""
    found = []
    for key in SETTINGS.get(platform, {}):
        if key not in settings:
            continue
        try:
            parse_duration(str(settings[key]))
        except ValueError as error:
            found.append(Finding(document.location(("providers", name, key)),
                                 "bad-duration", f"{key}: {error}"))
    return found


def end_sessions_finding(document: Document, instance: ProviderInstance | None,
                         kind: str) -> Finding | None:
    """Why `end_sessions: true` cannot be honoured on this entitlement (None: it can, or it is
    not asked for)."""
    if document.data.get("end_sessions") is not True or instance is None:
        return None
    where = document.location(("end_sessions",))
    platform = instance.platform
    if platform not in END_SESSIONS_PLATFORMS:
        return Finding(where, "end-sessions-platform",
                       f"end_sessions: {platform} has no API the engine can use to end a "
                       f"person's sessions (only {' and '.join(END_SESSIONS_PLATFORMS)} "
                       f"entitlements can): remove end_sessions from this entitlement")
    settings = instance.settings
    if platform == "okta" and settings.get("auth") == "private_key" \
            and OKTA_SESSIONS_SCOPE not in (settings.get("scopes") or _okta_default_scopes()):
        return Finding(where, "end-sessions-scope",
                       f"end_sessions: Okta lets only a token with the {OKTA_SESSIONS_SCOPE} "
                       f"scope end sessions: add it to `scopes` of provider {instance.name} "
                       "in policies/providers.yaml (and grant it to the service app)")
    if (platform, kind) in NATIVE_EXPIRY_KINDS:
        return Finding(where, "end-sessions-native-expiry",
                       f"end_sessions: Entra PIM ends {kind} assignments itself at expires_at, "
                       "so the engine makes no revoke to end the sessions after: use a target "
                       "of kind group, or remove end_sessions")
    return None
