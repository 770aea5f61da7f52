"""Cloud Identity group memberships with expiry on the GCP emulator, through the API client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.emulators.gcp import GcpEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import gcp

_ids = itertools.count()
PAGE = 4


class GcpIdentityBackend:
    platform = "gcp"
    supports_faults = True

    def __init__(self, emulator: GcpEmulator) -> None:
        self.emulator = emulator
        self.instance = ProviderInstance("gcp-test", "gcp", {"endpoint": emulator.base_url + "/"})

    def provider(self) -> gcp.GcpProvider:
        return gcp.create(self.instance, {})

    def new_target(self) -> Target:
        email = f"team-{next(_ids)}@example.com"
        self.emulator.add_group(email)
        return Target.build("gcp-test", "gcp", "group_membership", {"group": email})

    def missing_target(self) -> Target:
        return Target.build("gcp-test", "gcp", "group_membership",
                            {"group": "no-such-group@example.com"})

    def new_principal(self) -> str:
        return self.emulator.add_user(f"Member-{next(_ids)}@example.com")

    def missing_principal(self) -> str:
        return "nobody-here@example.com"

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.emulator.add_membership(target.param("group"), principal)

    def members_out_of_band(self, target: Target) -> set[str]:
        return {principal_key(m["preferredMemberKey"]["id"])
                for m in self.emulator.memberships(target.param("group"))}

    def page_size(self) -> int:
        return PAGE

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=1))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        for membership in self.emulator.memberships(target.param("group")):
            if membership["preferredMemberKey"]["id"] == principal.lower():
                for role in membership["roles"]:
                    if role["name"] == "MEMBER" and "expiryDetail" in role:
                        return str(role["expiryDetail"]["expireTime"])
        return None


@contextmanager
def backend() -> Iterator[GcpIdentityBackend]:
    emulator = GcpEmulator()
    emulator.max_page_size = PAGE  # a small cap, so that observe must follow nextPageToken
    emulator.start()
    try:
        yield GcpIdentityBackend(emulator)
    finally:
        emulator.stop()
