"""The Graph emulator, driven through msgraph-sdk over HTTP, and checked against the SDK's models.

msgraph-sdk is generated from Graph's OpenAPI description, so its models are the contract: every
answer the emulator gives is parsed with the SDK's own JSON parse node and model classes, and a
property the model does not declare (a misspelling) or a value it cannot read fails the test.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from accessctl.emulators.graph import GraphEmulator, parse_filter
from accessctl.emulators.http import Faults, HttpError
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.serialization import Parsable
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.groups.item.members.members_request_builder import MembersRequestBuilder
from msgraph.generated.identity_governance.privileged_access.group.assignment_schedules.assignment_schedules_request_builder import (  # noqa: E501
    AssignmentSchedulesRequestBuilder,
)
from msgraph.generated.models.directory_object_collection_response import (
    DirectoryObjectCollectionResponse,
)
from msgraph.generated.models.expiration_pattern import ExpirationPattern
from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.privileged_access_group_assignment_schedule_collection_response import (  # noqa: E501
    PrivilegedAccessGroupAssignmentScheduleCollectionResponse,
)
from msgraph.generated.models.privileged_access_group_assignment_schedule_request import (
    PrivilegedAccessGroupAssignmentScheduleRequest,
)
from msgraph.generated.models.privileged_access_group_relationships import (
    PrivilegedAccessGroupRelationships,
)
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.request_schedule import RequestSchedule
from msgraph.generated.models.schedule_request_actions import ScheduleRequestActions
from msgraph.generated.models.unified_role_assignment_schedule_collection_response import (
    UnifiedRoleAssignmentScheduleCollectionResponse,
)
from msgraph.generated.models.unified_role_assignment_schedule_request import (
    UnifiedRoleAssignmentScheduleRequest,
)
from msgraph.generated.models.unified_role_definition import UnifiedRoleDefinition
from msgraph.generated.models.unified_role_schedule_request_actions import (
    UnifiedRoleScheduleRequestActions,
)
from msgraph.generated.models.user import User
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.role_management.directory.role_assignment_schedules.role_assignment_schedules_request_builder import (  # noqa: E501
    RoleAssignmentSchedulesRequestBuilder,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as graph_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from tests.contracts.graph import walk_model

T = TypeVar("T")
TOKEN = "emulator-token"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class FixedTokenCredential:
    """An async azure-core credential handing out a fixed token."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def emulator() -> Iterator[GraphEmulator]:
    made = GraphEmulator(token=TOKEN)
    made.set_clock(NOW)
    made.start()
    try:
        yield made
    finally:
        made.stop()


def run(emulator: GraphEmulator, call: Callable[[GraphServiceClient], Awaitable[T]], *,
        retries: int = 0, token: str = TOKEN) -> T:
    """Run `call` with a GraphServiceClient pointed at the emulator, in a fresh event loop."""

    async def go() -> T:
        retry = RetryHandlerOption(delay=0, max_retries=retries)
        transport = httpx.AsyncHTTPTransport()  # Graph's wrapper does not close it: we do
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(transport=transport),
            options={**graph_options, RetryHandlerOption.get_key(): retry},
        )
        auth = AzureIdentityAuthenticationProvider(FixedTokenCredential(token),
                                                   allowed_hosts=["127.0.0.1"])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = f"{emulator.base_url}/v1.0"
        try:
            return await call(GraphServiceClient(request_adapter=adapter))
        finally:
            await http.aclose()
            await transport.aclose()

    return asyncio.run(go())


def odata_error(emulator: GraphEmulator, call: Callable[[GraphServiceClient], Awaitable[Any]],
                **kwargs: Any) -> ODataError:
    with pytest.raises(ODataError) as raised:
        run(emulator, call, **kwargs)
    return raised.value


def ref(emulator: GraphEmulator, user_id: str) -> ReferenceCreate:
    return ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}")


async def all_members(client: GraphServiceClient, group: str, top: int | None = None
                      ) -> list[Any]:
    query = MembersRequestBuilder.MembersRequestBuilderGetQueryParameters(top=top)
    builder = client.groups.by_group_id(group).members
    page = await builder.get(RequestConfiguration(query_parameters=query))
    assert page is not None
    found = list(page.value or [])
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        assert page is not None
        found.extend(page.value or [])
    return found


def schedule(end: datetime | None, start: datetime = NOW) -> RequestSchedule:
    if end is None:
        return RequestSchedule(start_date_time=start, expiration=ExpirationPattern(
            type=ExpirationPatternType.NoExpiration))
    return RequestSchedule(start_date_time=start, expiration=ExpirationPattern(
        type=ExpirationPatternType.AfterDateTime, end_date_time=end))


def pim_request(action: str, group: str, principal: str, end: datetime | None = None,
                access: str = "member") -> PrivilegedAccessGroupAssignmentScheduleRequest:
    return PrivilegedAccessGroupAssignmentScheduleRequest(
        action=ScheduleRequestActions(action),
        access_id=PrivilegedAccessGroupRelationships(access),
        group_id=group,
        principal_id=principal,
        justification="test",
        schedule_info=None if action == "adminRemove" else schedule(end),
    )


async def pim_schedules(client: GraphServiceClient, odata_filter: str) -> list[Any]:
    query = AssignmentSchedulesRequestBuilder.AssignmentSchedulesRequestBuilderGetQueryParameters(
        filter=odata_filter, expand=["principal"])
    builder = client.identity_governance.privileged_access.group.assignment_schedules
    page = await builder.get(RequestConfiguration(query_parameters=query))
    assert page is not None
    return list(page.value or [])


# -- group membership ----------------------------------------------------------------------------
def test_members_add_list_remove(emulator: GraphEmulator) -> None:
    user = emulator.add_user("Alice@Corp.Example", mail="alice@corp.example")
    group = emulator.add_group("ops")

    async def scenario(client: GraphServiceClient) -> tuple[list[Any], list[Any]]:
        await client.groups.by_group_id(group).members.ref.post(ref(emulator, user))
        added = await all_members(client, group)
        await client.groups.by_group_id(group).members.by_directory_object_id(user).ref.delete()
        return added, await all_members(client, group)

    added, after = run(emulator, scenario)
    assert [type(m) for m in added] == [User]  # the SDK's discriminator chose User
    assert added[0].id == user and added[0].user_principal_name == "Alice@Corp.Example"
    assert after == []
    assert emulator.groups[group].members == []
    posts = [e for e in emulator.log if e.method == "POST"]
    assert [p.path for p in posts] == [f"/v1.0/groups/{group}/members/$ref"]
    assert emulator.count("DELETE", f"/v1.0/groups/{group}/members/{user}/$ref") == 1


def test_members_paging_follows_absolute_next_links(emulator: GraphEmulator) -> None:
    group = emulator.add_group("big")
    users = [emulator.add_user(f"u{i}@corp.example") for i in range(7)]
    for user in users:
        emulator.add_member(group, user)
    found = run(emulator, lambda c: all_members(c, group, top=3))
    assert [m.id for m in found] == users
    assert emulator.count("GET", f"/v1.0/groups/{group}/members") == 3
    first = emulator.responses[0].body
    assert first["@odata.context"] == f"{emulator.base_url}/v1.0/$metadata#directoryObjects"
    assert first["@odata.nextLink"].startswith(f"{emulator.base_url}/v1.0/groups/{group}/members?")
    assert "@odata.nextLink" not in emulator.responses[-1].body


def test_members_default_page_is_100(emulator: GraphEmulator) -> None:
    group = emulator.add_group("bigger")
    for i in range(103):
        emulator.add_member(group, emulator.add_user(f"p{i}@corp.example"))

    async def first_page(client: GraphServiceClient) -> Any:
        return await client.groups.by_group_id(group).members.get()

    page = run(emulator, first_page)
    assert len(page.value) == 100 and page.odata_next_link
    assert len(run(emulator, lambda c: all_members(c, group))) == 103


def test_duplicate_add_is_a_request_bad_request(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("bob@corp.example"), emulator.add_group("ops")
    emulator.add_member(group, user)
    error = odata_error(emulator, lambda c: c.groups.by_group_id(group).members.ref.post(
        ref(emulator, user)))
    assert error.response_status_code == 400
    assert error.error.code == "Request_BadRequest"
    assert "One or more added object references already exist" in error.error.message
    assert error.error.inner_error.request_id  # innerError parsed by the SDK


def test_removing_a_non_member_is_not_found(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("carol@corp.example"), emulator.add_group("ops")
    error = odata_error(emulator, lambda c: c.groups.by_group_id(group).members
                        .by_directory_object_id(user).ref.delete())
    assert error.response_status_code == 404
    assert error.error.code == "Request_ResourceNotFound"


def test_missing_group_and_malformed_id(emulator: GraphEmulator) -> None:
    missing = "6f1e0c53-5b4e-4c7e-9a36-3f2e4a1d0b99"
    error = odata_error(emulator, lambda c: c.groups.by_group_id(missing).get())
    assert (error.response_status_code, error.error.code) == (404, "Request_ResourceNotFound")
    error = odata_error(emulator, lambda c: c.groups.by_group_id("not-a-guid").get())
    assert (error.response_status_code, error.error.code) == (400, "Request_BadRequest")


# -- users ---------------------------------------------------------------------------------------
def test_user_by_upn_is_case_insensitive_and_by_id(emulator: GraphEmulator) -> None:
    user = emulator.add_user("Dana.Smith@Corp.Example", mail="dana@corp.example")
    by_upn = run(emulator, lambda c: c.users.by_user_id("dana.smith@corp.example").get())
    by_id = run(emulator, lambda c: c.users.by_user_id(user).get())
    assert by_upn.id == by_id.id == user
    assert by_upn.mail == "dana@corp.example"
    error = odata_error(emulator, lambda c: c.users.by_user_id("nobody@corp.example").get())
    assert (error.response_status_code, error.error.code) == (404, "Request_ResourceNotFound")


def users_by(emulator: GraphEmulator, odata_filter: str) -> list[str]:
    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(filter=odata_filter)

    async def go(client: GraphServiceClient) -> list[str]:
        page = await client.users.get(RequestConfiguration(query_parameters=query))
        assert page is not None
        return [u.user_principal_name for u in page.value or []]

    return run(emulator, go)


def test_filter_by_mail_is_escape_aware(emulator: GraphEmulator) -> None:
    emulator.add_user("obrien@corp.example", mail="o'brien@corp.example")
    emulator.add_user("eve@corp.example", mail="eve@corp.example")
    assert users_by(emulator, "mail eq 'o''brien@corp.example'") == ["obrien@corp.example"]
    assert users_by(emulator, "mail eq 'EVE@corp.example'") == ["eve@corp.example"]
    # An injection attempt, quoted properly, is one literal that matches nobody.
    assert users_by(emulator, "mail eq 'x'' or mail eq ''eve@corp.example'") == []
    error = odata_error(emulator, lambda c: c.users.get(RequestConfiguration(
        query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter="startswith(mail,'e')"))))
    assert (error.response_status_code, error.error.code) == (400, "Request_UnsupportedQuery")


@pytest.mark.parametrize(("text", "expected"), [
    ("mail eq 'a@b'", {"mail": "a@b"}),
    ("mail eq ''", {"mail": ""}),
    ("mail eq 'it''s'", {"mail": "it's"}),
    ("groupId eq 'g' and principalId eq 'p'", {"groupId": "g", "principalId": "p"}),
])
def test_parse_filter(text: str, expected: dict[str, str]) -> None:
    assert parse_filter(text, ("mail", "groupId", "principalId")) == expected


@pytest.mark.parametrize("text", [
    "mail eq 'a' or mail eq 'b'", "mail eq 'unterminated", "other eq 'x'", "mail eq 'a' junk",
])
def test_parse_filter_refuses(text: str) -> None:
    with pytest.raises(HttpError) as raised:
        parse_filter(text, ("mail",))
    assert raised.value.status == 400


# -- PIM for Groups ------------------------------------------------------------------------------
def test_pim_assign_lists_schedule_and_refuses_duplicate(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("fay@corp.example"), emulator.add_group("pim")
    end = NOW + timedelta(hours=4)

    async def assign(client: GraphServiceClient) -> Any:
        return await client.identity_governance.privileged_access.group \
            .assignment_schedule_requests.post(pim_request("adminAssign", group, user, end))

    made = run(emulator, assign)
    assert made.status == "Provisioned"
    assert made.action == ScheduleRequestActions.AdminAssign
    assert made.access_id == PrivilegedAccessGroupRelationships.Member
    assert made.schedule_info.expiration.end_date_time == end
    assert emulator.count("POST") == 1 and emulator.log[0].status == 201

    held = run(emulator, lambda c: pim_schedules(c, f"groupId eq '{group}'"))
    assert [(s.principal_id, s.group_id, s.id) for s in held] == [(user, group,
                                                                  made.target_schedule_id)]
    assert held[0].principal.user_principal_name == "fay@corp.example"
    assert held[0].schedule_info.expiration.end_date_time == end
    # An active PIM member is a member of the group.
    assert [m.id for m in run(emulator, lambda c: all_members(c, group))] == [user]

    error = odata_error(emulator, assign)
    assert (error.response_status_code, error.error.code) == (400, "RoleAssignmentExists")


def test_pim_assignment_expires_when_the_clock_passes_its_end(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("gus@corp.example"), emulator.add_group("pim")
    end = NOW + timedelta(hours=1)
    run(emulator, lambda c: c.identity_governance.privileged_access.group
        .assignment_schedule_requests.post(pim_request("adminAssign", group, user, end)))
    by_principal = f"groupId eq '{group}' and principalId eq '{user}'"
    assert len(run(emulator, lambda c: pim_schedules(c, by_principal))) == 1

    emulator.set_clock(end - timedelta(seconds=1))
    assert len(run(emulator, lambda c: pim_schedules(c, by_principal))) == 1
    emulator.set_clock(end)
    assert run(emulator, lambda c: pim_schedules(c, by_principal)) == []
    assert run(emulator, lambda c: all_members(c, group)) == []
    error = odata_error(emulator, lambda c: c.identity_governance.privileged_access.group
                        .assignment_schedule_requests.post(
                            pim_request("adminRemove", group, user)))
    assert (error.response_status_code, error.error.code) == (400, "RoleAssignmentDoesNotExist")


def test_pim_remove_and_owner_access_are_separate(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("hal@corp.example"), emulator.add_group("pim")
    emulator.add_group_assignment(group, user, "owner", NOW + timedelta(hours=2))
    emulator.add_group_assignment(group, user, "member", NOW + timedelta(hours=2))

    async def remove(client: GraphServiceClient) -> Any:
        return await client.identity_governance.privileged_access.group \
            .assignment_schedule_requests.post(pim_request("adminRemove", group, user))

    removed = run(emulator, remove)
    assert removed.status == "Revoked"
    left = run(emulator, lambda c: pim_schedules(c, f"groupId eq '{group}'"))
    assert [s.access_id for s in left] == [PrivilegedAccessGroupRelationships.Owner]


def test_pim_request_for_missing_group_or_expired_end(emulator: GraphEmulator) -> None:
    user = emulator.add_user("ivy@corp.example")
    group = emulator.add_group("pim")
    missing = "6f1e0c53-5b4e-4c7e-9a36-3f2e4a1d0b99"
    error = odata_error(emulator, lambda c: c.identity_governance.privileged_access.group
                        .assignment_schedule_requests.post(
                            pim_request("adminAssign", missing, user, NOW + timedelta(hours=1))))
    assert error.response_status_code == 404
    error = odata_error(emulator, lambda c: c.identity_governance.privileged_access.group
                        .assignment_schedule_requests.post(
                            pim_request("adminAssign", group, user, NOW - timedelta(hours=1))))
    assert (error.response_status_code, error.error.code) == (400, "InvalidScheduleRequest")


# -- directory roles -----------------------------------------------------------------------------
def role_schedules(emulator: GraphEmulator, role: str) -> list[Any]:
    query = RoleAssignmentSchedulesRequestBuilder \
        .RoleAssignmentSchedulesRequestBuilderGetQueryParameters(
            filter=f"roleDefinitionId eq '{role}'", expand=["principal"])

    async def go(client: GraphServiceClient) -> list[Any]:
        page = await client.role_management.directory.role_assignment_schedules.get(
            RequestConfiguration(query_parameters=query))
        assert page is not None
        return list(page.value or [])

    return run(emulator, go)


def test_directory_role_schedule_request_and_expiry(emulator: GraphEmulator) -> None:
    user, role = emulator.add_user("jo@corp.example"), emulator.add_role("Helpdesk Administrator")
    end = NOW + timedelta(hours=2)
    body = UnifiedRoleAssignmentScheduleRequest(
        action=UnifiedRoleScheduleRequestActions.AdminAssign, principal_id=user,
        role_definition_id=role, directory_scope_id="/", justification="t",
        schedule_info=schedule(end))
    made = run(emulator, lambda c: c.role_management.directory
               .role_assignment_schedule_requests.post(body))
    assert made.status == "Provisioned" and made.role_definition_id == role
    definition = run(emulator, lambda c: c.role_management.directory.role_definitions
                     .by_unified_role_definition_id(role).get())
    assert definition.display_name == "Helpdesk Administrator"

    held = role_schedules(emulator, role)
    assert [(s.principal_id, s.directory_scope_id) for s in held] == [(user, "/")]
    assert held[0].schedule_info.expiration.end_date_time == end
    error = odata_error(emulator, lambda c: c.role_management.directory
                        .role_assignment_schedule_requests.post(body))
    assert error.error.code == "RoleAssignmentExists"

    emulator.set_clock(end + timedelta(minutes=1))
    assert role_schedules(emulator, role) == []


# -- faults and authentication -------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "code"), [("429", "TooManyRequests"),
                                            ("503", "serviceNotAvailable")])
def test_faults_carry_retry_after_and_a_graph_error(emulator: GraphEmulator, kind: str,
                                                    code: str) -> None:
    user = emulator.add_user("kim@corp.example")
    emulator.set_faults(Faults(script=[kind], retry_after=7))
    error = odata_error(emulator, lambda c: c.users.by_user_id(user).get())
    assert error.response_status_code == int(kind)
    assert error.error.code == code
    assert error.response_headers["retry-after"] == "7"
    # The fault was one request only: the next one answers.
    assert run(emulator, lambda c: c.users.by_user_id(user).get()).id == user


def test_sdk_retry_handler_honours_the_emulators_retry_after(emulator: GraphEmulator) -> None:
    user = emulator.add_user("lee@corp.example")
    emulator.set_faults(Faults(script=["429"], retry_after=1))
    started = time.monotonic()
    found = run(emulator, lambda c: c.users.by_user_id(user).get(), retries=1)
    assert found.id == user
    assert time.monotonic() - started >= 0.9  # the SDK waited as told
    assert [e.status for e in emulator.log] == [429, 200]


def test_wrong_token_is_refused(emulator: GraphEmulator) -> None:
    user = emulator.add_user("max@corp.example")
    error = odata_error(emulator, lambda c: c.users.by_user_id(user).get(), token="forged")
    assert (error.response_status_code, error.error.code) == (401, "InvalidAuthenticationToken")
    assert emulator.log[0].headers["authorization"] == "Bearer forged"


# -- every answer against the SDK's models -------------------------------------------------------
MODELS: list[tuple[str, str, type[Parsable]]] = [
    ("GET", r"/v1.0/users", UserCollectionResponse),
    ("GET", r"/v1.0/users/[^/]+", User),
    ("GET", r"/v1.0/groups/[^/]+", Group),
    ("GET", r"/v1.0/groups/[^/]+/members", DirectoryObjectCollectionResponse),
    ("POST", r"/v1.0/identityGovernance/privilegedAccess/group/assignmentScheduleRequests",
     PrivilegedAccessGroupAssignmentScheduleRequest),
    ("GET", r"/v1.0/identityGovernance/privilegedAccess/group/assignmentSchedules",
     PrivilegedAccessGroupAssignmentScheduleCollectionResponse),
    ("GET", r"/v1.0/roleManagement/directory/roleDefinitions/[^/]+", UnifiedRoleDefinition),
    ("POST", r"/v1.0/roleManagement/directory/roleAssignmentScheduleRequests",
     UnifiedRoleAssignmentScheduleRequest),
    ("GET", r"/v1.0/roleManagement/directory/roleAssignmentSchedules",
     UnifiedRoleAssignmentScheduleCollectionResponse),
]


def model_for(method: str, path: str, status: int) -> type[Parsable]:
    if status >= 400:
        return ODataError
    for wanted, pattern, model in MODELS:
        if wanted == method and re.fullmatch(pattern, path):
            return model
    raise AssertionError(f"no model for {method} {path}")


def contract_problems(body: Any, model: type[Parsable]) -> list[str]:
    """Parse `body` with the SDK's JSON parse node into `model`; report what it could not take."""
    parsed = JsonParseNode(body).get_object_value(model)  # type: ignore[type-var]
    problems: list[str] = []
    walk_model(body, parsed, type(parsed).__name__, problems)
    return problems


def exercise_everything(emulator: GraphEmulator) -> None:
    """One pass over every endpoint and error the emulator serves, through the SDK."""
    user = emulator.add_user("Nia@Corp.Example", mail="nia@corp.example")
    other = emulator.add_user("oz@corp.example")
    group, role = emulator.add_group("all"), emulator.add_role("Reader")
    end = NOW + timedelta(hours=3)

    async def scenario(client: GraphServiceClient) -> None:
        await client.users.by_user_id("nia@corp.example").get()
        await client.users.get(RequestConfiguration(
            query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter="mail eq 'nia@corp.example'")))
        await client.groups.by_group_id(group).get()
        await client.groups.by_group_id(group).members.ref.post(ref(emulator, user))
        await client.identity_governance.privileged_access.group.assignment_schedule_requests \
            .post(pim_request("adminAssign", group, other, end))
        await all_members(client, group, top=1)
        await pim_schedules(client, f"groupId eq '{group}'")
        await client.role_management.directory.role_definitions \
            .by_unified_role_definition_id(role).get()
        await client.role_management.directory.role_assignment_schedule_requests.post(
            UnifiedRoleAssignmentScheduleRequest(
                action=UnifiedRoleScheduleRequestActions.AdminAssign, principal_id=user,
                role_definition_id=role, directory_scope_id="/", schedule_info=schedule(end)))
        await client.role_management.directory.role_assignment_schedules.get(
            RequestConfiguration(query_parameters=RoleAssignmentSchedulesRequestBuilder
                                 .RoleAssignmentSchedulesRequestBuilderGetQueryParameters(
                                     filter=f"roleDefinitionId eq '{role}'",
                                     expand=["principal"])))
        with pytest.raises(ODataError):
            await client.groups.by_group_id(group).members.ref.post(ref(emulator, user))

    run(emulator, scenario)


def test_every_answer_parses_cleanly_with_the_sdk_models(emulator: GraphEmulator) -> None:
    exercise_everything(emulator)
    checked: set[str] = set()
    for answer in emulator.responses:
        if answer.body is None:
            continue
        model = model_for(answer.method, answer.path, answer.status)
        assert contract_problems(answer.body, model) == [], (answer.method, answer.path)
        checked.add(model.__name__)
    assert len(checked) == len(MODELS) + 1  # every served entity type, and the error body


def test_a_misspelt_property_fails_the_contract_check(emulator: GraphEmulator) -> None:
    exercise_everything(emulator)
    user_body = next(a.body for a in emulator.responses
                     if a.method == "GET" and re.fullmatch(r"/v1.0/users/[^/]+", a.path))
    misspelt = dict(user_body)
    misspelt["userPrincipleName"] = misspelt.pop("userPrincipalName")
    assert contract_problems(misspelt, User) == [
        "User: 'userPrincipleName' is not a property of User"]

    schedules = next(a.body for a in emulator.responses if a.path.endswith("/assignmentSchedules"))
    item = dict(schedules["value"][0])
    item["accessId"] = "Memberr"  # an enum value the model does not know
    item["scheduleInfo"] = {**item["scheduleInfo"], "expiry": item["scheduleInfo"]["expiration"]}
    problems = contract_problems({**schedules, "value": [item]},
                                 PrivilegedAccessGroupAssignmentScheduleCollectionResponse)
    assert sorted(problems) == sorted([
        "PrivilegedAccessGroupAssignmentScheduleCollectionResponse.value[0].accessId: "
        "value 'Memberr' was not understood",
        "PrivilegedAccessGroupAssignmentScheduleCollectionResponse.value[0].scheduleInfo: "
        "'expiry' is not a property of RequestSchedule",
    ])


def test_a_request_body_with_an_undeclared_property_is_refused(emulator: GraphEmulator) -> None:
    user, group = emulator.add_user("pat@corp.example"), emulator.add_group("pim")
    body = pim_request("adminAssign", group, user, NOW + timedelta(hours=1))
    body.additional_data = {"principalID": user}  # a misspelling the SDK would send as is
    with emulator.lax():  # strict mode would (rightly) flag the request itself
        error = odata_error(emulator, lambda c: c.identity_governance.privileged_access.group
                            .assignment_schedule_requests.post(body))
    assert (error.response_status_code, error.error.code) == (400, "BadRequest")
    assert "principalID" in error.error.message
