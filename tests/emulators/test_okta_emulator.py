"""The Okta emulator, driven through the okta SDK over HTTP, and checked against Okta's contract.

Every response the emulator gives during these tests is validated, at the end of each test, against
the response schema of tests/contracts/okta-management-subset.json for its path, method and status
(undeclared error statuses against the `Error` schema). The last tests prove that check bites.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulators.http import Faults
from emulators.okta import LoggedResponse, OktaEmulator

CONTRACT_FILE = Path(__file__).parents[1] / "contracts" / "okta-management-subset.json"
TOKEN = "test-okta-token"
CONTRACT_HOST = "https://subdomain.okta.com"  # the contract's server; only paths are compared

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Contract:
    """Okta's published response schemas, checked with openapi-core."""

    def __init__(self) -> None:
        from openapi_core import OpenAPI
        from openapi_schema_validator import OAS30Validator

        spec = json.loads(CONTRACT_FILE.read_text())
        self.api = OpenAPI.from_dict(spec)
        self.error = OAS30Validator(
            {"$ref": "#/components/schemas/Error", "components": spec["components"]}
        )

    def violations(self, response: LoggedResponse) -> list[str]:
        where = f"{response.method} {response.path} -> {response.status}"
        problems = self._shape_violations(where, response) if response.status >= 400 else []
        return problems + self._contract_violations(where, response)

    def _contract_violations(self, where: str, response: LoggedResponse) -> list[str]:
        from openapi_core.templating.paths.exceptions import PathNotFound
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from openapi_core.testing import MockRequest, MockResponse

        if response.status == 204:
            return [] if response.body is None else [f"{where}: a 204 carries a body"]
        if response.path is None or response.method is None:
            return self._error_violations(where, response)  # an injected fault
        try:
            self.api.validate_response(
                MockRequest(CONTRACT_HOST, response.method.lower(), response.path),
                MockResponse(json.dumps(response.body).encode(), status_code=response.status,
                             content_type="application/json"),
            )
        except (ResponseNotFound, PathNotFound):
            if response.status >= 400:
                return self._error_violations(where, response)
            return [f"{where}: not a response the contract declares"]
        except Exception as error:  # openapi-core's validation errors, with their causes
            causes = getattr(error, "__cause__", None)
            detail = [str(e).splitlines()[0] for e in getattr(causes, "schema_errors", [])]
            return [f"{where}: {error} {detail}"]
        return []

    def _error_violations(self, where: str, response: LoggedResponse) -> list[str]:
        return [f"{where}: {e.message}" for e in self.error.iter_errors(response.body)]

    @staticmethod
    def _shape_violations(where: str, response: LoggedResponse) -> list[str]:
        # The contract's `Error` requires nothing; Okta always sends all five fields.
        fields = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
        body = response.body
        if not isinstance(body, dict) or not fields <= set(body):
            return [f"{where}: not an Okta error body: {body!r}"]
        return []


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract()


@pytest.fixture
def emulator(contract: Contract) -> Iterator[OktaEmulator]:
    server = OktaEmulator(token=TOKEN)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    problems = [p for r in server.responses for p in contract.violations(r)]
    assert not problems, "responses outside Okta's contract:\n" + "\n".join(problems)


@pytest.fixture
def client(emulator: OktaEmulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The SDK refuses plain http unless this is in the environment (a `testing` key is ignored).
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    from okta.client import Client

    return Client({"orgUrl": emulator.base_url, "token": TOKEN, "rateLimit": {"maxRetries": 0}})


def raw(emulator: OktaEmulator, method: str, path: str, authorization: str | None = None,
        body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    """A request without the SDK, to control the headers it would not send."""
    request = urllib.request.Request(emulator.base_url + path, data=body, method=method)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            payload = answer.read()
            return answer.status, dict(answer.headers), json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, dict(error.headers), json.loads(payload) if payload else None


# -- groups and members ---------------------------------------------------------------------------
def test_group_members_page_by_limit_and_after_via_absolute_link_next(
    emulator: OktaEmulator, client: Any
) -> None:
    from okta.pagination import PaginationHelper

    group = emulator.add_group("engineering")
    logins = {f"member{i}@acme.example" for i in range(5)}
    for login in logins:
        emulator.add_member(group, emulator.add_user(login))

    seen: list[str] = []
    after: str | None = None
    links: list[str] = []
    for _ in range(10):
        users, response, error = run(client.list_group_users(group, limit=2, after=after))
        assert error is None
        assert len(users) <= 2
        seen.extend(u.profile.login for u in users)
        links.append(response.headers["Link"])
        after = PaginationHelper.extract_next_cursor(response.headers)
        if after is None:
            break

    assert len(links) == 3  # 2 + 2 + 1
    assert sorted(seen) == sorted(logins)  # every member once, none twice
    assert 'rel="next"' in links[0] and 'rel="next"' not in links[-1]
    next_url = links[0].split(", ")[1].split(";")[0].strip("<>")
    assert next_url.startswith(f"{emulator.base_url}/api/v1/groups/{group}/users?")
    assert "limit=2" in next_url


def test_membership_put_and_delete_answer_204_and_are_idempotent(
    emulator: OktaEmulator, client: Any
) -> None:
    group = emulator.add_group("ops")
    user = emulator.add_user("dana@acme.example")

    for _ in range(2):
        result, response, error = run(client.assign_user_to_group(group, user))
        assert (result, error) == (None, None) and response.status_code == 204
    assert emulator.member_logins(group) == {"dana@acme.example"}

    for _ in range(2):
        result, response, error = run(client.unassign_user_from_group(group, user))
        assert (result, error) == (None, None) and response.status_code == 204
    assert emulator.member_logins(group) == set()
    assert [e.status for e in emulator.log if e.path.endswith(f"/users/{user}")] == [204] * 4


def test_membership_writes_take_a_user_id_not_a_login(emulator: OktaEmulator, client: Any) -> None:
    group = emulator.add_group("ops")
    emulator.add_user("erin@acme.example")
    returned = run(client.assign_user_to_group(group, "erin@acme.example"))
    error = returned[-1]
    assert error.status == 404 and error.error_code == "E0000007"
    assert error.error_summary == "Not found: Resource not found: erin@acme.example (User)"
    assert emulator.member_logins(group) == set()


def test_missing_user_and_group_answer_e0000007(emulator: OktaEmulator, client: Any) -> None:
    user_error = run(client.get_user("ghost@acme.example"))[-1]
    assert (user_error.status, user_error.error_code) == (404, "E0000007")
    assert user_error.error_summary == "Not found: Resource not found: ghost@acme.example (User)"
    group_error = run(client.list_group_users("00gmissing"))[-1]
    assert (group_error.status, group_error.error_code) == (404, "E0000007")
    assert group_error.error_summary == "Not found: Resource not found: 00gmissing (UserGroup)"
    body = emulator.responses[-1].body
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}


def test_get_group_and_list_groups_by_q_and_search(emulator: OktaEmulator, client: Any) -> None:
    wanted = emulator.add_group('Ops "core"', "the on-call crew")
    emulator.add_group("Ops core")
    emulator.add_group("Finance")

    group, _, error = run(client.get_group(wanted))
    assert error is None and group.id == wanted
    assert group.profile.actual_instance.name == 'Ops "core"'

    by_prefix, _, _ = run(client.list_groups(q="ops"))
    assert sorted(g.profile.actual_instance.name for g in by_prefix) == ["Ops \"core\"", "Ops core"]
    exact, _, _ = run(client.list_groups(search='profile.name eq "ops \\"core\\""'))
    assert [g.id for g in exact] == [wanted]
    typed, _, _ = run(client.list_groups(search='type eq "OKTA_GROUP" and profile.name sw "fin"'))
    assert [g.profile.actual_instance.name for g in typed] == ["Finance"]


# -- users ----------------------------------------------------------------------------------------
def test_get_user_by_id_or_by_login_ignoring_case(emulator: OktaEmulator, client: Any) -> None:
    user_id = emulator.add_user("Frank.Li@acme.example", first_name="Frank", last_name="Li")
    by_id, _, _ = run(client.get_user(user_id))
    by_login, _, _ = run(client.get_user("frank.li@ACME.example"))
    assert by_id.id == by_login.id == user_id
    assert by_login.profile.login == "Frank.Li@acme.example"


def test_list_users_with_search_filter_and_q(emulator: OktaEmulator, client: Any) -> None:
    emulator.add_user("gail@acme.example", first_name="Gail")
    emulator.add_user("gus@acme.example", first_name="Gus", status="SUSPENDED")
    emulator.add_user("old@acme.example", first_name="Gone", status="DEPROVISIONED")

    found, _, _ = run(client.list_users(search='profile.login eq "GAIL@acme.example"'))
    assert [u.profile.login for u in found] == ["gail@acme.example"]
    active, _, _ = run(client.list_users(filter='status eq "ACTIVE"'))
    assert [u.profile.login for u in active] == ["gail@acme.example"]
    by_q, _, _ = run(client.list_users(q="g"))
    assert sorted(u.profile.login for u in by_q) == ["gail@acme.example", "gus@acme.example"]
    either, _, _ = run(client.list_users(
        search='(status eq "DEPROVISIONED" or status eq "SUSPENDED") and profile.email co "acme"'))
    assert sorted(u.profile.login for u in either) == ["gus@acme.example", "old@acme.example"]

    bad = run(client.list_users(search='profile.login eq "unterminated'))[-1]
    assert (bad.status, bad.error_code) == (400, "E0000031")


def test_list_user_groups(emulator: OktaEmulator, client: Any) -> None:
    user = emulator.add_user("hana@acme.example")
    first, second = emulator.add_group("a"), emulator.add_group("b")
    emulator.add_group("c")
    emulator.add_member(first, user)
    emulator.add_member(second, user)
    groups, _, error = run(client.list_user_groups(user))
    assert error is None
    assert sorted(g.id for g in groups) == sorted([first, second])


def test_user_role_assignments(emulator: OktaEmulator, client: Any) -> None:
    from okta.models.assign_role_to_user_request import AssignRoleToUserRequest
    from okta.models.standard_role_assignment_schema import StandardRoleAssignmentSchema

    user = emulator.add_user("ivan@acme.example")
    request = AssignRoleToUserRequest(StandardRoleAssignmentSchema(type="HELP_DESK_ADMIN"))
    assigned, response, error = run(client.assign_role_to_user(user, request))
    assert error is None and response.status_code == 201
    role_id = assigned.actual_instance.id

    roles, _, _ = run(client.list_assigned_roles_for_user(user))
    assert [r.actual_instance.type.value for r in roles] == ["HELP_DESK_ADMIN"]
    again = run(client.assign_role_to_user(user, request))[-1]
    assert (again.status, again.error_code) == (409, "E0000090")

    _, response, error = run(client.unassign_role_from_user(user, role_id))
    assert error is None and response.status_code == 204
    gone = run(client.get_user_assigned_role(user, role_id))[-1]
    assert (gone.status, gone.error_code) == (404, "E0000007")


def test_app_group_membership_cannot_be_changed(emulator: OktaEmulator, client: Any) -> None:
    group = emulator.add_group("AD: Domain Admins", group_type="APP_GROUP")
    user = emulator.add_user("jo@acme.example")
    error = run(client.assign_user_to_group(group, user))[-1]
    assert (error.status, error.error_code) == (403, "E0000006")
    assert emulator.member_logins(group) == set()


# -- authentication -------------------------------------------------------------------------------
@pytest.mark.parametrize("header", [f"SSWS {TOKEN}", f"SSWS{TOKEN}"])
def test_ssws_token_with_or_without_space_is_accepted(emulator: OktaEmulator, header: str) -> None:
    status, _, body = raw(emulator, "GET", "/api/v1/users", header)
    assert (status, body) == (200, [])


@pytest.mark.parametrize("header", [None, "SSWS wrong", f"Bearer {TOKEN}", TOKEN, "SSWS"])
def test_other_credentials_are_rejected_with_okta_401(emulator: OktaEmulator,
                                                      header: str | None) -> None:
    status, headers, body = raw(emulator, "GET", "/api/v1/users", header)
    assert status == 401
    assert body["errorCode"] == "E0000011" and body["errorSummary"] == "Invalid token provided"
    assert "X-Rate-Limit-Remaining" in headers


def test_sdk_with_a_wrong_token_gets_401(emulator: OktaEmulator, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    from okta.client import Client

    wrong: Any = Client({"orgUrl": emulator.base_url, "token": "not-it"})
    error = run(wrong.list_users())[-1]
    assert (error.status, error.error_code) == (401, "E0000011")
    assert emulator.log[-1].headers["authorization"] == "SSWSnot-it"  # the SDK's own spelling


# -- rate limits ----------------------------------------------------------------------------------
def test_every_response_carries_rate_limit_headers(emulator: OktaEmulator, client: Any) -> None:
    user = emulator.add_user("kim@acme.example")
    group = emulator.add_group("g")
    run(client.get_user(user))
    run(client.assign_user_to_group(group, user))
    run(client.get_group("00gnothere"))
    raw(emulator, "GET", "/api/v1/users", "SSWS nope")

    assert len(emulator.responses) == 4
    remaining = []
    for response in emulator.responses:
        headers = response.headers
        assert headers["X-Rate-Limit-Limit"] == "600"
        reset = int(headers["X-Rate-Limit-Reset"])
        assert time.time() - 1 <= reset <= time.time() + 61  # epoch seconds, within the window
        remaining.append(int(headers["X-Rate-Limit-Remaining"]))
    assert remaining[:3] == [599, 598, 597]


def test_a_spent_budget_answers_429_e0000047(emulator: OktaEmulator, client: Any) -> None:
    emulator.set_rate_limit(2, window=30)
    user = emulator.add_user("lee@acme.example")
    assert run(client.get_user(user))[-1] is None
    _, response, _ = run(client.get_user(user))
    assert response.headers["X-Rate-Limit-Remaining"] == "0"
    error = run(client.get_user(user))[-1]
    assert (error.status, error.error_code) == (429, "E0000047")
    assert error.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(error.headers["X-Rate-Limit-Reset"]) >= int(time.time()) + 28


def test_injected_429_carries_e0000047_and_rate_limit_headers(
    emulator: OktaEmulator, client: Any
) -> None:
    user = emulator.add_user("max@acme.example")
    emulator.set_faults(Faults(script=["429", "503"], retry_after=7))
    before = int(time.time())
    error = run(client.get_user(user))[-1]
    assert (error.status, error.error_code) == (429, "E0000047")
    assert error.headers["X-Rate-Limit-Remaining"] == "0"
    assert before + 7 <= int(error.headers["X-Rate-Limit-Reset"]) <= int(time.time()) + 7
    unavailable = run(client.get_user(user))[-1]
    assert unavailable.status == 503 and unavailable.error_code == "E0000009"
    assert "X-Rate-Limit-Reset" in unavailable.headers
    assert run(client.get_user(user))[-1] is None
    assert emulator.count("GET", f"/api/v1/users/{user}") == 3  # the SDK did not retry by itself


# -- the contract check itself --------------------------------------------------------------------
def test_contract_check_passes_real_answers_and_catches_broken_ones(
    emulator: OktaEmulator, client: Any, contract: Contract
) -> None:
    from okta.models.assign_role_to_user_request import AssignRoleToUserRequest
    from okta.models.standard_role_assignment_schema import StandardRoleAssignmentSchema

    user = emulator.add_user("nia@acme.example")
    run(client.get_user(user))
    request = AssignRoleToUserRequest(StandardRoleAssignmentSchema(type="USER_ADMIN"))
    run(client.assign_role_to_user(user, request))
    got_user, got_role = emulator.responses[-2], emulator.responses[-1]
    assert (got_user.status, got_role.status) == (200, 201)
    assert contract.violations(got_user) == [] and contract.violations(got_role) == []

    wrong_type = replace(got_user, body={**got_user.body, "id": 12345})
    assert any("12345 is not of type 'string'" in v for v in contract.violations(wrong_type))

    no_type = replace(got_role, body={k: v for k, v in got_role.body.items() if k != "type"})
    assert contract.violations(no_type)  # `type` is required on a role assignment

    bad_enum = replace(got_user, body={**got_user.body, "status": "ENABLED"})
    assert contract.violations(bad_enum)
    not_okta = LoggedResponse("GET", "/api/v1/users/x", 404, {"message": "nope"}, {})
    assert contract.violations(not_okta)
    wrong_cause = LoggedResponse("GET", "/api/v1/users/x", 404, {
        "errorCode": "E0000007", "errorSummary": "x", "errorLink": "E0000007", "errorId": "o",
        "errorCauses": "none"}, {})
    assert any("is not of type 'array'" in v for v in contract.violations(wrong_cause))
