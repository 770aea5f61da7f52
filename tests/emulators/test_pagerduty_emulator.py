"""The PagerDuty emulator, driven through PagerDuty's own client library (`pagerduty`) over HTTP,
and checked against PagerDuty's published API description.

tests/contracts/pagerduty-rest-subset.json is the part of PagerDuty/api-schema
`reference/REST/openapiv3.json` (commit 91a06fb3c64b0ab2b2bd6c485d12b327dfb55c18, 2026-08-14)
that the engine uses: `GET /oncalls` with every component it refers to (cut by following its
`$ref`s, nothing edited). Every response the emulator gives during these tests is validated, at
the end of each test, against that contract's response schema for its path, method and status;
the last test proves that check bites. The engine's own client (approval/pagerduty.py) is tested
here too: who is on call at an instant, every page, 429, and failing closed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.approval.pagerduty import PagerDuty
from accessctl.core.model import PagerDutyOnCall
from accessctl.emulators.http import Faults
from accessctl.emulators.pagerduty import CONTRACT, ROUTES, LoggedResponse, PagerDutyEmulator

CONTRACT_FILE = Path(__file__).parents[1] / "contracts" / CONTRACT
TOKEN = "pd-test-token"
CONTRACT_HOST = "https://api.pagerduty.com"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Contract:
    def __init__(self) -> None:
        from openapi_core import OpenAPI

        self.spec = json.loads(CONTRACT_FILE.read_text())
        self.api = OpenAPI.from_dict(self.spec)

    def violations(self, response: LoggedResponse) -> list[str]:
        from openapi_core.testing import MockRequest, MockResponse

        # An injected fault is answered before routing: check it as an answer of /oncalls.
        method, path = (response.method or "GET"), (response.path or "/oncalls")
        where = f"{method} {path} -> {response.status}"
        try:
            self.api.validate_response(
                MockRequest(CONTRACT_HOST, method.lower(), path),
                MockResponse(json.dumps(response.body).encode(), status_code=response.status,
                             content_type="application/json"))
        except Exception as error:
            causes = getattr(error, "__cause__", None)
            detail = [str(e).splitlines()[0] for e in getattr(causes, "schema_errors", [])]
            return [f"{where}: {error} {detail}"]
        return []


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract()


@pytest.fixture
def emulator(contract: Contract) -> Iterator[PagerDutyEmulator]:
    server = PagerDutyEmulator(token=TOKEN)
    server.clock = lambda: T0
    server.start()
    try:
        yield server
    finally:
        server.stop()
    problems = [p for r in server.responses for p in contract.violations(r)]
    assert not problems, "responses outside PagerDuty's contract:\n" + "\n".join(problems)


def client(emulator: PagerDutyEmulator, token: str = TOKEN) -> Any:
    import ssl

    import pagerduty

    made = pagerduty.RestApiV2Client(token, base_url=emulator.base_url,
                                     verify=ssl.create_default_context(cafile=emulator.ca_file))
    made.sleep_timer = 0.05
    return made


def world(emulator: PagerDutyEmulator) -> None:
    """Primary schedule PSRE001 on policy PEP0001 level 1: alice until 12:00, bob after;
    secondary PSRE002 at level 2: carol all day; dave named directly at level 3."""
    for ident, name in (("PALICE1", "Alice"), ("PBOB001", "Bob"), ("PCAROL1", "Carol"),
                        ("PDAVE01", "Dave")):
        emulator.add_user(ident, name)
    emulator.add_escalation_policy("PEP0001", "Production")
    emulator.add_schedule("PSRE001", "Primary", "PEP0001", level=1)
    emulator.add_schedule("PSRE002", "Secondary", "PEP0001", level=2)
    emulator.add_shift("PSRE001", "PALICE1", T0 - timedelta(hours=9), T0 + timedelta(hours=3))
    emulator.add_shift("PSRE001", "PBOB001", T0 + timedelta(hours=3), T0 + timedelta(hours=15))
    emulator.add_shift("PSRE002", "PCAROL1", T0 - timedelta(hours=9), T0 + timedelta(hours=15))
    emulator.add_direct("PEP0001", "PDAVE01", level=3)


def test_oncalls_in_the_contract_are_the_only_routes(contract: Contract) -> None:
    declared = {(m.upper(), p) for p, ops in contract.spec["paths"].items() for m in ops}
    assert set(ROUTES) == declared == {("GET", "/oncalls")}
    assert contract.spec["info"]["title"] and contract.spec["servers"][0]["url"] == CONTRACT_HOST


def test_filters_by_schedule_and_time_as_the_description_says(
        emulator: PagerDutyEmulator) -> None:
    world(emulator)
    pd = client(emulator)
    at = T0 + timedelta(hours=1)
    params = {"schedule_ids[]": ["PSRE001"], "since": at.isoformat(), "until": at.isoformat()}
    [entry] = list(pd.iter_all("oncalls", params=params))
    assert entry["user"]["id"] == "PALICE1" and entry["schedule"]["id"] == "PSRE001"
    assert entry["escalation_level"] == 1
    later = {"schedule_ids[]": ["PSRE001"], "since": (T0 + timedelta(hours=5)).isoformat(),
             "until": (T0 + timedelta(hours=5)).isoformat()}
    assert [e["user"]["id"] for e in pd.iter_all("oncalls", params=later)] == ["PBOB001"]
    whole = {"escalation_policy_ids[]": ["PEP0001"], "since": at.isoformat(),
             "until": at.isoformat()}
    assert sorted(e["user"]["id"] for e in pd.iter_all("oncalls", params=whole)) == [
        "PALICE1", "PCAROL1", "PDAVE01"]
    # A range overlapping both of alice's and bob's shifts lists both.
    both = {"schedule_ids[]": ["PSRE001"], "since": T0.isoformat(),
            "until": (T0 + timedelta(hours=6)).isoformat()}
    assert [e["user"]["id"] for e in pd.iter_all("oncalls", params=both)] == [
        "PALICE1", "PBOB001"]


def test_pages_by_offset_and_limit_until_more_is_false(emulator: PagerDutyEmulator) -> None:
    emulator.add_escalation_policy("PEPBIG1", "Big")
    emulator.add_schedule("PBIG001", "Big", "PEPBIG1")
    for n in range(57):
        emulator.add_user(f"PU{n:05d}", f"Person {n}")
        emulator.add_shift("PBIG001", f"PU{n:05d}", T0 - timedelta(hours=1),
                           T0 + timedelta(hours=1))
    entries = list(client(emulator).iter_all(
        "oncalls", params={"schedule_ids[]": ["PBIG001"]}, page_size=25))
    assert [e["user"]["id"] for e in entries] == [f"PU{n:05d}" for n in range(57)]
    pages = [r for r in emulator.responses if r.status == 200]
    assert [(p.body["offset"], p.body["limit"], len(p.body["oncalls"]), p.body["more"])
            for p in pages] == [(0, 25, 25, True), (25, 25, 25, True), (50, 25, 7, False)]
    assert all(p.body["total"] is None for p in pages)


def test_a_429_is_retried_by_the_library_and_answered_as_pagerduty_does(
        emulator: PagerDutyEmulator) -> None:
    world(emulator)
    emulator.set_faults(Faults(script=["429"]))
    entries = list(client(emulator).iter_all("oncalls", params={"schedule_ids[]": ["PSRE002"]}))
    assert [e["user"]["id"] for e in entries] == ["PCAROL1"]
    assert [r.status for r in emulator.responses] == [429, 200]
    assert emulator.responses[0].body == {"error": {"message": "Rate Limit Exceeded",
                                                    "code": 2020}}


def test_a_wrong_token_is_a_401_and_a_backward_range_a_400(emulator: PagerDutyEmulator) -> None:
    import pagerduty

    with pytest.raises(pagerduty.Error):
        list(client(emulator, "not-the-token").iter_all("oncalls"))
    answer = client(emulator).get("/oncalls", params={
        "since": T0.isoformat(), "until": (T0 - timedelta(hours=1)).isoformat()})
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"] == ["Until cannot be before since"]
    assert [r.status for r in emulator.responses] == [401, 400]


# -- the engine's client (approval/pagerduty.py) -------------------------------------------------
def engine_client(emulator: PagerDutyEmulator, **extra: str) -> PagerDuty:
    return PagerDuty({"PAGERDUTY_TOKEN": TOKEN, "PAGERDUTY_API_URL": emulator.base_url,
                      "SSL_CERT_FILE": emulator.ca_file, **extra})


def test_the_engine_reads_who_was_on_call_at_an_instant(emulator: PagerDutyEmulator) -> None:
    world(emulator)
    pd = engine_client(emulator)
    primary = PagerDutyOnCall(schedule_ids=("PSRE001",))
    at_eleven = pd.on_call(primary, T0 + timedelta(hours=2))
    assert [str(u) for u in at_eleven.users] == ["Alice (PALICE1)"] and at_eleven.error is None
    # At the handover instant the shift that ends is over and the next one on.
    handover = pd.on_call(primary, T0 + timedelta(hours=3))
    assert [u.id for u in handover.users] == ["PBOB001"]
    policy = pd.on_call(PagerDutyOnCall(escalation_policy_ids=("PEP0001",)), T0)
    assert [u.id for u in policy.users] == ["PALICE1", "PCAROL1", "PDAVE01"]
    asked = len(emulator.responses)
    assert pd.on_call(primary, T0 + timedelta(hours=2)) == at_eleven
    assert len(emulator.responses) == asked, "one question per rule and merge time"


def test_the_engine_reports_an_unreachable_or_unauthorised_pagerduty_as_an_error(
        emulator: PagerDutyEmulator) -> None:
    world(emulator)
    where = PagerDutyOnCall(schedule_ids=("PSRE001",))
    refused = engine_client(emulator, PAGERDUTY_TOKEN="wrong").on_call(where, T0)
    assert refused.users == () and "401" in (refused.error or "")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}"
    down = PagerDuty({"PAGERDUTY_TOKEN": TOKEN, "PAGERDUTY_API_URL": closed}).on_call(where, T0)
    assert down.users == () and "PagerDuty unreachable" in (down.error or "")
    missing = PagerDuty({}).on_call(where, T0)
    assert "PAGERDUTY_TOKEN is not set" in (missing.error or "")


def test_the_contract_check_bites(contract: Contract) -> None:
    wrong = [
        LoggedResponse("GET", "/oncalls", 200, {"oncall": []}),  # the list's name misspelt
        LoggedResponse("GET", "/oncalls", 200, {"oncalls": [{"escalation_level": "one"}]}),
        LoggedResponse("GET", "/oncalls", 200, {"oncalls": [], "more": "no"}),
    ]
    for response in wrong:
        assert contract.violations(response), response
    assert not contract.violations(LoggedResponse("GET", "/oncalls", 200, {"oncalls": []}))
