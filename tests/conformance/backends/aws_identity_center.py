"""IAM Identity Center account assignments on moto in server mode, reached over HTTP via boto3.

Each target is a fresh permission set on one account; principals are Identity Store users of the
instance moto creates by itself (moto cannot create instances).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from accessctl.core.model import ProviderInstance, Target
from accessctl.providers import aws
from accessctl.providers.base import Provider, principal_key

from tests.servers import moto_server

ACCOUNT = "111122223333"
PAGE = 100
"""moto pages list_account_assignments at 100 (its PAGINATION_MODEL limit_default), AWS's
largest MaxResults; the provider sends no MaxResults, so observe must follow NextToken."""

_ids = itertools.count()


class IdentityCenterBackend:
    platform = "aws"
    supports_faults = False

    def __init__(self, endpoint: str) -> None:
        self.instance = ProviderInstance(
            "aws-sso-test", "aws", {"endpoint_url": endpoint, "region": "us-east-1"}
        )
        self.sso: Any = moto_server.client("sso-admin", endpoint)
        self.store: Any = moto_server.client("identitystore", endpoint)
        (sso_instance,) = self.sso.list_instances()["Instances"]
        self.instance_arn: str = sso_instance["InstanceArn"]
        self.store_id: str = sso_instance["IdentityStoreId"]

    def provider(self) -> Provider:
        return aws.create(self.instance, {})

    def target(self, permission_set: str) -> Target:
        return Target.build("aws-sso-test", "aws", "account_assignment",
                            {"account_id": ACCOUNT, "permission_set": permission_set})

    def new_permission_set(self) -> tuple[str, str]:
        """A fresh permission set: (name, ARN)."""
        name = f"JitAdmin{next(_ids)}"
        made = self.sso.create_permission_set(Name=name, InstanceArn=self.instance_arn)
        return name, made["PermissionSet"]["PermissionSetArn"]

    def new_target(self) -> Target:
        name, _ = self.new_permission_set()
        return self.target(name)

    def missing_target(self) -> Target:
        return self.target("NoSuchPermissionSet")

    def new_principal(self) -> str:
        name = f"User-{next(_ids)}"
        self.store.create_user(
            IdentityStoreId=self.store_id, UserName=name, DisplayName=name,
            Name={"GivenName": "Test", "FamilyName": name},
        )
        return name

    def missing_principal(self) -> str:
        return "nobody-here"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        """moto has no Identity Store UpdateUser: change the user's userName in its backend (the
        server runs in this process), as UpdateUser would. The UserId stays."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.identitystore.models import identitystore_backends

        new_name = new_name or f"Renamed-{next(_ids)}"
        store = identitystore_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        users = store.identity_stores[self.store_id].users
        user_id = self.user_id(principal)
        users[user_id] = users[user_id]._replace(UserName=new_name)
        return new_name

    def user_id(self, name: str) -> str:
        found: str = self.store.get_user_id(
            IdentityStoreId=self.store_id,
            AlternateIdentifier={"UniqueAttribute": {"AttributePath": "userName",
                                                     "AttributeValue": name}},
        )["UserId"]
        return found

    def permission_set_arn(self, target: Target) -> str:
        name = target.param("permission_set")
        if name.startswith("arn:"):
            return name
        arns: list[str] = self.sso.list_permission_sets(InstanceArn=self.instance_arn,
                                                        MaxResults=100)["PermissionSets"]
        for arn in arns:
            described = self.sso.describe_permission_set(InstanceArn=self.instance_arn,
                                                         PermissionSetArn=arn)
            if described["PermissionSet"]["Name"] == name:
                return arn
        raise KeyError(name)

    def assign(self, target: Target, principal_type: str, principal_id: str) -> None:
        self.sso.create_account_assignment(
            InstanceArn=self.instance_arn, TargetId=target.param("account_id"),
            TargetType="AWS_ACCOUNT", PermissionSetArn=self.permission_set_arn(target),
            PrincipalType=principal_type, PrincipalId=principal_id,
        )

    def assignments(self, target: Target) -> list[dict[str, str]]:
        """Every assignment on the target, USER and GROUP, duplicates included."""
        found: list[dict[str, str]] = []
        pages = self.sso.get_paginator("list_account_assignments").paginate(
            InstanceArn=self.instance_arn, AccountId=target.param("account_id"),
            PermissionSetArn=self.permission_set_arn(target),
        )
        for page in pages:
            found.extend(page["AccountAssignments"])
        return found

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.assign(target, "USER", self.user_id(principal))

    def members_out_of_band(self, target: Target) -> set[str]:
        names = set()
        for assignment in self.assignments(target):
            if assignment["PrincipalType"] == "USER":
                user = self.store.describe_user(IdentityStoreId=self.store_id,
                                                UserId=assignment["PrincipalId"])
                names.add(principal_key(user["UserName"]))
        return names

    def page_size(self) -> int:
        return PAGE

    def inject(self, kinds: list[str]) -> None:
        raise NotImplementedError("moto cannot inject faults")

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # Identity Center has no expiry on account assignments


@contextmanager
def backend() -> Iterator[IdentityCenterBackend]:
    with moto_server.running() as endpoint:
        yield IdentityCenterBackend(endpoint)
