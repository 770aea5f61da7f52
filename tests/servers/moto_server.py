"""moto in server mode: a real HTTP server on 127.0.0.1 speaking the AWS wire protocols."""

from __future__ import annotations

from typing import Any

from accessctl.emulators.aws import client, moto_server

running = moto_server

__all__ = ["client", "fresh_iam", "running"]


def fresh_iam(iam: Any, groups: tuple[str, ...], users: tuple[str, ...]) -> Any:
    """Make the groups and users exist, with every group empty.

    moto keeps its state per process, not per server: every test shares one IAM, so each starts
    by putting back what it relies on.
    """
    existing_groups = {g["GroupName"] for g in iam.list_groups()["Groups"]}
    existing_users = {u["UserName"] for u in iam.list_users()["Users"]}
    for user in users:
        if user not in existing_users:
            iam.create_user(UserName=user)
    for group in groups:
        if group not in existing_groups:
            iam.create_group(GroupName=group)
        for member in iam.get_group(GroupName=group)["Users"]:
            iam.remove_user_from_group(GroupName=group, UserName=member["UserName"])
    return iam
