"""AWS: IAM group membership and IAM Identity Center account assignments, through boto3.

boto3 is imported only when an AWS entitlement is used. AWS has no native expiry for either kind:
the revoke job ends these grants. The Identity Center kind lives in `aws_identity_center`.

A principal is an IAM user name (or an Identity Store user name). Both can be changed (IAM
UpdateUser, Identity Store UpdateUser), and the old name then given to another user; the UserId
(`AIDA...` for IAM) never changes, and is what the engine keeps. IAM removes group members by name
only: a revoke finds the name the recorded UserId has now in the group's member list (which
observe has just read) right before RemoveUserFromGroup.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.aws_client import make_client, map_errors
from accessctl.providers.base import NotFound, Provider, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers
from accessctl.providers.target_schema import param, target_kind

PLATFORM = "aws"

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "region": {
            "type": "string",
            "description": "AWS region for API calls (IAM is global; Identity Center is regional).",
            "examples": ["eu-west-1"],
        },
        "endpoint_url": {
            "type": "string",
            "description": "Override of the AWS endpoint, for local test servers only.",
            "examples": ["http://127.0.0.1:5000"],
        },
        "profile": {
            "type": "string",
            "description": "A named profile from the AWS config; omit in CI (OIDC sets the env).",
            "examples": ["prod-admin"],
        },
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "iam_group": target_kind(
        ["group"],
        group=param("The IAM group the user is added to.", ["prod-admins"],
                    type="string", pattern=r"^[\w+=,.@-]{1,128}$"),
    ),
    "account_assignment": target_kind(
        ["account_id", "permission_set"],
        account_id=param("The AWS account (12 digits, quoted in YAML) the permission set is "
                         "assigned on.", ["123456789012"], type="string", pattern=r"^\d{12}$"),
        permission_set=param(
            "The Identity Center permission set, by name or by ARN.",
            ["AdministratorAccess",
             "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-1234567890abcdef"],
            type="string", pattern=r"^(arn:[\w-]+:sso:::\S+|[\w+=,.@-]{1,32})$"),
        instance_arn=param("The Identity Center instance; omit when the region has only one.",
                           ["arn:aws:sso:::instance/ssoins-1234567890abcdef"],
                           type="string", pattern=r"^arn:[\w-]+:sso:::instance/\S+$"),
    ),
}

PERMISSIONS = """\
IAM policy for the engine's role (assumed through GitHub OIDC). Keep only the statements for the
target kinds you use, and narrow the resources to what the entitlements name.

`iam_group`: limited to the managed groups.

```json
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["iam:GetGroup", "iam:AddUserToGroup", "iam:RemoveUserFromGroup"],
      "Resource": "arn:aws:iam::ACCOUNT_ID:group/jit/*"
    },
    {
      "Effect": "Allow",
      "Action": ["iam:GetUser"],
      "Resource": "arn:aws:iam::ACCOUNT_ID:user/*"
    }
  ]
}
```

`iam:GetUser` reads the UserId of the user a grant goes to: the engine records it, so that the
user is still found (and removed) after a rename.

`account_assignment` (IAM Identity Center), in the organization's management account or the
Identity Center delegated administrator account:

```json
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "FindTheInstance",
      "Effect": "Allow",
      "Action": ["sso:ListInstances"],
      "Resource": "*"
    },
    {
      "Sid": "AssignPermissionSets",
      "Effect": "Allow",
      "Action": [
        "sso:ListPermissionSets",
        "sso:DescribePermissionSet",
        "sso:ListAccountAssignments",
        "sso:CreateAccountAssignment",
        "sso:DeleteAccountAssignment",
        "sso:DescribeAccountAssignmentCreationStatus",
        "sso:DescribeAccountAssignmentDeletionStatus"
      ],
      "Resource": [
        "arn:aws:sso:::instance/ssoins-INSTANCE_ID",
        "arn:aws:sso:::permissionSet/ssoins-INSTANCE_ID/*",
        "arn:aws:sso:::account/MEMBER_ACCOUNT_ID"
      ]
    },
    {
      "Sid": "ResolveUsers",
      "Effect": "Allow",
      "Action": ["identitystore:GetUserId", "identitystore:DescribeUser"],
      "Resource": [
        "arn:aws:identitystore::ACCOUNT_ID:identitystore/d-IDENTITY_STORE_ID",
        "arn:aws:identitystore:::user/*"
      ]
    }
  ]
}
```

Assignments on the management account itself are provisioned with the caller's own IAM
permissions (Identity Center's service-linked role does not act there), so only if an entitlement
targets the management account, add:

```json
{
  "Sid": "ProvisionSsoRolesInManagementAccount",
  "Effect": "Allow",
  "Action": [
    "iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:UpdateRole",
    "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
    "iam:ListRolePolicies", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
    "iam:ListAttachedRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
    "iam:GetSAMLProvider", "iam:CreateSAMLProvider", "iam:UpdateSAMLProvider"
  ],
  "Resource": [
    "arn:aws:iam::MANAGEMENT_ACCOUNT_ID:role/aws-reserved/sso.amazonaws.com/*",
    "arn:aws:iam::MANAGEMENT_ACCOUNT_ID:saml-provider/AWSSSO_*_DO_NOT_DELETE"
  ]
}
```
"""

class AwsIamProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._client: Any = None
        self._lock = threading.Lock()
        self._ids = ObservedMembers()
        """Group -> its members' principal keys -> their UserIds, as observe read them."""
        self._names = ObservedMembers()
        """Group -> its members' principal keys -> their user names, as IAM spells them."""
        self._known: dict[str, str] = {}
        """Principal key -> UserId of every user a group listing showed this run."""

    @property
    def client(self) -> Any:
        with self._lock:  # boto3 sessions are not thread-safe; grants run in a thread pool
            if self._client is None:
                self._client = make_client(self.instance, self._environ, "iam")
        return self._client

    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._members(target.param("group")) for target in targets}

    def _members(self, group: str) -> frozenset[str]:
        ids: dict[str, str] = {}
        names: dict[str, str] = {}
        paginator = self.client.get_paginator("get_group")
        with map_errors(f"group {group}"):
            for page in paginator.paginate(GroupName=group):
                for user in page["Users"]:
                    key = principal_key(user["UserName"])
                    ids[key], names[key] = str(user["UserId"]), str(user["UserName"])
        self._ids.record(group, ids)
        self._names.record(group, names)
        self._known.update(ids)
        return frozenset(ids)

    def member_ids(self, target: Target) -> Mapping[str, str]:
        return self._ids.held(target.param("group"))

    def grant(self, change: Change) -> Outcome:
        group = change.target.param("group")
        # The user the name is now: its UserId is what the engine records (looked up, unless a
        # group listing of this run showed it).
        user_id = self._known.get(principal_key(change.principal))
        if user_id is None:
            with map_errors(f"user {change.principal}"):
                user_id = str(self.client.get_user(UserName=change.principal)["User"]["UserId"])
        with map_errors(f"user {change.principal} or group {group}"):
            # Adding an existing member answers 200, so the write alone is idempotent: no read.
            self.client.add_user_to_group(GroupName=group, UserName=change.principal)
        self._ids.note(group, change.principal, user_id)
        self._names.note(group, change.principal, change.principal)
        return Outcome(change, Status.DONE, f"added to IAM group {group}", principal_id=user_id)

    def revoke(self, change: Change) -> Outcome:
        group = change.target.param("group")
        name = change.principal
        if change.principal_id is not None:
            # RemoveUserFromGroup takes a name: the one the recorded UserId has in the group
            # now, from this run's observation (else read afresh). Never the recorded name,
            # which may be someone else's by now.
            observed, key = self._ids.key_of(group, change.principal_id)
            if not observed:
                self._members(group)
                observed, key = self._ids.key_of(group, change.principal_id)
            if key is None:
                return Outcome(change, Status.UNCHANGED, "not a member")
            name = self._names.lookup(group, key)[1] or key
        try:
            with map_errors(f"user {name} in group {group}"):
                self.client.remove_user_from_group(GroupName=group, UserName=name)
        except NotFound:
            # Gone already (or never there): the wanted end state holds.
            return Outcome(change, Status.UNCHANGED, "not a member")
        self._ids.note(group, name, None)
        self._names.note(group, name, None)
        return Outcome(change, Status.DONE, f"removed from IAM group {group}")


class AwsProvider:
    """The `aws` platform: each target kind has its own implementation, chosen by `target.kind`.

    Implementations are built on first use, so an instance used only for IAM groups never builds
    an Identity Center client, and the other way round.
    """

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._lock = threading.Lock()
        self._kinds: dict[str, Provider] = {}

    def for_kind(self, kind: str) -> Provider:
        with self._lock:
            if kind not in self._kinds:
                self._kinds[kind] = self._build(kind)
            return self._kinds[kind]

    def _build(self, kind: str) -> Provider:
        if kind == "iam_group":
            return AwsIamProvider(self.instance, self._environ)
        if kind == "account_assignment":
            # Imported here: that module builds on this one's client and error helpers.
            from accessctl.providers.aws_identity_center import IdentityCenterProvider

            return IdentityCenterProvider(self.instance, self._environ)
        known = ", ".join(sorted(TARGET_SCHEMAS))
        raise ProviderError(f"aws has no target kind {kind!r} (known: {known})")

    def native_expiry(self, target: Target) -> bool:
        return self.for_kind(target.kind).native_expiry(target)

    def member_ids(self, target: Target) -> Mapping[str, str]:
        member_ids = getattr(self.for_kind(target.kind), "member_ids", None)
        return member_ids(target) if callable(member_ids) else {}

    def session_duration(self, target: Target) -> str | None:
        """An Identity Center target's permission set SessionDuration (providers/sessions.py)."""
        read = getattr(self.for_kind(target.kind), "session_duration", None)
        if not callable(read):
            raise ProviderError(f"{target.kind} targets have no session duration")
        value = read(target)
        return None if value is None else str(value)

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        by_kind: dict[str, list[Target]] = defaultdict(list)
        for target in targets:
            by_kind[target.kind].append(target)
        result: dict[Target, frozenset[str]] = {}
        for kind, group in sorted(by_kind.items()):
            result.update(self.for_kind(kind).observe(group))
        return result

    def grant(self, change: Change) -> Outcome:
        return self.for_kind(change.target.kind).grant(change)

    def revoke(self, change: Change) -> Outcome:
        return self.for_kind(change.target.kind).revoke(change)


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> AwsProvider:
    return AwsProvider(instance, environ)
