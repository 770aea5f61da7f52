"""Strict contract mode bites in every emulator, and turning it off is the only way past it.

For each emulator: a request on a path the vendor's contract does not have, a request body with a
field the contract does not name, and an answer with a status the contract does not declare are
each recorded as a violation naming the call; with strict mode off the same three calls pass.
The last test runs pytest on a small test file to show that a violation fails the test that
caused it (the plugin in tests/contracts/plugin.py), and that only strict mode off lets it pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from accessctl.emulators import http
from accessctl.emulators.gcp import GcpEmulator
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.http import Emulator, Faults
from accessctl.emulators.okta import OktaEmulator
from accessctl.emulators.pagerduty import PagerDutyEmulator

ROOT = Path(__file__).parents[1]


@dataclass
class Call:
    method: str
    path: str
    body: object = None


@dataclass
class Case:
    emulator: Emulator
    headers: dict[str, str]
    good: Call
    """A call the contract allows, answered 2xx (used for the undeclared status)."""
    wrong_path: Call
    wrong_field: Call
    field: str


def send(case: Case, call: Call) -> int:
    data = json.dumps(call.body).encode() if call.body is not None else None
    request = urllib.request.Request(case.emulator.base_url + call.path, data=data,
                                     method=call.method, headers={
                                         **case.headers, "Content-Type": "application/json"})
    context = None
    if isinstance(case.emulator, PagerDutyEmulator):  # HTTPS with its own certificate
        import ssl

        context = ssl.create_default_context(cafile=case.emulator.ca_file)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def github() -> Case:
    server = GitHubEmulator()
    server.start()
    server.add_user("alice")
    server.add_org("acme", members=["alice"], admins=["accessctl-admin"])
    server.add_team("acme", "ops")
    base = "/api/v3/orgs/acme/teams/ops/memberships/alice"
    return Case(server, {"Authorization": f"token {server.token}"},
                Call("GET", "/api/v3/orgs/acme/teams/ops/members"),
                Call("GET", "/api/v3/orgs/acme/teams/ops/memberz"),
                Call("PUT", base, {"rol": "member"}), "rol")


def gitlab() -> Case:
    server = GitLabEmulator()
    server.start()
    group = server.add_group("acme")
    user = server.add_user("alice")
    return Case(server, {"PRIVATE-TOKEN": server.token},
                Call("GET", f"/api/v4/groups/{group}/members"),
                Call("GET", f"/api/v4/groups/{group}/memberz"),
                Call("POST", f"/api/v4/groups/{group}/members",
                     {"user_id": user, "access_level": 30, "expires": "2030-01-01"}), "expires")


def okta() -> Case:
    server = OktaEmulator(token="t")
    server.start()
    user = server.add_user("alice@acme.example")
    group = server.add_group("ops")
    return Case(server, {"Authorization": "SSWS t"},
                Call("GET", f"/api/v1/groups/{group}/users"),
                Call("GET", f"/api/v1/groups/{group}/userz"),
                Call("POST", f"/api/v1/users/{user}/roles", {"type": "USER_ADMIN", "typo": 1}),
                "typo")


def graph() -> Case:
    server = GraphEmulator(token="t")
    server.start()
    user = server.add_user("alice@corp.example")
    group = server.add_group("ops")
    return Case(server, {"Authorization": "Bearer t"},
                Call("GET", f"/v1.0/groups/{group}/members"),
                Call("GET", f"/v1.0/groups/{group}/memberz"),
                Call("POST", f"/v1.0/groups/{group}/members/$ref",
                     {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{user}",
                      "memberId": user}), "memberId")


def gcp() -> Case:
    server = GcpEmulator()
    server.start()
    server.add_project("p1")
    return Case(server, {},
                Call("POST", "/v3/projects/p1:getIamPolicy", {}),
                Call("POST", "/v3/projects/p1:getIamPolicyz", {}),
                Call("POST", "/v3/projects/p1:getIamPolicy",
                     {"option": {"requestedPolicyVersion": 3}}), "option")


def pagerduty() -> Case:
    server = PagerDutyEmulator(token="t")
    server.start()
    # GET /oncalls takes no body: the wrong field is a query parameter the contract lacks.
    return Case(server, {"Authorization": "Token token=t"},
                Call("GET", "/oncalls"), Call("GET", "/oncall"),
                Call("GET", "/oncalls?schedule_idz%5B%5D=P1"), "schedule_idz")


CASES: dict[str, Callable[[], Case]] = {
    "github": github, "gitlab": gitlab, "okta": okta, "graph": graph, "gcp": gcp,
    "pagerduty": pagerduty}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    made = CASES[request.param]()
    try:
        yield made
    finally:
        made.emulator.stop()
        http.take_violations()  # this test's own violations are the point, not a failure


def test_every_emulator_has_a_contract_and_strict_mode_on(case: Case) -> None:
    assert case.emulator.strict
    assert case.emulator.contract is not None


def recorded(case: Case) -> list[str]:
    """The violations the emulator recorded, taken off the process-wide list too (the plugin
    would otherwise fail this test for them: it is their purpose here)."""
    assert http.take_violations() == case.emulator.violations
    return case.emulator.violations


def test_a_wrong_path_is_a_violation_naming_the_call(case: Case) -> None:
    send(case, case.wrong_path)
    found = recorded(case)
    assert found, "an unknown path passed"
    assert f"{case.wrong_path.method} {case.wrong_path.path}" in found[0]


def test_a_wrong_body_field_is_a_violation(case: Case) -> None:
    send(case, case.wrong_field)
    found = recorded(case)
    assert any(case.field in v for v in found), found


def test_an_undeclared_status_is_a_violation(case: Case) -> None:
    assert 200 <= send(case, case.good) < 300
    assert recorded(case) == []  # the good call is within the contract
    case.emulator.set_faults(Faults(script=["418"]))
    assert send(case, case.good) == 418
    found = recorded(case)
    assert any("418" in v for v in found), found


def test_with_strict_mode_off_the_same_calls_pass(case: Case) -> None:
    case.emulator.strict = False
    send(case, case.wrong_path)
    send(case, case.wrong_field)
    case.emulator.set_faults(Faults(script=["418"]))
    send(case, case.good)
    assert case.emulator.violations == []
    assert http.take_violations() == []


def test_a_violation_fails_the_test_that_caused_it_and_only_lax_lets_it_pass(
    tmp_path: Path
) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent("""
        import urllib.error
        import urllib.request

        from accessctl.emulators.github import GitHubEmulator


        def poke(server):
            request = urllib.request.Request(
                server.api + "/orgs/acme/no-such-endpoint",
                headers={"Authorization": f"token {server.token}"})
            try:
                urllib.request.urlopen(request, timeout=30).read()
            except urllib.error.HTTPError as error:
                assert error.code == 404


        def test_strict():
            with GitHubEmulator() as server:
                poke(server)  # the emulator answers 404 like GitHub: the test itself is happy


        def test_lax():
            with GitHubEmulator() as server:
                server.strict = False
                poke(server)
        """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "engine"), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-p", "tests.contracts.plugin", "-q", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    assert "FAILED test_inner.py::test_strict" in run.stdout
    assert "github: GET /api/v3/orgs/acme/no-such-endpoint -> 404" in run.stdout
