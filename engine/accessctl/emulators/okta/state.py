"""The Okta emulator's records: users, groups, role assignments, OAuth service apps and their
access tokens, and the log of what it answered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accessctl.emulators.http import JSON
from accessctl.emulators.okta.wire import stamp


@dataclass
class User:
    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    status: str
    created: datetime
    last_updated: datetime

    def profile(self) -> dict[str, JSON]:
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "mobilePhone": None,
            "secondEmail": None,
            "login": self.login,
            "email": self.email,
        }

    def field(self, name: str) -> JSON:
        """The value a search expression names, e.g. `profile.login` or `status`."""
        if name.startswith("profile."):
            return self.profile().get(name.removeprefix("profile."))
        return {"id": self.id, "status": self.status, "created": stamp(self.created),
                "lastUpdated": stamp(self.last_updated)}.get(name)


@dataclass
class Group:
    id: str
    name: str
    description: str
    type: str
    created: datetime
    last_updated: datetime
    last_membership_updated: datetime
    members: set[str] = field(default_factory=set)

    def field(self, name: str) -> JSON:
        if name.startswith("profile."):
            return {"name": self.name, "description": self.description}.get(
                name.removeprefix("profile."))
        return {"id": self.id, "type": self.type, "created": stamp(self.created),
                "lastUpdated": stamp(self.last_updated),
                "lastMembershipUpdated": stamp(self.last_membership_updated)}.get(name)


@dataclass
class RoleAssignment:
    id: str
    type: str
    created: datetime


@dataclass
class OAuthClient:
    """An OAuth 2.0 service app: its public keys (JWKs) and the Okta scopes granted to it."""

    client_id: str
    keys: list[dict[str, Any]]
    scopes: frozenset[str]
    dpop_required: bool = False
    """"Require Demonstrating Proof of Possession (DPoP) header in token requests", which the
    Admin Console turns on for new API service integrations."""


@dataclass
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    jkt: str | None = None
    """For a DPoP-bound token: the thumbprint (RFC 7638) of the key every proof must be signed
    with; None for a Bearer token."""


@dataclass
class LoggedResponse:
    """What the emulator answered; `path` is None for injected faults (no route was matched)."""

    method: str | None
    path: str | None
    status: int
    body: JSON
    headers: dict[str, str]
