"""Every provider that reads Retry-After honours its HTTP-date form too (RFC 9110 10.2.3: a
number of seconds or an HTTP-date), through core/retry_after.py, the one reader.

Each platform's emulator answers the scripted fault as it always does, but with the
Retry-After it would send written as the HTTP-date that many seconds ahead; the provider's
error must carry about that many seconds for the engine's retry loop. The SDKs run over HTTP,
as everywhere; only the header's form differs (a subclass of the emulator, here in the tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import pytest
from accessctl.core.model import Target
from accessctl.emulators.gcp import GcpEmulator
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.http import Emulator, Faults, Response
from accessctl.emulators.okta import OktaEmulator
from accessctl.providers.base import ProviderError
from accessctl.providers.okta.responses import seconds_to_reset

from tests.conformance.backends import entra as entra_backend
from tests.conformance.backends import gcp as gcp_backend
from tests.conformance.backends import github as github_backend
from tests.conformance.backends import gitlab as gitlab_backend
from tests.conformance.backends import okta as okta_backend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WAIT = 30
"""Seconds the emulator asks for; an HTTP-date has whole seconds, so the provider reads a
little less than this, never more."""

E = TypeVar("E", bound=Emulator)


def dated(emulator: type[E], drop: tuple[str, ...] = (), add_to: str = "") -> type[E]:
    """`emulator`, whose fault answers carry Retry-After as an HTTP-date `WAIT` seconds ahead
    (added to the `add_to` fault where the platform's own answer has none), without the
    headers in `drop` (so that nothing else says how long to wait)."""

    class Dated(emulator):  # type: ignore[valid-type,misc]
        def fault_response(self, kind: str) -> Response:
            response: Response = super().fault_response(kind)
            named = {name.lower(): name for name in response.headers}
            if "retry-after" in named or kind == add_to:
                response.headers.pop(named.get("retry-after", ""), None)
                for gone in drop:
                    response.headers.pop(named.get(gone.lower(), ""), None)
                when = datetime.now(UTC) + timedelta(seconds=WAIT)
                response.headers["Retry-After"] = format_datetime(when, usegmt=True)
            return response

    return Dated


def asked(error: ProviderError) -> float:
    assert error.retryable, error
    assert error.retry_after is not None, f"no wait read from an HTTP-date: {error}"
    return error.retry_after


def observe_fault(emulator: Emulator, provider: Any, target: Target, kind: str) -> float:
    emulator.set_faults(Faults(script=[kind], retry_after=WAIT))
    with pytest.raises(ProviderError) as raised:
        provider.observe([target])
    return asked(raised.value)


@pytest.fixture
def okta_checks_https_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(okta_backend.HTTPS_CHECK_OFF, "true")  # the SDK reads the environment
    yield


def test_entra_reads_an_http_date_retry_after() -> None:
    with dated(GraphEmulator)(token=entra_backend.TOKEN) as emulator:
        backend = entra_backend.EntraBackend(emulator, "group")
        try:
            wait = observe_fault(emulator, backend.provider(), backend.new_target(), "429")
        finally:
            backend.close()
    assert WAIT - 5 < wait <= WAIT


@pytest.mark.usefixtures("okta_checks_https_off")
def test_okta_reads_an_http_date_retry_after_on_a_server_error() -> None:
    # Okta's 429 says when its window resets (X-Rate-Limit-Reset); Retry-After is what a 5xx
    # (or a 429 without the reset) may carry.
    with dated(OktaEmulator, add_to="503")(token=okta_backend.TOKEN) as emulator:
        backend = okta_backend.OktaBackend(emulator)
        wait = observe_fault(emulator, backend.provider(), backend.new_target(), "503")
    assert WAIT - 5 < wait <= WAIT


@pytest.mark.usefixtures("okta_checks_https_off")
def test_okta_reads_an_http_date_retry_after_on_a_429_without_a_reset() -> None:
    emulator_type = dated(OktaEmulator, drop=("X-Rate-Limit-Reset",), add_to="429")
    with emulator_type(token=okta_backend.TOKEN) as emulator:
        backend = okta_backend.OktaBackend(emulator)
        wait = observe_fault(emulator, backend.provider(), backend.new_target(), "429")
    assert WAIT - 5 < wait <= WAIT


def test_okta_measures_the_reset_against_the_servers_http_date() -> None:
    """A reset an hour behind the local clock, as a server an hour behind sends it with its
    `Date`: still `WAIT` seconds (and the second of granularity) away."""
    server_now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    headers = {"X-Rate-Limit-Reset": str(int(server_now.timestamp()) + WAIT),
               "Date": format_datetime(server_now, usegmt=True)}
    assert seconds_to_reset(headers) == WAIT + 1.0


def test_gcp_reads_an_http_date_retry_after() -> None:
    with dated(GcpEmulator)() as emulator:
        backend = gcp_backend.GcpIamBackend(emulator)
        wait = observe_fault(emulator, backend.provider(), backend.new_target(), "429")
    assert WAIT - 5 < wait <= WAIT


@pytest.mark.parametrize("kind", ["429", "403-secondary"])
def test_github_reads_an_http_date_retry_after(kind: str) -> None:
    with dated(GitHubEmulator)() as emulator:
        backend = github_backend.GitHubTeamBackend(emulator)
        wait = observe_fault(emulator, backend.provider(), backend.new_target(), kind)
    assert WAIT - 5 < wait <= WAIT


def test_gitlab_reads_an_http_date_retry_after() -> None:
    with dated(GitLabEmulator, drop=("RateLimit-Reset",))() as emulator:
        backend = gitlab_backend.GitLabBackend(emulator)
        wait = observe_fault(emulator, backend.provider(), backend.new_target(), "429")
    assert WAIT - 5 < wait <= WAIT
