"""The Graph emulator's records: users, groups, directory roles, assignment schedules, and the
log of what it answered."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from accessctl.emulators.graph.wire import iso
from accessctl.emulators.http import JSON


@dataclass(frozen=True)
class LoggedResponse:
    method: str
    path: str
    status: int
    body: JSON


@dataclass
class User:
    id: str
    user_principal_name: str
    mail: str | None
    display_name: str

    def json(self) -> dict[str, JSON]:
        return {
            "@odata.type": "#microsoft.graph.user",
            "id": self.id,
            "businessPhones": [],
            "displayName": self.display_name,
            "mail": self.mail,
            "userPrincipalName": self.user_principal_name,
        }


@dataclass
class Group:
    id: str
    display_name: str
    security_enabled: bool
    created: datetime
    members: list[str] = field(default_factory=list)
    """Direct members' object ids, in the order they were added."""

    def json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "createdDateTime": iso(self.created),
            "displayName": self.display_name,
            "groupTypes": [],
            "mailEnabled": False,
            "mailNickname": re.sub(r"[^A-Za-z0-9]", "", self.display_name) or "group",
            "securityEnabled": self.security_enabled,
        }


@dataclass
class Role:
    id: str
    display_name: str

    def json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "description": f"Emulated role {self.display_name}",
            "displayName": self.display_name,
            "isBuiltIn": True,
            "isEnabled": True,
            "resourceScopes": ["/"],
            "templateId": self.id,
            "version": "1",
            "rolePermissions": [],
        }


@dataclass
class Schedule:
    """One assignment schedule: PIM for Groups (`resource` is a group id, `access` member|owner)
    or a directory role (`resource` is a roleDefinitionId, `scope` a directoryScopeId)."""

    id: str
    kind: str  # "group" or "role"
    resource: str
    principal_id: str
    access: str
    scope: str
    start: datetime
    end: datetime | None
    created: datetime
    modified: datetime

    def active(self, now: datetime) -> bool:
        return self.end is None or now < self.end

    def schedule_info(self) -> dict[str, JSON]:
        expiration: dict[str, JSON] = (
            {"type": "noExpiration", "endDateTime": None, "duration": None}
            if self.end is None
            else {"type": "afterDateTime", "endDateTime": iso(self.end), "duration": None}
        )
        return {"startDateTime": iso(self.start), "recurrence": None, "expiration": expiration}
