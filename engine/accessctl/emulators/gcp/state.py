"""The GCP emulator's records: IAM policies, Cloud Identity groups and memberships, and the log
of what it answered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accessctl.emulators.gcp.wire import parse_rfc3339, rfc3339
from accessctl.emulators.http import JSON


@dataclass
class Policy:
    bindings: list[dict[str, Any]] = field(default_factory=list)
    audit_configs: list[dict[str, Any]] = field(default_factory=list)
    etag: str = ""

    @property
    def conditional(self) -> bool:
        return any("condition" in binding for binding in self.bindings)

    @property
    def version(self) -> int:
        return 3 if self.conditional else 1

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version, "etag": self.etag}
        # Google leaves empty repeated fields out of the JSON.
        if self.bindings:
            body["bindings"] = json.loads(json.dumps(self.bindings))
        if self.audit_configs:
            body["auditConfigs"] = json.loads(json.dumps(self.audit_configs))
        return body


@dataclass
class Membership:
    name: str
    member: str
    member_type: str
    roles: list[dict[str, Any]]
    created: datetime
    updated: datetime

    def member_expiry(self) -> datetime | None:
        for role in self.roles:
            if role.get("name") == "MEMBER" and "expiryDetail" in role:
                return parse_rfc3339(role["expiryDetail"]["expireTime"])
        return None

    def as_json(self, full: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "preferredMemberKey": {"id": self.member},
            "roles": [
                role if full else {"name": role["name"]}
                for role in json.loads(json.dumps(self.roles))
            ],
        }
        if full:
            body["type"] = self.member_type
            body["createTime"] = rfc3339(self.created)
            body["updateTime"] = rfc3339(self.updated)
            body["deliverySetting"] = "ALL_MAIL"
        return body


@dataclass
class Group:
    name: str
    email: str
    memberships: dict[str, Membership] = field(default_factory=dict)
    """Keyed by membership id."""


@dataclass
class LoggedResponse:
    method: str
    path: str
    status: int
    body: JSON
