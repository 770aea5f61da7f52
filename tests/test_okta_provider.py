"""The Okta provider's own behaviour beyond the conformance suite, through the SDK to the emulator:
group names, login resolution, rate limits, errors, and what it refuses to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.change.retry import RetryPolicy, call_with_retry
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.http import Faults
from accessctl.emulators.okta import OktaEmulator
from accessctl.providers import okta
from accessctl.providers.base import NotFound, ProviderError
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "provider-test-token"
ENV = {"OKTA_API_TOKEN": TOKEN}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaEmulator]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    server = OktaEmulator(token=TOKEN)
    server.start()
    yield server
    server.stop()


def make(emulator: OktaEmulator, env: dict[str, str] | None = None, **settings: Any
         ) -> okta.OktaProvider:
    instance = ProviderInstance("okta-main", "okta", {"org_url": emulator.base_url, **settings})
    return okta.create(instance, ENV if env is None else env)


def target(group: str) -> Target:
    return Target.build("okta-main", "okta", "group", {"group": group})


def change(action: Action, group: str, login: str) -> Change:
    return Change(action, target(group), login, "okta-support-admin", "test", "alice",
                  datetime.now(UTC) + timedelta(hours=2))


def test_schemas_are_valid_json_schema_with_descriptions() -> None:
    Draft202012Validator.check_schema(dict(okta.SETTINGS_SCHEMA))
    for schema in okta.TARGET_SCHEMAS.values():
        Draft202012Validator.check_schema(dict(schema))
    properties = {**okta.SETTINGS_SCHEMA["properties"],
                  **okta.TARGET_SCHEMAS["group"]["properties"]}
    assert all(p.get("description") and p.get("examples") for p in properties.values())
    checker = Draft202012Validator(dict(okta.SETTINGS_SCHEMA))
    assert checker.is_valid({"org_url": "https://acme.okta.com", "token_env": "OKTA_API_TOKEN"})
    assert not checker.is_valid({"org_url": "https://acme.okta.com", "token": "secret"})


def test_group_given_by_exact_name_is_resolved_once(emulator: OktaEmulator) -> None:
    name = 'Help Desk "Tier 2" \\ JIT'
    group = emulator.add_group(name)
    emulator.add_group("Help Desk")
    emulator.add_user("ann@acme.example")
    provider = make(emulator)

    assert provider.grant(change(Action.GRANT, name, "ann@acme.example")).status is Status.DONE
    assert provider.observe([target(name)]) == {target(name): frozenset({"ann@acme.example"})}
    assert emulator.member_logins(group) == {"ann@acme.example"}
    searches = [e.query for e in emulator.log if e.path == "/api/v1/groups"]
    assert len(searches) == 1 and "search=profile.name" in searches[0]  # resolved once


def test_group_names_are_matched_exactly(emulator: OktaEmulator) -> None:
    emulator.add_group("Ops")
    emulator.add_user("bo@acme.example")
    with pytest.raises(NotFound, match="'ops'"):
        make(emulator).grant(change(Action.GRANT, "ops", "bo@acme.example"))


def test_an_ambiguous_group_name_is_refused(emulator: OktaEmulator) -> None:
    first, second = emulator.add_group("Admins"), emulator.add_group("Admins")
    emulator.add_user("cy@acme.example")
    with pytest.raises(ProviderError) as raised:
        make(emulator).grant(change(Action.GRANT, "Admins", "cy@acme.example"))
    assert not raised.value.retryable
    assert first in str(raised.value) and second in str(raised.value)
    assert emulator.count("PUT") == 0


def test_users_are_resolved_by_login_once_per_provider(emulator: OktaEmulator) -> None:
    groups = [emulator.add_group("a"), emulator.add_group("b")]
    emulator.add_user("Dee.Kay@acme.example")
    provider = make(emulator)
    for group in groups:
        provider.grant(change(Action.GRANT, group, "dee.kay@acme.example"))
    lookups = [e.path for e in emulator.log if e.path.startswith("/api/v1/users/dee.kay")]
    assert lookups == ["/api/v1/users/dee.kay@acme.example"]  # yarl leaves `@` unescaped
    assert provider.observe([target(groups[0])])[target(groups[0])] == {"dee.kay@acme.example"}


def test_a_principal_that_is_not_the_full_login_is_not_found(emulator: OktaEmulator) -> None:
    group = emulator.add_group("ops")
    user_id = emulator.add_user("eve@acme.example")
    # Okta's GET /users/{x} also takes an id: it must not stand in for the login.
    with pytest.raises(NotFound) as raised:
        make(emulator).grant(change(Action.GRANT, group, user_id))
    assert user_id in str(raised.value) and "eve@acme.example" in str(raised.value)
    assert emulator.member_logins(group) == set()


def test_a_hostile_login_stays_inside_its_path_segment(emulator: OktaEmulator) -> None:
    group = emulator.add_group("ops")
    with pytest.raises(NotFound):
        make(emulator).grant(change(Action.GRANT, group, f"../groups/{group}/users"))
    paths = [entry.path for entry in emulator.log]
    assert f"/api/v1/users/..%2Fgroups%2F{group}%2Fusers" in paths
    assert all(not p.endswith("/users") or p == "/api/v1/users" for p in paths)


def test_revoke_of_an_unknown_user_is_unchanged_but_a_missing_group_is_not_found(
    emulator: OktaEmulator,
) -> None:
    group = emulator.add_group("ops")
    provider = make(emulator)
    outcome = provider.revoke(change(Action.REVOKE, group, "gone@acme.example"))
    assert outcome.status is Status.UNCHANGED
    emulator.add_user("fay@acme.example")
    with pytest.raises(NotFound):
        provider.revoke(change(Action.REVOKE, "00gnotagroup", "fay@acme.example"))


def test_groups_managed_by_an_app_are_refused(emulator: OktaEmulator) -> None:
    group = emulator.add_group("AD: Domain Admins", group_type="APP_GROUP")
    emulator.add_user("gil@acme.example")
    with pytest.raises(ProviderError, match="APP_GROUP") as raised:
        make(emulator).grant(change(Action.GRANT, group, "gil@acme.example"))
    assert not raised.value.retryable
    assert emulator.count("PUT") == 0


def test_observe_follows_the_cursor_page_by_page(emulator: OktaEmulator) -> None:
    group = emulator.add_group("big")
    logins = {f"p{i}@acme.example" for i in range(5)}
    for login in logins:
        emulator.add_member(group, emulator.add_user(login))
    observed = make(emulator, page_size=2).observe([target(group)])
    assert observed[target(group)] == frozenset(logins)
    pages = [e for e in emulator.log if e.path == f"/api/v1/groups/{group}/users"]
    assert [("after=" in e.query, "limit=2" in e.query) for e in pages] == [
        (False, True), (True, True), (True, True)]


def test_429_is_retryable_after_the_rate_limit_reset_and_the_sdk_does_not_retry(
    emulator: OktaEmulator,
) -> None:
    group = emulator.add_group("ops")
    emulator.set_faults(Faults(script=["429"], retry_after=5))
    with pytest.raises(ProviderError) as raised:
        make(emulator).observe([target(group)])
    assert raised.value.retryable
    assert raised.value.retry_after is not None and 4.0 <= raised.value.retry_after <= 7.0
    assert "E0000047" in str(raised.value)
    assert len(emulator.log) == 1  # the SDK's own rate-limit retry is off


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_retryable(emulator: OktaEmulator, kind: str) -> None:
    group = emulator.add_group("ops")
    emulator.set_faults(Faults(script=[kind]))
    with pytest.raises(ProviderError) as raised:
        make(emulator).observe([target(group)])
    assert raised.value.retryable and not isinstance(raised.value, NotFound)
    assert len(emulator.log) == 1


def test_a_spent_budget_makes_the_next_call_wait_for_the_reset(emulator: OktaEmulator) -> None:
    group = emulator.add_group("ops")
    emulator.add_user("hal@acme.example")
    emulator.set_rate_limit(3, window=1.0)
    provider = make(emulator)
    grant = change(Action.GRANT, group, "hal@acme.example")

    # get group, get user, list the user's groups: the third answer says 0 remaining.
    with pytest.raises(ProviderError) as raised:
        provider.grant(grant)
    assert raised.value.retryable and raised.value.retry_after is not None
    assert 0 < raised.value.retry_after <= 3.0
    assert emulator.count("PUT") == 0 and len(emulator.log) == 3  # no 429 was provoked

    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    outcome = call_with_retry(lambda: provider.grant(grant),
                              RetryPolicy(attempts=4, max_retry_after=3.0), sleep=sleep)
    assert outcome.status is Status.DONE
    assert emulator.member_logins(group) == {"hal@acme.example"}
    assert all(w > 0 for w in waits)


def test_a_wrong_token_is_a_plain_error_with_okta_code(emulator: OktaEmulator) -> None:
    group = emulator.add_group("ops")
    with pytest.raises(ProviderError, match="E0000011") as raised:
        make(emulator, env={"OKTA_API_TOKEN": "wrong"}).observe([target(group)])
    assert not raised.value.retryable


def test_token_comes_from_the_named_environment_variable(emulator: OktaEmulator) -> None:
    group = emulator.add_group("ops")
    with pytest.raises(ProviderError, match="OKTA_JIT_TOKEN"):
        make(emulator, env={"OKTA_API_TOKEN": TOKEN}, token_env="OKTA_JIT_TOKEN").observe(
            [target(group)])
    assert emulator.log == []
    named = make(emulator, env={"OKTA_JIT_TOKEN": TOKEN}, token_env="OKTA_JIT_TOKEN")
    assert named.observe([target(group)]) == {target(group): frozenset()}


def test_an_unreachable_org_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = ProviderInstance("okta-main", "okta", {"org_url": f"http://127.0.0.1:{port}"})
    with pytest.raises(ProviderError, match="unreachable") as raised:
        okta.create(instance, ENV).observe([target("00gsomething")])
    assert raised.value.retryable


def test_plain_http_is_refused_without_the_sdk_testing_switch(
    emulator: OktaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK")
    with pytest.raises(ProviderError, match="configuration") as raised:
        make(emulator).observe([target("00gsomething")])
    assert not raised.value.retryable
    assert emulator.log == []


def test_okta_yaml_in_the_working_directory_or_home_is_not_read(
        emulator: OktaEmulator, tmp_path: Path) -> None:
    """The SDK would merge okta.yaml from the working directory (the repository, in CI) and from
    ~/.okta into its settings: here both name a proxy that nobody listens on, which would carry
    the token and every call. The provider's client must go straight to the org URL."""
    group = emulator.add_group("VPN")
    emulator.add_member(group, emulator.add_user("ann@acme.example"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    proxy = f"okta:\n  client:\n    proxy:\n      host: 127.0.0.1\n      port: {port}\n"
    (tmp_path / "okta.yaml").write_text(proxy)
    (tmp_path / ".okta").mkdir()
    (tmp_path / ".okta" / "okta.yaml").write_text(proxy)
    script = (
        "import sys\n"
        "from accessctl.core.model import ProviderInstance, Target\n"
        "from accessctl.providers import okta\n"
        "instance = ProviderInstance('okta-main', 'okta', {'org_url': sys.argv[1]})\n"
        "provider = okta.create(instance, {'OKTA_API_TOKEN': sys.argv[2]})\n"
        "target = Target.build('okta-main', 'okta', 'group', {'group': 'VPN'})\n"
        "print(sorted(provider.observe([target])[target]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK": "true"}
    done = subprocess.run([sys.executable, "-c", script, emulator.base_url, TOKEN],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['ann@acme.example']"


def test_grants_look_people_up_in_bulk_then_write_once_each(emulator: OktaEmulator) -> None:
    """prepare() finds 90 users in ceil(90 / 40) filtered listings, so each grant is one write
    (and the membership check comes from observe, not a request); a login with a quote in it
    stays a literal, and a login Okta does not know is still reported by its own grant."""
    group = emulator.add_group("ops")
    logins = [f"u{n:02d}@acme.example" for n in range(89)] + ['o"brien@acme.example']
    for login in logins:
        emulator.add_user(login)
    provider = make(emulator)
    provider.observe([target(group)])
    changes = [change(Action.GRANT, group, login) for login in logins]
    emulator.reset_log()
    provider.prepare([*changes, change(Action.GRANT, group, "nobody@acme.example")])
    listings = [e for e in emulator.log if e.path == "/api/v1/users"]
    assert len(listings) == 3 and all(e.status == 200 for e in listings)
    emulator.reset_log()
    assert {provider.grant(c).status for c in changes} == {Status.DONE}
    assert [e.method for e in emulator.log] == ["PUT"] * 90
    assert emulator.member_logins(group) == set(logins)
    with pytest.raises(NotFound):
        provider.grant(change(Action.GRANT, group, "nobody@acme.example"))
    provider.close()
