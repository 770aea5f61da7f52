"""Okta group membership on the Okta emulator, reached over HTTP through the okta SDK."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.emulators.http import Faults
from accessctl.emulators.okta import OktaEmulator
from accessctl.providers import okta

_ids = itertools.count()
TOKEN = "conformance-okta-token"
# The SDK refuses a plain-http org URL unless this is set in the process environment.
HTTPS_CHECK_OFF = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"


class OktaBackend:
    platform = "okta"
    supports_faults = True

    def __init__(self, emulator: OktaEmulator) -> None:
        self.emulator = emulator
        self.instance = ProviderInstance(
            "okta-test", "okta", {"org_url": emulator.base_url, "token_env": "OKTA_TEST_TOKEN"}
        )

    def provider(self) -> okta.OktaProvider:
        return okta.create(self.instance, {"OKTA_TEST_TOKEN": TOKEN})

    def new_target(self) -> Target:
        group_id = self.emulator.add_group(f"jit-group-{next(_ids)}")
        return Target.build("okta-test", "okta", "group", {"group": group_id})

    def missing_target(self) -> Target:
        return Target.build("okta-test", "okta", "group", {"group": "00gnosuchgroup000000"})

    def new_principal(self) -> str:
        login = f"Person.{next(_ids)}@acme.example"
        self.emulator.add_user(login)
        return login

    def missing_principal(self) -> str:
        return "nobody.here@acme.example"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Renamed.{next(_ids)}@acme.example"
        self.emulator.rename_user(principal, new_name)
        return new_name

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.emulator.add_member(target.param("group"), self.emulator.user_id(principal))

    def members_out_of_band(self, target: Target) -> set[str]:
        logins = self.emulator.member_logins(target.param("group"))
        return {principal_key(login) for login in logins}

    def page_size(self) -> int:
        return okta.DEFAULT_PAGE_SIZE  # the provider's `limit` per page of group members

    def inject(self, kinds: list[str]) -> None:
        self.emulator.set_faults(Faults(script=list(kinds), retry_after=1))

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # Okta's core API has no expiry on group membership


@contextmanager
def running_emulator() -> Iterator[OktaEmulator]:
    """An Okta emulator, with the SDK's https check off (it reads the process environment)."""
    previous = os.environ.get(HTTPS_CHECK_OFF)
    os.environ[HTTPS_CHECK_OFF] = "true"
    emulator = OktaEmulator(token=TOKEN)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
        if previous is None:
            os.environ.pop(HTTPS_CHECK_OFF, None)
        else:
            os.environ[HTTPS_CHECK_OFF] = previous


@contextmanager
def backend() -> Iterator[OktaBackend]:
    with running_emulator() as emulator:
        yield OktaBackend(emulator)
