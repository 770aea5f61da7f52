"""What a GCP instance is configured with: its settings, the `target:` block of each target
kind, and the permissions its service account needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from accessctl.providers.target_schema import param, target_kind

RESOURCE = re.compile(r"^(projects/[a-z0-9][a-z0-9.:-]{0,62}|folders/[0-9]{1,20}"
                      r"|organizations/[0-9]{1,20})$")
"""A project, folder or organization: where an IAM policy lives."""
_EMAIL = r"^[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+$"


SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "endpoint": {
            "type": "string",
            "format": "uri",
            "description": (
                "Override of the Google API endpoint, for local test servers only. When it points "
                "at 127.0.0.1 or localhost the engine sends no credentials; otherwise Application "
                "Default Credentials are used as in production."
            ),
            "examples": ["http://127.0.0.1:8085/"],
        },
        "quota_project": {
            "type": "string",
            "description": (
                "Project billed for API quota. Cloud Identity needs one when the credentials are "
                "a user's rather than a service account's."
            ),
            "examples": ["platform-jit-prod"],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Socket timeout for each API call, in seconds (default 30).",
            "examples": [30],
        },
        "membership_expiry": {
            "type": "boolean",
            "default": True,
            "description": (
                "Whether Cloud Identity may expire group memberships (Cloud Identity Premium or "
                "Google Workspace Enterprise). false: memberships are added without expiry and "
                "the revoke job ends them. When true and Google refuses the expiry, the "
                "provider falls back the same way and says so."
            ),
            "examples": [True, False],
        },
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "iam_binding": target_kind(
        ["resource", "role"],
        resource=param("The project, folder or organization whose IAM policy is changed.",
                       ["projects/payments-prod", "folders/123456789012",
                        "organizations/987654321098"],
                       type="string", pattern=RESOURCE.pattern),
        role=param("The predefined or custom role granted, with an expiry condition.",
                   ["roles/viewer", "organizations/987654321098/roles/jitDebugger"],
                   type="string",
                   pattern=r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/"
                           r"[A-Za-z0-9_.]+)$"),
    ),
    "group_membership": target_kind(
        ["group"],
        group=param("Email of the Cloud Identity / Google Workspace group the user joins, with "
                    "an expiring MEMBER role.", ["prod-readers@example.com"],
                    type="string", pattern=_EMAIL),
    ),
}

PERMISSIONS = """\
The engine authenticates with Application Default Credentials: in GitHub Actions, Workload
Identity Federation impersonating a service account such as
`accessctl@PROJECT.iam.gserviceaccount.com` (no key file).

`iam_binding`, on each managed project, folder or organization only, the least that works: a
custom role with exactly `resourcemanager.projects.getIamPolicy` and
`resourcemanager.projects.setIamPolicy` (`resourcemanager.folders.*` and
`resourcemanager.organizations.*` likewise). `roles/resourcemanager.projectIamAdmin` (projects)
and `roles/resourcemanager.folderIamAdmin` (folders) hold the same two permissions; for
organizations no predefined role is that narrow: use the custom role.

Setting an IAM policy lets its holder grant any role, to itself too. Grant the role with an IAM
condition on `iam.googleapis.com/modifiedGrantsByRole` naming the roles the entitlements grant,
so that the engine can grant and revoke those and nothing else:
`api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/ROLE', ...])`.
(An IAM deny policy cannot do this: it denies permissions such as setIamPolicy, not the roles a
policy write adds.)

`group_membership`: the service account needs the Google Workspace admin role
"Groups Admin" (or a custom admin role limited to Groups read/update), assigned in the Admin
console, and the OAuth scope `https://www.googleapis.com/auth/cloud-identity.groups`.
Alternatively make the service account a MANAGER of each managed group; a manager can add and
remove members of that group only. Membership expiry needs Cloud Identity Premium or Google
Workspace Enterprise (`membership_expiry: false` otherwise).
"""
