"""AWS IAM groups on moto in server mode, reached over HTTP through boto3."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.providers import aws

from tests.servers import moto_server

_ids = itertools.count()


class AwsBackend:
    platform = "aws"
    supports_faults = False

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.instance = ProviderInstance(
            "aws-test", "aws", {"endpoint_url": endpoint, "region": "us-east-1"}
        )
        self.iam: Any = moto_server.client("iam", endpoint)

    def provider(self) -> aws.AwsProvider:
        return aws.create(self.instance, {})

    def new_target(self) -> Target:
        name = f"group-{next(_ids)}"
        self.iam.create_group(GroupName=name)
        return Target.build("aws-test", "aws", "iam_group", {"group": name})

    def missing_target(self) -> Target:
        return Target.build("aws-test", "aws", "iam_group", {"group": "no-such-group"})

    def new_principal(self) -> str:
        name = f"User-{next(_ids)}"
        self.iam.create_user(UserName=name)
        return name

    def missing_principal(self) -> str:
        return "nobody-here"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed-{next(_ids)}"
        self.iam.update_user(UserName=principal, NewUserName=new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.iam.add_user_to_group(GroupName=target.param("group"), UserName=principal)

    def members_out_of_band(self, target: Target) -> set[str]:
        users = self.iam.get_group(GroupName=target.param("group"), MaxItems=1000)["Users"]
        return {principal_key(u["UserName"]) for u in users}

    def page_size(self) -> int:
        return 100  # moto pages get_group at 100 users, like AWS's default MaxItems

    def inject(self, kinds: list[str]) -> None:
        raise NotImplementedError("moto cannot inject faults")

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # IAM has no expiry on group membership


@contextmanager
def backend() -> Iterator[AwsBackend]:
    with moto_server.running() as endpoint:
        yield AwsBackend(endpoint)
