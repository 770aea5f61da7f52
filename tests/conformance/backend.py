"""What a platform's test set-up gives the provider conformance suite.

Each module in `tests/conformance/backends/` defines `backend()`, a context manager that starts the
platform's test server (moto, an emulator, Samba) and yields an object of this shape. Everything the
suite checks goes through the provider (the SDK, over HTTP); the `*_out_of_band` methods reach the
server another way (its state, or the SDK directly) to set up and to check what really happened.
"""

from __future__ import annotations

from typing import Protocol

from accessctl.core.model import Target
from accessctl.providers.base import Provider


class Backend(Protocol):
    platform: str
    supports_faults: bool
    """True when the server can inject 429 and 5xx (emulators); moto and Samba cannot."""

    def provider(self) -> Provider:
        """A provider pointed at the test server, with fast retries."""
        ...

    def new_target(self) -> Target:
        """A fresh, empty target that exists on the server."""
        ...

    def missing_target(self) -> Target:
        """A target that does not exist on the server."""
        ...

    def new_principal(self) -> str:
        """A fresh principal that exists on the server, as identities.yaml would name it."""
        ...

    def missing_principal(self) -> str:
        """A principal that does not exist on the server."""
        ...

    def add_member_out_of_band(self, target: Target, principal: str) -> None: ...

    def members_out_of_band(self, target: Target) -> set[str]:
        """The principals holding the target, normalised with `principal_key`."""
        ...

    def page_size(self) -> int:
        """How many members one page of the platform's member listing holds on this server."""
        ...

    def inject(self, kinds: list[str]) -> None:
        """Make the next len(kinds) requests fail as `kinds` say ("429", "500", "503")."""
        ...

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        """The expiry the platform holds for the grant (RFC 3339), or None when it has none."""
        ...

    # Platforms whose names can change also define (the suite skips the rest):
    #
    # def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
    #     """Rename the principal on the platform, as its owner or an administrator would (to
    #     `new_name`, else a fresh name); the new name, as identities.yaml would write it."""
