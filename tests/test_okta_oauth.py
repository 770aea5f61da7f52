"""The Okta provider as an OAuth 2.0 service app (`auth: private_key`), through the real SDK over
HTTP to the emulator's `/oauth2/v1/token`: what the SDK sends, one token reused across calls and
threads, renewal, and a clear error for each credential mistake. Keys are made per test."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from accessctl import schemas
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.okta import JWT_BEARER, TOKEN_PATH, OktaEmulator, generate_key_pair
from accessctl.providers import okta
from accessctl.providers.base import ProviderError
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jsonschema import Draft202012Validator
from jwt.algorithms import RSAAlgorithm

SCOPES = ["okta.groups.manage", "okta.users.read"]
KEY_ENV = "OKTA_PRIVATE_KEY"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaEmulator]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    server = OktaEmulator(token="unused-ssws-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys() -> tuple[str, dict[str, Any]]:
    return generate_key_pair("jit-1")


@pytest.fixture
def app(emulator: OktaEmulator, keys: tuple[str, dict[str, Any]]) -> str:
    """A service app with the public key registered and the two scopes granted."""
    return emulator.register_client(keys[1], SCOPES)


def make(emulator: OktaEmulator, client_id: str, private_key: str | None, **settings: Any
         ) -> okta.OktaProvider:
    env = {} if private_key is None else {settings.get("private_key_env", KEY_ENV): private_key}
    instance = ProviderInstance("okta-main", "okta", {
        "org_url": emulator.base_url, "auth": "private_key", "client_id": client_id, **settings})
    return okta.create(instance, env)


def target(group: str) -> Target:
    return Target.build("okta-main", "okta", "group", {"group": group})


def change(action: Action, group: str, login: str) -> Change:
    return Change(action, target(group), login, "okta-jit", "test", "alice",
                  datetime.now(UTC) + timedelta(hours=2))


def api_requests(emulator: OktaEmulator) -> list[str]:
    return [f"{e.method} {e.path}" for e in emulator.log if e.path.startswith("/api/")]


# -- settings --------------------------------------------------------------------------------------
def test_settings_schema_needs_a_client_id_for_private_key_auth() -> None:
    Draft202012Validator.check_schema(dict(okta.SETTINGS_SCHEMA))
    org = {"org_url": "https://acme.okta.com"}
    for checker in (Draft202012Validator(dict(okta.SETTINGS_SCHEMA)),):
        assert checker.is_valid(org)  # api_token stays the default
        assert checker.is_valid({**org, "auth": "private_key", "client_id": "0oa1service"})
        assert not checker.is_valid({**org, "auth": "private_key"})
        assert not checker.is_valid({**org, "auth": "client_secret", "client_id": "0oa1"})
        assert not checker.is_valid({**org, "auth": "private_key", "client_id": "0oa1",
                                     "private_key": "-----BEGIN PRIVATE KEY-----"})
        assert not checker.is_valid({**org, "auth": "private_key", "client_id": "0oa1",
                                     "scopes": ["okta.users.read", "okta.users.read"]})
    # The engine's own checker (policies/providers.yaml goes through it) says the same.
    assert schemas.errors_for(okta.SETTINGS_SCHEMA, {**org, "auth": "private_key"})
    assert not schemas.errors_for(okta.SETTINGS_SCHEMA, {
        **org, "auth": "private_key", "client_id": "0oa1service", "scopes": SCOPES,
        "private_key_env": "OKTA_JIT_KEY", "key_id": "jit-1"})


# -- the happy path --------------------------------------------------------------------------------
def test_grant_observe_revoke_with_a_service_app(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    emulator.add_user("ann@acme.example")
    provider = make(emulator, app, keys[0])
    try:
        assert provider.grant(change(Action.GRANT, group, "ann@acme.example")).status is Status.DONE
        assert provider.observe([target(group)]) == {target(group): {"ann@acme.example"}}
        assert provider.revoke(change(Action.REVOKE, group, "ann@acme.example")
                               ).status is Status.DONE
        assert emulator.member_logins(group) == set()
    finally:
        provider.close()
    assert emulator.token_requests() == 1
    authorizations = {e.headers.get("authorization", "").split(" ")[0]
                      for e in emulator.log if e.path.startswith("/api/")}
    assert authorizations == {"Bearer"}


def test_the_token_request_is_what_okta_documents(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    provider = make(emulator, app, keys[0], key_id="jit-1")  # PEM carries no kid of its own
    provider.observe([target(group)])
    provider.close()
    sent = next(e for e in emulator.log if e.path == TOKEN_PATH)
    assert sent.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
    assert form["grant_type"] == "client_credentials"
    assert form["client_assertion_type"] == JWT_BEARER
    assert form["scope"].split() == SCOPES
    header = jwt.get_unverified_header(form["client_assertion"])
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert header["alg"] == "RS256" and header["kid"] == "jit-1"
    assert claims["iss"] == claims["sub"] == app
    assert claims["aud"] == emulator.base_url + TOKEN_PATH
    assert 0 < claims["exp"] - time.time() <= 3600 and claims["jti"]
    assert "dpop" not in sent.headers  # the SDK sends DPoP proofs only when told to


def test_a_jwk_private_key_and_its_kid_pick_the_right_registered_key(
    emulator: OktaEmulator,
) -> None:
    old_pem, old_public = generate_key_pair("jit-old")
    new_pem, new_public = generate_key_pair("jit-new")
    # Key rotation: both public keys registered, the engine signs with the new one.
    client_id = emulator.register_client([old_public, new_public], SCOPES)
    private_jwk = json.loads(RSAAlgorithm.to_jwk(load_pem_private_key(new_pem.encode(), None)))
    private_jwk["kid"] = "jit-new"
    group = emulator.add_group("ops")
    provider = make(emulator, client_id, json.dumps(private_jwk))
    assert provider.observe([target(group)]) == {target(group): frozenset()}
    provider.close()
    # An explicit key_id wins over the JWK's own kid; a wrong one is refused by name.
    wrong = make(emulator, client_id, json.dumps(private_jwk), key_id="jit-old")
    with pytest.raises(ProviderError, match="jit-old") as raised:
        wrong.observe([target(group)])
    wrong.close()
    assert not raised.value.retryable
    assert old_pem != new_pem


# -- one token for many calls ----------------------------------------------------------------------
def test_one_token_serves_many_calls_from_eight_threads(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    groups = [emulator.add_group(f"g{i}") for i in range(16)]
    for i, group in enumerate(groups):
        emulator.add_member(group, emulator.add_user(f"p{i}@acme.example"))
    provider = make(emulator, app, keys[0])
    try:
        # Sixteen observes and their group look-ups at once on a fresh provider: every thread's
        # first call finds no token yet. The SDK's token lock makes one request for all.
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda g: provider.observe([target(g)]), groups))
        for i in range(16):
            grant = change(Action.GRANT, groups[i], f"p{(i + 1) % 16}@acme.example")
            assert provider.grant(grant).status is Status.DONE
    finally:
        provider.close()
    assert [len(r[target(g)]) for r, g in zip(results, groups, strict=True)] == [1] * 16
    assert len(api_requests(emulator)) == 48  # 16 group look-ups, 16 listings, 16 writes
    assert emulator.token_requests() == 1


# -- renewal ---------------------------------------------------------------------------------------
def test_a_token_okta_no_longer_accepts_is_replaced_once(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    groups = [emulator.add_group(f"g{i}") for i in range(8)]
    provider = make(emulator, app, keys[0])
    try:
        provider.observe([target(groups[0])])
        emulator.expire_tokens()  # revoked, or the org's clock is ahead of ours
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda g: provider.observe([target(g)]), groups))
    finally:
        provider.close()
    refused = [e for e in emulator.log if e.status == 401]
    assert 1 <= len(refused) <= 8  # the calls in flight with the old token
    assert emulator.token_requests() == 2


def test_a_token_near_its_expiry_is_renewed_before_it_is_sent(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    # The SDK renews TOKEN_RENEWAL_MINUTES before expiry: this token is due after ~1 second.
    emulator.token_lifetime = okta.TOKEN_RENEWAL_MINUTES * 60 + 1
    provider = make(emulator, app, keys[0])
    try:
        provider.observe([target(group)])
        assert emulator.token_requests() == 1
        time.sleep(2.1)
        emulator.token_lifetime = 3600
        provider.observe([target(group)])
        provider.observe([target(group)])
    finally:
        provider.close()
    assert emulator.token_requests() == 2
    assert all(e.status < 400 for e in emulator.log)  # renewed before, never refused


def test_a_token_that_is_refused_even_when_fresh_is_a_plain_error(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    emulator.token_lifetime = -1  # every token is dead on arrival
    provider = make(emulator, app, keys[0])
    # `expires_in: -1` is outside the contract on purpose: a token refused even when fresh.
    with emulator.lax(), pytest.raises(ProviderError, match="E0000011") as raised:
        provider.observe([target(group)])
    provider.close()
    assert not raised.value.retryable and "fresh access token" in str(raised.value)
    assert emulator.token_requests() == 2  # one renewal, not a loop


# -- credential mistakes: each a clear, non-retryable error --------------------------------------
def test_a_key_the_app_does_not_know_names_the_variable_and_the_client(
    emulator: OktaEmulator, app: str
) -> None:
    group = emulator.add_group("ops")
    other_pem, _ = generate_key_pair("jit-1")  # same kid, different key
    provider = make(emulator, app, other_pem)
    with pytest.raises(ProviderError) as raised:
        provider.observe([target(group)])
    provider.close()
    message = str(raised.value)
    assert not raised.value.retryable
    assert "invalid_client" in message and "signature" in message
    assert KEY_ENV in message and app in message and "public key" in message
    assert api_requests(emulator) == []


def test_an_unknown_client_id_says_to_check_client_id(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    provider = make(emulator, "0oanosuchapp00000000", keys[0])
    with pytest.raises(ProviderError) as raised:
        provider.observe([target(group)])
    provider.close()
    assert not raised.value.retryable
    assert "`client_id`" in str(raised.value) and "0oanosuchapp00000000" in str(raised.value)
    assert api_requests(emulator) == []


def test_a_scope_not_granted_to_the_app_says_to_grant_it(
    emulator: OktaEmulator, keys: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(keys[1], ["okta.groups.manage"])
    group = emulator.add_group("ops")
    provider = make(emulator, client_id, keys[0])
    with pytest.raises(ProviderError) as raised:
        provider.observe([target(group)])
    provider.close()
    message = str(raised.value)
    assert not raised.value.retryable
    assert "invalid_scope" in message and "okta.users.read" in message and "grant" in message
    assert api_requests(emulator) == []


def test_a_scope_missing_from_the_settings_is_named_on_the_call_that_needs_it(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    emulator.add_user("bo@acme.example")
    provider = make(emulator, app, keys[0], scopes=["okta.groups.manage"])
    assert provider.observe([target(group)]) == {target(group): frozenset()}  # groups: fine
    with pytest.raises(ProviderError) as raised:
        provider.grant(change(Action.GRANT, group, "bo@acme.example"))  # resolving the login
    provider.close()
    message = str(raised.value)
    assert not raised.value.retryable
    assert "403" in message and "okta.users.read" in message and "`scopes`" in message
    assert emulator.member_logins(group) == set()


def test_an_app_that_requires_dpop_says_which_setting_to_clear(
    emulator: OktaEmulator, keys: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(keys[1], SCOPES, dpop_required=True)
    provider = make(emulator, client_id, keys[0])
    with pytest.raises(ProviderError, match="Require Demonstrating Proof of Possession") as raised:
        provider.observe([target(emulator.add_group("ops"))])
    provider.close()
    assert not raised.value.retryable and "invalid_dpop_proof" in str(raised.value)
    assert api_requests(emulator) == []


@pytest.mark.parametrize("value", [None, "", "not a key", '{"kty": "RSA"', "-----BEGIN junk"])
def test_a_missing_or_unparsable_key_names_the_variable_and_sends_nothing(
    emulator: OktaEmulator, app: str, value: str | None
) -> None:
    provider = make(emulator, app, value, private_key_env="OKTA_JIT_KEY")
    with pytest.raises(ProviderError, match="OKTA_JIT_KEY") as raised:
        provider.observe([target("00gsomething")])
    provider.close()
    assert not raised.value.retryable
    if value:
        assert value not in str(raised.value).replace("OKTA_JIT_KEY", "")
    assert emulator.log == []


def test_a_public_key_in_the_variable_is_called_one(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    provider = make(emulator, app, json.dumps(keys[1]))
    with pytest.raises(ProviderError, match=f"{KEY_ENV} holds a public key"):
        provider.observe([target("00gsomething")])
    provider.close()
    assert emulator.log == []


def test_api_token_settings_are_ignored_and_the_token_never_sent_in_private_key_mode(
    emulator: OktaEmulator, app: str, keys: tuple[str, dict[str, Any]]
) -> None:
    group = emulator.add_group("ops")
    instance = ProviderInstance("okta-main", "okta", {
        "org_url": emulator.base_url, "auth": "private_key", "client_id": app})
    provider = okta.create(instance, {KEY_ENV: keys[0], "OKTA_API_TOKEN": emulator.token})
    provider.observe([target(group)])
    provider.close()
    assert not any("SSWS" in e.headers.get("authorization", "") for e in emulator.log)


# -- DPoP ------------------------------------------------------------------------------------------
def test_dpop_binds_the_token_to_the_engines_key(
    emulator: OktaEmulator, keys: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(keys[1], SCOPES, dpop_required=True)
    groups = [emulator.add_group(f"g{i}") for i in range(8)]
    emulator.add_user("cy@acme.example")
    provider = make(emulator, client_id, keys[0], dpop=True)
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda g: provider.observe([target(g)]), groups))
        assert provider.grant(change(Action.GRANT, groups[0], "cy@acme.example")
                              ).status is Status.DONE
        assert provider.revoke(change(Action.REVOKE, groups[0], "cy@acme.example")
                               ).status is Status.DONE
    finally:
        provider.close()
    # One token: the first request meets Okta's nonce challenge, the second gets the token.
    assert [e.status for e in emulator.log if e.path == TOKEN_PATH] == [400, 200]
    api = [e for e in emulator.log if e.path.startswith("/api/")]
    assert api and all(e.status < 400 for e in api)
    assert all(e.headers["authorization"].startswith("DPoP ") and e.headers.get("dpop")
               for e in api)
    (token,) = emulator.access_tokens.values()
    assert token.jkt is not None


def test_a_dpop_token_without_its_proof_is_refused(
    emulator: OktaEmulator, keys: tuple[str, dict[str, Any]]
) -> None:
    import urllib.error
    import urllib.request

    client_id = emulator.register_client(keys[1], SCOPES, dpop_required=True)
    group = emulator.add_group("ops")
    provider = make(emulator, client_id, keys[0], dpop=True)
    provider.observe([target(group)])
    provider.close()
    (token,) = emulator.access_tokens
    for scheme in ("DPoP", "Bearer"):  # a stolen token, without the key that proves it
        request = urllib.request.Request(f"{emulator.base_url}/api/v1/groups/{group}")
        request.add_header("Authorization", f"{scheme} {token}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
