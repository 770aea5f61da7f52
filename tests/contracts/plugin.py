"""Strict contract mode for the whole test suite.

Every emulator started under pytest checks each request it receives and each answer it gives
against its vendor's contract (`accessctl.emulators.http`); this plugin installs the contracts,
turns strict mode on, and fails the test during which a violation happened, naming each call.
Turning it off (`emulator.strict = False`, or `with emulator.lax():` for one block) is the only
way to let a violation pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from accessctl.emulators import http

from tests.contracts import gcp, github, gitlab, graph, okta, pagerduty


class ContractViolation(AssertionError):
    """Raised in the test whose calls broke a vendor's contract."""


def install() -> None:
    # `make test-lowest` runs with the oldest SDKs the bounds allow, whose models describe an
    # older API than the emulators speak (Graph's innerError.date, for one): there the contracts
    # would measure the SDK's age, not the emulators', so that job turns strict mode off.
    if os.environ.get("ACCESSCTL_CONTRACTS") == "off":
        return
    http.STRICT = True
    http.use_contract("github", github.contract)
    http.use_contract("okta", okta.contract)
    http.use_contract("gcp", gcp.contract)
    http.use_contract("graph", graph.contract)
    http.use_contract("gitlab", gitlab.contract)
    http.use_contract("pagerduty", pagerduty.contract)


def failure(found: list[str]) -> ContractViolation:
    shown = "\n".join(f"  {line}" for line in found[:20])
    more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
    return ContractViolation(
        f"{len(found)} call(s) outside the vendor's contract (strict contract mode; "
        f"tests/contracts/):\n{shown}{more}")


def pytest_configure(config: pytest.Config) -> None:
    install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    found = http.take_violations()
    if found:
        raise failure(found)
    return result


@pytest.fixture(autouse=True)
def _contract_violations_fail_the_test() -> Iterator[None]:
    # Set-up (before the call) and teardown calls, and violations of a test that failed anyway.
    found = http.take_violations()
    if found:
        raise failure(found)
    yield
    found = http.take_violations()
    if found:
        raise failure(found)
