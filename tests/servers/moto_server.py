"""moto in server mode: a real HTTP server on 127.0.0.1 speaking the AWS wire protocols."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def running() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def fresh_iam(client: Any, groups: tuple[str, ...], users: tuple[str, ...]) -> Any:
    """Make the groups and users exist, with every group empty.

    moto keeps its state per process, not per server: every test shares one IAM, so each starts
    by putting back what it relies on.
    """
    existing_groups = {g["GroupName"] for g in client.list_groups()["Groups"]}
    existing_users = {u["UserName"] for u in client.list_users()["Users"]}
    for user in users:
        if user not in existing_users:
            client.create_user(UserName=user)
    for group in groups:
        if group not in existing_groups:
            client.create_group(GroupName=group)
        for member in client.get_group(GroupName=group)["Users"]:
            client.remove_user_from_group(GroupName=group, UserName=member["UserName"])
    return client
