"""What an AD instance is configured with: its settings, the `target:` block of its one target
kind, and the delegation its service account needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.providers import sessions
from accessctl.providers.target_schema import param, target_kind

DEFAULT_PASSWORD_ENV = "AD_BIND_PASSWORD"
DEFAULT_RANGE_SIZE = 1500  # AD's default MaxValRange: values of `member` per answer
DEFAULT_TIMEOUT = 30.0
PRINCIPAL_ATTRIBUTES = ("sAMAccountName", "userPrincipalName")

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "base_dn", "bind_dn"],
    # A plain ldap:// URL must upgrade with StartTLS: caught when the policies load.
    "if": {"required": ["url"], "properties": {"url": {"pattern": "^ldap://"}}},
    "then": {"required": ["start_tls"], "properties": {"start_tls": {"const": True}}},
    "properties": {
        "url": {
            "type": "string",
            "pattern": r"^ldaps?://[^/\s]+/?$",
            "description": "The domain controller: ldaps://host:636, or ldap://host:389 with "
                           "start_tls: true (a bind without TLS is refused).",
            "examples": ["ldaps://dc1.corp.example.com:636", "ldap://dc1.corp.example.com"],
        },
        "base_dn": {
            "type": "string",
            "minLength": 1,
            "description": "Where users and groups named by sAMAccountName are searched "
                           "(subtree); usually the domain's root.",
            "examples": ["DC=corp,DC=example,DC=com"],
        },
        "bind_dn": {
            "type": "string",
            "minLength": 1,
            "description": "The service account the engine binds as: its DN or its "
                           "userPrincipalName.",
            "examples": ["svc-accessctl@corp.example.com",
                         "CN=svc-accessctl,OU=Service Accounts,DC=corp,DC=example,DC=com"],
        },
        "password_env": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
            "default": DEFAULT_PASSWORD_ENV,
            "description": "Name of the environment variable that holds the service account's "
                           "password.",
            "examples": [DEFAULT_PASSWORD_ENV],
        },
        "start_tls": {
            "type": "boolean",
            "default": False,
            "description": "Upgrade an ldap:// connection with StartTLS before binding "
                           "(required for ldap:// URLs).",
            "examples": [True],
        },
        "tls_validate": {
            "type": "boolean",
            "default": True,
            "description": "Verify the DC's certificate and host name. Turn off only for a "
                           "throwaway test DC with a self-signed certificate.",
            "examples": [True],
        },
        "ca_file": {
            "type": "string",
            "minLength": 1,
            "description": "PEM file of the CA that issued the DC's certificate (your "
                           "enterprise CA); the system's trust store when absent.",
            "examples": ["/etc/ssl/certs/corp-root-ca.pem"],
        },
        "principal_attribute": {
            "type": "string",
            "enum": list(PRINCIPAL_ATTRIBUTES),
            "default": "sAMAccountName",
            "description": "How identities.yaml names AD users, and how observed members are "
                           "reported: sAMAccountName or userPrincipalName.",
            "examples": ["sAMAccountName"],
        },
        "ttl_membership": {
            "type": "boolean",
            "default": False,
            "description": "Write members as <TTL=seconds,DN> so that the forest removes them at "
                           "expiry. Needs a Windows Server 2016+ forest with the Privileged "
                           "Access Management feature enabled; not tested against one.",
            "examples": [False],
        },
        "range_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5000,
            "default": DEFAULT_RANGE_SIZE,
            "description": "Values of a group's member attribute asked for per search "
                           "(member;range=N-M); AD answers at most its MaxValRange (1500).",
            "examples": [DEFAULT_RANGE_SIZE],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": DEFAULT_TIMEOUT,
            "description": "Connect and receive timeout of one LDAP operation, in seconds.",
            "examples": [30],
        },
        **sessions.AD_SETTINGS,
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "group": target_kind(
        ["group"],
        group=param("The AD group: its sAMAccountName (searched under base_dn) or its full "
                    "distinguished name.",
                    ["jit-sql-admins", "CN=jit-sql-admins,OU=JIT Groups,DC=corp,DC=example,DC=com"],
                    type="string", minLength=1, maxLength=2048),
    ),
}

PERMISSIONS = """\
The engine binds as a dedicated service account (`bind_dn`), with the password from the
environment variable named by `password_env` (default `AD_BIND_PASSWORD`), over LDAPS or
StartTLS. The account is an ordinary domain user (Domain Users can read users and groups) with one
delegation on the OU that holds the managed groups, and nothing else:

- Write Members (write property `member`, schema GUID `bf9679c0-0de6-11d0-a285-00aa003049e2`) on
  descendant Group objects of that OU. In SDDL:
  `(OA;CI;WP;bf9679c0-0de6-11d0-a285-00aa003049e2;bf967a9c-0de6-11d0-a285-00aa003049e2;<SID>)`;
  with the GUI: Delegate Control, custom task, Group objects, property "Write Members".

Keep the managed groups in that OU only, and never put a protected group (Domain Admins and the
other AdminSDHolder-protected groups) there, nor nest a managed group in one: SDProp rewrites the
permissions of protected groups and of every group nested in them (adminCount=1) each hour from
AdminSDHolder, which removes the delegation, so grants and revokes then fail and access stays.
The provider refuses to grant on a group with adminCount=1 and says so.

TTL membership (`ttl_membership: true`) needs no extra right, but needs a Windows Server 2016+
forest functional level with the Privileged Access Management optional feature enabled.
"""
