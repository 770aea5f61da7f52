"""Okta group membership on the Okta emulator, the provider authenticated as an OAuth 2.0 service
app (`auth: private_key`): the okta backend once more, with Bearer access tokens from the
emulator's `/oauth2/v1/token`. The key pair is made when the backend starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance
from accessctl.emulators.okta import OktaEmulator, generate_key_pair
from accessctl.providers import okta

from tests.conformance.backends.okta import OktaBackend, running_emulator

KEY_ENV = "OKTA_CONFORMANCE_PRIVATE_KEY"


class OktaOAuthBackend(OktaBackend):
    def __init__(self, emulator: OktaEmulator) -> None:
        super().__init__(emulator)
        self.private_key, public_key = generate_key_pair("conformance-1")
        client_id = emulator.register_client(public_key, okta.DEFAULT_SCOPES)
        self.instance = ProviderInstance("okta-test", "okta", {
            "org_url": emulator.base_url, "auth": "private_key", "client_id": client_id,
            "private_key_env": KEY_ENV})

    def provider(self) -> okta.OktaProvider:
        return okta.create(self.instance, {KEY_ENV: self.private_key})


@contextmanager
def backend() -> Iterator[OktaOAuthBackend]:
    with running_emulator() as emulator:
        yield OktaOAuthBackend(emulator)
