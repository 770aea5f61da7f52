"""The one small interface every platform implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from accessctl.core.model import Change, Outcome, ProviderInstance, Target, principal_key


class ProviderError(Exception):
    """A platform call failed; `retryable` says whether trying again may help (429, 5xx, ...)."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class NotFound(ProviderError):
    """The principal or the target does not exist on the platform."""


class Provider(Protocol):
    """A platform instance the engine grants on.

    Every method is idempotent: granting what is already there, or revoking what is already gone,
    is an `UNCHANGED` outcome, never an error.
    """

    instance: ProviderInstance

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        """The principals that hold each target now (normalised with `principal_key`)."""
        ...

    def grant(self, change: Change) -> Outcome:
        """Give `change.principal` the target, with the platform's own expiry where it has one."""
        ...

    def revoke(self, change: Change) -> Outcome:
        """Take the target away from `change.principal`."""
        ...

    def native_expiry(self, target: Target) -> bool:
        """Whether the platform itself removes a grant on this target at its `expires_at`."""
        ...


class KnowsIds(Protocol):
    """What a provider adds where its platform gives people immutable ids (all but GCP).

    Names change and are re-used; ids do not (change/holders.py). Such a provider:
    - answers `member_ids` from what its last `observe` of the target read (no request);
    - reports in each grant's `Outcome.principal_id` the id the name resolved to when it granted;
    - revokes by `Change.principal_id` when it is given: that id, never the name, is removed
      (resolving it to the name the platform knows it by now where the API removes by name).
    """

    def member_ids(self, target: Target) -> Mapping[str, str]:
        """Principal key -> immutable id of the holders of `target`, as the last observe of it
        read them."""
        ...


class ProviderModule(Protocol):
    """What each `accessctl.providers.<platform>` module exposes, importable without its SDK."""

    PLATFORM: str
    SETTINGS_SCHEMA: Mapping[str, Any]
    TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]]
    PERMISSIONS: str

    def create(self, instance: ProviderInstance, environ: Mapping[str, str]) -> Provider: ...

__all__ = ["KnowsIds", "NotFound", "Provider", "ProviderError", "principal_key"]
