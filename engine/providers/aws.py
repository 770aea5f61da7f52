"""AWS: IAM group membership through boto3 (imported only when an AWS entitlement is used).

AWS has no native expiry for group membership: the revoke job ends these grants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.model import Change, Outcome, ProviderInstance, Status, Target
from engine.providers.base import NotFound, ProviderError, principal_key

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
    "iam_group": {
        "type": "object",
        "additionalProperties": False,
        "required": ["group"],
        "properties": {
            "group": {
                "type": "string",
                "pattern": r"^[\w+=,.@-]{1,128}$",
                "description": "The IAM group the user is added to.",
                "examples": ["prod-admins"],
            },
        },
    },
}

PERMISSIONS = """\
IAM policy for the engine's role (assumed through GitHub OIDC), limited to the managed groups:

```json
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["iam:GetGroup", "iam:AddUserToGroup", "iam:RemoveUserFromGroup"],
      "Resource": "arn:aws:iam::ACCOUNT_ID:group/jit/*"
    }
  ]
}
```
"""

_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
               "ServiceUnavailable", "InternalFailure", "ServiceFailure"}


class AwsIamProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            settings = self.instance.settings
            session = boto3.session.Session(
                profile_name=settings.get("profile"),
                region_name=settings.get("region") or self._environ.get("AWS_REGION")
                or "us-east-1",
            )
            # One retry loop (the engine's): botocore's own retries would multiply attempts.
            config = Config(retries={"max_attempts": 1, "mode": "standard"},
                            connect_timeout=10, read_timeout=30)
            self._client = session.client(
                "iam", endpoint_url=settings.get("endpoint_url"), config=config
            )
        return self._client

    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result = {}
        for target in targets:
            members: set[str] = set()
            paginator = self.client.get_paginator("get_group")
            with _errors(f"group {target.param('group')}"):
                for page in paginator.paginate(GroupName=target.param("group")):
                    members.update(principal_key(u["UserName"]) for u in page["Users"])
            result[target] = frozenset(members)
        return result

    def grant(self, change: Change) -> Outcome:
        group = change.target.param("group")
        with _errors(f"user {change.principal} or group {group}"):
            # Adding an existing member answers 200, so the write alone is idempotent: no read.
            self.client.add_user_to_group(GroupName=group, UserName=change.principal)
        return Outcome(change, Status.DONE, f"added to IAM group {group}")

    def revoke(self, change: Change) -> Outcome:
        group = change.target.param("group")
        try:
            with _errors(f"user {change.principal} in group {group}"):
                self.client.remove_user_from_group(GroupName=group, UserName=change.principal)
        except NotFound:
            # Gone already (or never there): the wanted end state holds.
            return Outcome(change, Status.UNCHANGED, "not a member")
        return Outcome(change, Status.DONE, f"removed from IAM group {group}")


class _errors:
    """Map botocore errors to the engine's: NotFound, retryable, or plain."""

    def __init__(self, subject: str) -> None:
        self.subject = subject

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: object) -> None:
        if error is None:
            return
        from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", str(error))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code == "NoSuchEntity":
                raise NotFound(f"{self.subject}: {message}") from None
            retryable = code in _THROTTLING or status == 429 or status >= 500
            raise ProviderError(f"AWS {code}: {message}", retryable=retryable) from None
        if isinstance(error, (ConnectionError, ReadTimeoutError)):
            raise ProviderError(f"AWS unreachable: {error}", retryable=True) from None


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> AwsIamProvider:
    return AwsIamProvider(instance, environ)
