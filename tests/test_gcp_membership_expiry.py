"""Cloud Identity membership expiry needs Cloud Identity Premium or Google Workspace Enterprise.

On another edition Google refuses a membership with an expiry, so a grant that insisted on one
would grant nothing. The provider falls back to a membership without expiry, says so in the
outcome (the revoke job ends it), and with `membership_expiry: false` does not try at all and
tells the plan that the revoke job ends these grants. Through google-api-python-client over HTTP
to the GCP emulator, which refuses the expiry like an account without Premium.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.gcp import GcpEmulator
from accessctl.providers import gcp
from accessctl.providers.base import ProviderError
from jsonschema import Draft202012Validator

GROUP = "prod-readers@example.com"


@pytest.fixture
def emulator() -> Iterator[GcpEmulator]:
    with GcpEmulator() as running:
        assert isinstance(running, GcpEmulator)
        running.add_group(GROUP)
        running.add_user("alice@example.com")
        running.add_user("bob@example.com")
        yield running


def make(emulator: GcpEmulator, **settings: Any) -> gcp.GcpProvider:
    instance = ProviderInstance("gcp-test", "gcp",
                                {"endpoint": emulator.base_url + "/", **settings})
    return gcp.create(instance, {})


def target() -> Target:
    return Target.build("gcp-test", "gcp", "group_membership", {"group": GROUP})


def change(principal: str, action: Action = Action.GRANT) -> Change:
    return Change(action, target(), principal, "gcp-prod-readers", "test", "alice",
                  datetime.now(UTC) + timedelta(hours=2))


def expiry_of(emulator: GcpEmulator, email: str) -> str | None:
    for membership in emulator.memberships(GROUP):
        if membership["preferredMemberKey"]["id"] == email:
            for role in membership["roles"]:
                if role["name"] == "MEMBER":
                    return role.get("expiryDetail", {}).get("expireTime")
    raise AssertionError(f"{email} is not a member")


def test_premium_sets_the_expiry(emulator: GcpEmulator) -> None:
    outcome = make(emulator).grant(change("alice@example.com"))
    assert outcome.status is Status.DONE and outcome.native_expiry_set
    assert expiry_of(emulator, "alice@example.com") is not None


def test_without_premium_the_grant_falls_back_to_the_revoke_job_with_a_notice(
        emulator: GcpEmulator) -> None:
    emulator.membership_expiry = False
    provider = make(emulator)
    outcome = provider.grant(change("alice@example.com"))
    assert outcome.status is Status.DONE, outcome.detail
    assert not outcome.native_expiry_set
    assert "Cloud Identity Premium" in outcome.detail and "revoke job" in outcome.detail
    assert expiry_of(emulator, "alice@example.com") is None
    # Learnt once per run: the next grant does not try the expiry again, and the plan is told.
    refusals = len([r for r in emulator.responses if r.status == 400])
    assert provider.grant(change("bob@example.com")).status is Status.DONE
    assert len([r for r in emulator.responses if r.status == 400]) == refusals
    assert not provider.native_expiry(target())
    # The revoke job ends it.
    assert provider.revoke(change("alice@example.com", Action.REVOKE)).status is Status.DONE
    assert {m["preferredMemberKey"]["id"] for m in emulator.memberships(GROUP)} == {
        "bob@example.com"}


def test_membership_expiry_false_never_asks_and_plans_for_the_revoke_job(
        emulator: GcpEmulator) -> None:
    emulator.membership_expiry = False
    provider = make(emulator, membership_expiry=False)
    assert not provider.native_expiry(target())
    outcome = provider.grant(change("alice@example.com"))
    assert outcome.status is Status.DONE and not outcome.native_expiry_set
    assert "membership_expiry: false" in outcome.detail
    # The look-up for an existing membership answers 404; no write was refused.
    assert not [r for r in emulator.responses if r.status >= 400 and r.method != "GET"]


def test_other_refusals_are_not_taken_for_the_edition(emulator: GcpEmulator) -> None:
    with pytest.raises(ProviderError):
        make(emulator).grant(change("nobody@example.com"))  # 404 on create: not the licence


def test_the_setting_is_in_the_schema() -> None:
    schema = Draft202012Validator(dict(gcp.SETTINGS_SCHEMA))
    assert schema.is_valid({"membership_expiry": False})
    assert not schema.is_valid({"membership_expiry": "sometimes"})
