"""One boto3 client per AWS service, and botocore's errors in the engine's terms.

Shared by the IAM groups provider (aws.py) and the Identity Center one (aws_identity_center.py),
so that neither imports the other at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.core.model import ProviderInstance
from accessctl.providers.base import NotFound, ProviderError

_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
               "ServiceUnavailable", "InternalFailure", "ServiceFailure",
               # Identity Center: a write that has not propagated yet; AWS says retry with backoff.
               "ConflictException"}
_NOT_FOUND = {"NoSuchEntity", "ResourceNotFoundException"}


def make_client(instance: ProviderInstance, environ: Mapping[str, str], service: str) -> Any:
    """A boto3 client for `service` from the instance's settings, with botocore retries off."""
    import boto3
    from botocore.config import Config

    settings = instance.settings
    # Keys given in the run's environment win; otherwise boto3's own chain (OIDC web identity,
    # profile, instance role) finds the credentials.
    session = boto3.session.Session(
        aws_access_key_id=environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=environ.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=environ.get("AWS_SESSION_TOKEN"),
        profile_name=None if environ.get("AWS_ACCESS_KEY_ID") else settings.get("profile"),
        region_name=settings.get("region") or environ.get("AWS_REGION") or "us-east-1",
    )
    # One retry loop (the engine's): botocore's own retries would multiply attempts.
    # (`max_attempts` counts retries after the first request; `total_max_attempts` counts all.)
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=10, read_timeout=30)
    return session.client(service, endpoint_url=settings.get("endpoint_url"), config=config)



class map_errors:
    """Map botocore errors to the engine's: NotFound, retryable, or plain."""

    def __init__(self, subject: str) -> None:
        self.subject = subject

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: object) -> None:
        if error is None:
            return
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", str(error))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _NOT_FOUND:
                raise NotFound(f"{self.subject}: {message}") from None
            retryable = code in _THROTTLING or status == 429 or status >= 500
            raise ProviderError(f"AWS {code}: {message}", retryable=retryable) from None
        if isinstance(error, (ConnectionError, ReadTimeoutError)):
            raise ProviderError(f"AWS unreachable: {error}", retryable=True) from None
        if isinstance(error, NoCredentialsError):
            raise ProviderError(
                "AWS credentials not found: in CI, configure OIDC "
                "(aws-actions/configure-aws-credentials); locally, set AWS_PROFILE or the "
                "AWS_* environment variables"
            ) from None
        if isinstance(error, BotoCoreError):
            raise ProviderError(f"AWS: {error}") from None
