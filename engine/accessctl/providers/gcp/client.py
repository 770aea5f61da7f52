"""The Google API clients of a GCP instance (Resource Manager and Cloud Identity, built on first
use over one authorized HTTP connection), the credentials they use, and the mapping of Google's
failures to the engine's errors. The Google API client is imported only when a GCP entitlement
is used."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from accessctl.core.model import Change, ProviderInstance
from accessctl.core.retry_after import retry_after
from accessctl.providers.base import NotFound, ProviderError

_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-identity.groups",
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class GcpClient:
    """The clients every part of the GCP provider calls."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._http: Any = None
        self._crm: Any = None
        self._identity: Any = None

    def _authorized_http(self) -> Any:
        if self._http is None:
            # Imported by name: neither ships type information.
            google_auth_httplib2 = importlib.import_module("google_auth_httplib2")
            httplib2 = importlib.import_module("httplib2")

            timeout = float(self.instance.settings.get("timeout_seconds", 30))
            self._http = google_auth_httplib2.AuthorizedHttp(
                _credentials(self.instance.settings), http=httplib2.Http(timeout=timeout)
            )
        return self._http

    def _build(self, name: str, version: str) -> Any:
        from googleapiclient.discovery import build

        endpoint = self.instance.settings.get("endpoint")
        options = {"api_endpoint": endpoint} if endpoint else None
        with errors(f"the {name} API"):
            return build(name, version, http=self._authorized_http(), client_options=options,
                         static_discovery=True, cache_discovery=False)

    @property
    def crm(self) -> Any:
        if self._crm is None:
            self._crm = self._build("cloudresourcemanager", "v3")
        return self._crm

    @property
    def identity(self) -> Any:
        if self._identity is None:
            self._identity = self._build("cloudidentity", "v1")
        return self._identity



def uses_anonymous_credentials(endpoint: str | None) -> bool:
    """Only a local test server is spoken to without credentials."""
    return bool(endpoint) and urlsplit(str(endpoint)).hostname in _LOCAL_HOSTS


def _credentials(settings: Mapping[str, Any]) -> Any:
    if uses_anonymous_credentials(settings.get("endpoint")):
        from google.auth import credentials as google_credentials

        anonymous: Any = google_credentials.AnonymousCredentials
        return anonymous()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        # ADC: GOOGLE_APPLICATION_CREDENTIALS (in GitHub Actions, the external-account config
        # google-github-actions/auth writes for Workload Identity Federation), gcloud, or the
        # metadata server. No key is ever read from the repository.
        credentials, _ = google.auth.default(scopes=list(_SCOPES))
    except DefaultCredentialsError as error:
        raise ProviderError(f"no Google credentials: {error}") from None
    quota_project = settings.get("quota_project")
    if quota_project and hasattr(credentials, "with_quota_project"):
        credentials = credentials.with_quota_project(quota_project)
    return credentials


def expiry_of(change: Change) -> datetime:
    """The change's expiry: every GCP grant has one (the provider's `grant` checks it)."""
    assert change.expires_at is not None
    return change.expires_at


class Refused(ProviderError):
    """A 4xx Google answered that is neither a retry nor a NotFound, with its status."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class EtagConflict(Exception):
    """setIamPolicy answered 409 ABORTED: someone wrote the policy since we read it."""


def _retry_after(value: str | None) -> float | None:
    return retry_after(value, datetime.now(UTC))


@contextmanager
def errors(subject: str, resource: str | None = None) -> Iterator[None]:
    """Map the client's errors to the engine's: NotFound, retryable, or plain."""
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    try:
        yield
    except HttpError as error:
        status = int(error.resp.status)
        try:
            body = json.loads(error.content or b"{}").get("error", {})
        except (ValueError, AttributeError):
            body = {}
        code = body.get("status", "") if isinstance(body, dict) else ""
        message = (body.get("message") if isinstance(body, dict) else None) or str(error)
        where = f"{subject} on {resource}" if resource else subject
        if status == 409 and code == "ABORTED":
            raise EtagConflict(message) from None
        if status == 429 or status >= 500:
            raise ProviderError(f"Google {status} {code}: {message}", retryable=True,
                                retry_after=_retry_after(error.resp.get("retry-after"))) from None
        if status == 404 or (status == 400 and "does not exist" in message):
            # IAM answers 400 "User x does not exist." for an unknown member.
            raise NotFound(f"{where}: {message}") from None
        hint = " (the resource may not exist, or the engine may lack permission)" \
            if status == 403 else ""
        raise Refused(f"{where}: Google {status} {code}: {message}{hint}", status,
                       message) from None
    except RefreshError as error:
        raise ProviderError(f"Google credentials refused: {error}") from None
    except (TransportError, importlib.import_module("httplib2").HttpLib2Error, OSError) as error:
        raise ProviderError(f"Google API unreachable: {error}", retryable=True) from None
