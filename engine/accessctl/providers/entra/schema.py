"""What an Entra instance is configured with: its settings, the `target:` block of each target
kind, and the Graph permissions each kind needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.providers import sessions
from accessctl.providers.target_schema import param, target_kind

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tenant_id": {
            "type": "string",
            "description": "Directory (tenant) id; falls back to the AZURE_TENANT_ID variable.",
            "examples": ["72f988bf-86f1-41af-91ab-2d7cd011db47"],
        },
        "client_id": {
            "type": "string",
            "description": "Application (client) id of the engine's app registration; falls back "
                           "to the AZURE_CLIENT_ID variable.",
            "examples": ["0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"],
        },
        "graph_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "Graph v1.0 root. Change it for national clouds, or for a local test "
                           "server (plain http is accepted only for localhost).",
            "examples": [DEFAULT_GRAPH_URL, "http://127.0.0.1:8080/v1.0"],
        },
        "authority_host": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9.-]+$",
            "description": "Microsoft Entra sign-in host the token is asked of. Derived from "
                           "graph_url for the national clouds Microsoft documents "
                           "(graph.microsoft.us: login.microsoftonline.us, "
                           "microsoftgraph.chinacloudapi.cn: login.chinacloudapi.cn); set it "
                           "for any other.",
            "examples": ["login.microsoftonline.us"],
        },
        "token_exchange_audience": {
            "type": "string",
            "minLength": 1,
            "description": "Audience of the GitHub OIDC token exchanged for an Entra token "
                           "(auth: workload_identity): the audience of the app's federated "
                           "credential.",
            "examples": ["api://AzureADTokenExchange"],
        },
        "auth": {
            "enum": ["workload_identity", "client_secret", "static_token"],
            "description": "How the engine gets a Graph token: `workload_identity` (federated "
                           "credential from the GitHub Actions OIDC token, no secret), "
                           "`client_secret`, or `static_token` (a bearer token from the "
                           "environment; for test servers).",
            "examples": ["workload_identity"],
        },
        "client_secret_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "description": "Environment variable holding the client secret (auth: client_secret).",
            "examples": ["AZURE_CLIENT_SECRET"],
        },
        "static_token_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "description": "Environment variable holding a bearer token (auth: static_token).",
            "examples": ["GRAPH_TOKEN"],
        },
        "user_lookup": {
            "enum": ["userPrincipalName", "mail"],
            "description": "What identities.yaml names Entra users by: their UPN (default) or "
                           "their mail address. Observed members are reported the same way.",
            "examples": ["userPrincipalName"],
        },
        "page_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 999,
            "description": "Members per page when listing ($top); Graph's maximum is 999.",
            "examples": [999],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Per-request timeout for Graph calls.",
            "examples": [30],
        },
        **sessions.ENTRA_SETTINGS,
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "group": target_kind(
        ["group"],
        group=param("Object id of the security group the user is added to directly.",
                    ["02bd9fd6-8f93-4758-87c3-1fb73740a315"], type="string", pattern=GUID),
    ),
    "pim_group": target_kind(
        ["group"],
        group=param("Object id of a group onboarded to PIM for Groups.",
                    ["02bd9fd6-8f93-4758-87c3-1fb73740a315"], type="string", pattern=GUID),
        access=param("Which relationship the time-bound assignment gives (default member).",
                     ["member"], enum=["member", "owner"]),
    ),
    "directory_role": target_kind(
        ["role"],
        role=param("roleDefinitionId of the directory role (the template id for built-in "
                   "roles).", ["729827e3-9c14-49f7-bb1b-9608f156bbb8"], type="string",
                   pattern=GUID),
        scope=param("directoryScopeId: `/` for the tenant (default) or "
                    "`/administrativeUnits/{id}`.", ["/"], type="string", pattern="^/"),
    ),
}

REQUIRED_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    "any": ("User.Read.All",),
    "group": ("GroupMember.ReadWrite.All",),
    "pim_group": ("PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup", "GroupMember.Read.All"),
    "directory_role": ("RoleAssignmentSchedule.ReadWrite.Directory",
                       "RoleManagement.Read.Directory"),
    "end_sessions": ("User.RevokeSessions.All",),
}
"""The least Graph application permissions each target kind needs ("any": every kind), as
Microsoft Graph's API reference lists them for the calls made: users (User.Read.All); group
members, read and write (GroupMember.ReadWrite.All); PIM for Groups schedules and the group's
existence; directory role schedules (RoleAssignmentSchedule.ReadWrite.Directory) and the role
definition's existence (RoleManagement.Read.Directory)."""

PERMISSIONS = """\
Microsoft Graph **application** permissions for the engine's app registration (admin consent
required), only those the target kinds in use need:

| target kind | permissions |
| --- | --- |
| any | `User.Read.All` (find users by UPN or mail) |
| `group` | `GroupMember.ReadWrite.All` |
| `pim_group` | `PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup`, plus \
`GroupMember.Read.All` to check that the group exists |
| `directory_role` | `RoleAssignmentSchedule.ReadWrite.Directory` (the schedules), plus \
`RoleManagement.Read.Directory` to check that the role exists |
| entitlements with `end_sessions: true` | `User.RevokeSessions.All` (revoke the person's \
sign-in sessions after the removal) |

never `RoleManagement.ReadWrite.Directory`: it lets its holder assign any directory role by
itself, Global Administrator included. `GroupMember.ReadWrite.All` cannot change role-assignable
groups: manage those with `pim_group`. PIM (`pim_group`, `directory_role`) needs a Microsoft
Entra ID P2 or ID Governance licence. Authenticate with workload identity federation from GitHub
Actions (no secret): a federated credential with subject `repo:ORG/REPO:environment:NAME`. In a
national cloud, set `graph_url`; the sign-in authority follows it (`authority_host`).
"""
