"""The Okta emulator, driven through the okta SDK over HTTP, and checked against Okta's contract.

Every response the emulator gives during these tests is validated, at the end of each test, against
the response schema of tests/contracts/okta-management-subset.json for its path, method and status
(undeclared error statuses against the `Error` schema). The last tests prove that check bites.

The contract (the Management API) does not describe the org authorization server's
`POST /oauth2/v1/token`; its answers are checked against `TOKEN_RESPONSE` and `OAUTH_ERROR` below,
written from Okta's OAuth 2.0 API reference (`/token`: 200 `{token_type, expires_in,
access_token, scope}`; 400/401 `{error, error_description}`).
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
from accessctl.emulators.http import Faults
from accessctl.emulators.okta import (
    JWT_BEARER,
    ROUTE_SCOPES,
    TOKEN_PATH,
    LoggedResponse,
    OktaEmulator,
    generate_key_pair,
)

from tests.contracts.okta import OAUTH_ERROR, TOKEN_RESPONSE

CONTRACT_FILE = Path(__file__).parents[1] / "contracts" / "okta-management-subset.json"
TOKEN = "test-okta-token"
CONTRACT_HOST = "https://subdomain.okta.com"  # the contract's server; only paths are compared

T = TypeVar("T")

# Okta's OAuth 2.0 API reference, `/token`: the shapes the contract checks (tests/contracts).


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
        if response.path == TOKEN_PATH:
            return self._token_violations(where, response)
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

    @staticmethod
    def _token_violations(where: str, response: LoggedResponse) -> list[str]:
        from jsonschema import Draft202012Validator

        if response.status not in (200, 400, 401):
            return [f"{where}: not a status Okta's /token answers with"]
        schema = TOKEN_RESPONSE if response.status == 200 else OAUTH_ERROR
        problems = [f"{where}: {e.message}"
                    for e in Draft202012Validator(schema).iter_errors(response.body)]
        if response.headers.get("Cache-Control") != "no-store":
            problems.append(f"{where}: a token answer must not be cached (RFC 6749 5.1)")
        return problems

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


# -- OAuth 2.0 service apps: the token endpoint and bearer tokens --------------------------------
SERVICE_SCOPES = ["okta.groups.manage", "okta.users.read"]


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, dict[str, Any]]:
    return generate_key_pair("svc-1")


def assertion(emulator: OktaEmulator, client_id: str, private_pem: str, **overrides: Any) -> str:
    import uuid

    import jwt

    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": emulator.base_url + TOKEN_PATH,
              "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), **overrides}
    return jwt.encode(claims, private_pem, "RS256", {"kid": "svc-1"})


def token_request(emulator: OktaEmulator, form: dict[str, str]) -> tuple[int, Any]:
    from urllib.parse import urlencode

    request = urllib.request.Request(emulator.base_url + TOKEN_PATH,
                                     data=urlencode(form).encode(), method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def grant_form(signed: str, scope: str = " ".join(SERVICE_SCOPES)) -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": JWT_BEARER, "client_assertion": signed}


def test_route_scopes_are_the_contracts_oauth2_security() -> None:
    spec = json.loads(CONTRACT_FILE.read_text())
    declared: dict[tuple[str, str], list[str]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):  # the path's shared `parameters`
                continue
            for requirement in operation.get("security", []):
                if "oauth2" in requirement:
                    declared[(method.upper(), path)] = requirement["oauth2"]
    served = {key: value for key, value in declared.items() if key in ROUTE_SCOPES}
    assert {key: [scope] for key, scope in ROUTE_SCOPES.items()} == served
    assert len(served) == len(ROUTE_SCOPES)  # every route the emulator serves is in the contract


def test_token_endpoint_issues_a_bearer_token_with_the_granted_scopes(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    status, body = token_request(emulator, grant_form(assertion(emulator, client_id,
                                                                key_pair[0])))
    assert status == 200
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer", 3600, "okta.groups.manage okta.users.read")
    user = emulator.add_user("omar@acme.example")
    group = emulator.add_group("ops")
    bearer = f"Bearer {body['access_token']}"
    assert raw(emulator, "GET", f"/api/v1/users/{user}", bearer)[0] == 200
    assert raw(emulator, "GET", f"/api/v1/groups/{group}/users", bearer)[0] == 200  # manage>read
    assert raw(emulator, "PUT", f"/api/v1/groups/{group}/users/{user}", bearer)[0] == 204
    assert emulator.member_logins(group) == {"omar@acme.example"}


def test_a_missing_scope_is_403_e0000006_with_the_scope_in_www_authenticate(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    _, body = token_request(emulator, grant_form(
        assertion(emulator, client_id, key_pair[0]), scope="okta.groups.manage"))
    bearer = f"Bearer {body['access_token']}"
    user = emulator.add_user("pia@acme.example")
    status, headers, error = raw(emulator, "GET", f"/api/v1/users/{user}", bearer)
    assert (status, error["errorCode"]) == (403, "E0000006")
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    assert 'scope="okta.users.read"' in headers["WWW-Authenticate"]
    status, _, _ = raw(emulator, "POST", f"/api/v1/users/{user}/roles", bearer,
                       json.dumps({"type": "HELP_DESK_ADMIN"}).encode())
    assert status == 403 and emulator.roles == {}


def test_an_expired_or_unknown_bearer_token_is_401_e0000011(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    _, body = token_request(emulator, grant_form(assertion(emulator, client_id, key_pair[0])))
    emulator.expire_tokens()
    for token in (body["access_token"], "made-up"):
        status, headers, error = raw(emulator, "GET", "/api/v1/users", f"Bearer {token}")
        assert (status, error["errorCode"]) == (401, "E0000011")
        assert 'error="invalid_token"' in headers["WWW-Authenticate"]


@pytest.mark.parametrize(("case", "status", "error", "description"), [
    ("wrong key", 401, "invalid_client", "signature is invalid"),
    ("unknown client", 401, "invalid_client", "client_id"),
    ("wrong audience", 401, "invalid_client", "audience"),
    ("expired", 401, "invalid_client", "expired"),
    ("too long", 401, "invalid_client", "too far into the future"),
    ("iss is not sub", 401, "invalid_client", "[iss]"),
    ("unknown kid", 401, "invalid_client", "kid"),
    ("not a jwt", 400, "invalid_client", "malformed"),
    ("no assertion", 401, "invalid_client", "Client authentication failed"),
    ("password grant", 400, "unsupported_grant_type", "client_credentials"),
    ("no scope", 400, "invalid_scope", "'scope' must be provided"),
    ("scope not granted", 400, "invalid_scope", "okta.users.manage"),
])
def test_token_endpoint_refusals_are_okta_oauth_errors(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]],
    case: str, status: int, error: str, description: str,
) -> None:
    import jwt

    pem = key_pair[0]
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    signed = assertion(emulator, client_id, pem)
    form = grant_form(signed)
    if case == "wrong key":
        form = grant_form(assertion(emulator, client_id, generate_key_pair()[0]))
    elif case == "unknown client":
        form = grant_form(assertion(emulator, "0oanobody", pem, iss="0oanobody"))
    elif case == "wrong audience":
        form = grant_form(assertion(emulator, client_id, pem, aud="https://elsewhere/token"))
    elif case == "expired":
        form = grant_form(assertion(emulator, client_id, pem, exp=int(time.time()) - 60))
    elif case == "too long":
        form = grant_form(assertion(emulator, client_id, pem, exp=int(time.time()) + 7200))
    elif case == "iss is not sub":
        form = grant_form(assertion(emulator, client_id, pem, iss="0oasomeoneelse"))
    elif case == "unknown kid":
        claims = jwt.decode(signed, options={"verify_signature": False})
        form = grant_form(jwt.encode(claims, pem, "RS256", {"kid": "svc-9"}))
    elif case == "not a jwt":
        form = grant_form("not.a.jwt")
    elif case == "no assertion":
        form = {k: v for k, v in form.items() if k != "client_assertion"}
    elif case == "password grant":
        form["grant_type"] = "password"
    elif case == "no scope":
        form["scope"] = ""
    elif case == "scope not granted":
        form["scope"] = "okta.groups.manage okta.users.manage"
    answered, body = token_request(emulator, form)
    assert (answered, body["error"]) == (status, error)
    assert description in body["error_description"]
    assert emulator.access_tokens == {}


def test_a_client_assertion_is_good_for_one_token_only(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    form = grant_form(assertion(emulator, client_id, key_pair[0]))
    assert token_request(emulator, form)[0] == 200
    status, body = token_request(emulator, form)
    assert (status, body["error"]) == (401, "invalid_client")
    assert body["error_description"] == "The client_assertion token has already been used."


def test_a_private_key_cannot_be_registered(emulator: OktaEmulator,
                                            key_pair: tuple[str, dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="public key"):
        emulator.register_client({**key_pair[1], "d": "secret"}, SERVICE_SCOPES)


def test_token_requests_do_not_spend_the_api_rate_limit(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]]
) -> None:
    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES)
    emulator.set_rate_limit(1, window=30)
    for _ in range(3):
        assert token_request(emulator, grant_form(
            assertion(emulator, client_id, key_pair[0])))[0] == 200
    assert raw(emulator, "GET", "/api/v1/users", f"SSWS {TOKEN}")[0] == 200


def test_token_answers_are_checked_too(contract: Contract) -> None:
    body = {"token_type": "Bearer", "expires_in": 3600, "access_token": "t",
            "scope": "okta.users.read"}
    good = LoggedResponse("POST", TOKEN_PATH, 200, body, {"Cache-Control": "no-store"})
    assert contract.violations(good) == []
    assert contract.violations(replace(good, body={**good.body, "expires_in": "3600"}))
    assert contract.violations(replace(good, headers={}))
    okta_shaped = replace(good, status=401, body={"errorCode": "E0000011", "errorSummary": "x"})
    assert contract.violations(okta_shaped)  # /token answers in OAuth's shape, not Okta's
    assert contract.violations(replace(good, status=403, body={
        "error": "invalid_client", "error_description": "x"}))


def test_dpop_nonce_challenge_then_a_bound_token_through_the_sdk(
    emulator: OktaEmulator, key_pair: tuple[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    from okta.client import Client

    client_id = emulator.register_client(key_pair[1], SERVICE_SCOPES, dpop_required=True)
    user = emulator.add_user("quin@acme.example")
    dpop: Any = Client({"orgUrl": emulator.base_url, "authorizationMode": "PrivateKey",
                        "clientId": client_id, "scopes": SERVICE_SCOPES,
                        "privateKey": key_pair[0], "kid": "svc-1", "dpopEnabled": True,
                        "rateLimit": {"maxRetries": 0}})
    found, _, error = run(dpop.get_user(user))
    assert error is None and found.id == user
    token_answers = [r for r in emulator.responses if r.path == TOKEN_PATH]
    assert [r.status for r in token_answers] == [400, 200]
    assert token_answers[0].body["error"] == "use_dpop_nonce"
    assert token_answers[0].headers["DPoP-Nonce"]
    assert token_answers[1].body["token_type"] == "DPoP"
    sent = emulator.log[-1]
    assert sent.headers["authorization"].startswith("DPoP ") and sent.headers["dpop"]
