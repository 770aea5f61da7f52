"""Entra provider behaviours the conformance suite does not reach, through msgraph-sdk over HTTP
to the Graph emulator: mail lookup with quoting, extending a PIM assignment, Graph's own expiry,
the SDK's retries bounded to zero, and credential selection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import entra
from accessctl.providers.base import NotFound, ProviderError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "provider-token"
Make = Callable[..., entra.EntraProvider]


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    made = GraphEmulator(token=TOKEN)
    made.start()
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def make(graph: GraphEmulator) -> Iterator[Make]:
    providers: list[entra.EntraProvider] = []

    def build(**settings: object) -> entra.EntraProvider:
        instance = ProviderInstance("entra-t", "entra", {
            "graph_url": f"{graph.base_url}/v1.0", "auth": "static_token", **settings})
        provider = entra.create(instance, {"GRAPH_TOKEN": TOKEN})
        providers.append(provider)
        return provider

    yield build
    for provider in providers:
        provider.close()


def change(action: Action, target: Target, principal: str, hours: float = 4) -> Change:
    return Change(action, target, principal, "ent", "on-call", person="alice",
                  expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours),
                  requests=("access-requests/ent/alice-x.yaml",))


def posted(graph: GraphEmulator, path_end: str) -> list[dict[str, object]]:
    return [json.loads(e.body) for e in graph.log if e.method == "POST"
            and e.path.endswith(path_end) and e.body]


def test_lookup_by_mail_quotes_the_filter(graph: GraphEmulator, make: Make) -> None:
    provider = make(user_lookup="mail")
    user = graph.add_user("obrien@corp.onmicrosoft.com", mail="O'Brien@corp.example")
    group = graph.add_group("ops")
    target = Target.build("entra-t", "entra", "group", {"group": group})
    assert provider.grant(change(Action.GRANT, target, "o'brien@corp.example")).status \
        is Status.DONE
    assert graph.groups[group].members == [user]
    filters = [e.query for e in graph.log if e.path == "/v1.0/users"]
    assert "o%27%27brien" in filters[0].lower()  # the quote was doubled, not passed raw
    # observe names members the way identities.yaml does: by mail here.
    assert provider.observe([target])[target] == frozenset({"o'brien@corp.example"})
    with pytest.raises(NotFound, match="x' or mail eq 'y"):
        provider.grant(change(Action.GRANT, target, "x' or mail eq 'y"))


def test_pim_grant_extends_a_shorter_assignment(graph: GraphEmulator, make: Make) -> None:
    provider = make()
    graph.add_user("ann@corp.example")
    target = Target.build("entra-t", "entra", "pim_group",
                          {"group": graph.add_group("pim"), "access": "member"})
    short = change(Action.GRANT, target, "ann@corp.example", hours=1)
    first = provider.grant(short)
    assert (first.status, first.native_expiry_set) == (Status.DONE, True)
    same = provider.grant(short)
    assert (same.status, same.native_expiry_set) == (Status.UNCHANGED, True)
    longer = change(Action.GRANT, target, "ann@corp.example", hours=6)
    assert provider.grant(longer).status is Status.DONE
    actions = [b["action"] for b in posted(graph, "/assignmentScheduleRequests")]
    assert actions == ["adminAssign", "adminUpdate"]
    (held,) = graph.active_schedules("group", resource=target.param("group"))
    assert held.end == longer.expires_at
    body = posted(graph, "/assignmentScheduleRequests")[0]
    assert "access-requests/ent/alice-x.yaml" in str(body["justification"])


def test_pim_access_ends_when_entra_says_so(graph: GraphEmulator, make: Make) -> None:
    provider = make()
    graph.add_user("ben@corp.example")
    target = Target.build("entra-t", "entra", "pim_group", {"group": graph.add_group("pim")})
    wanted = change(Action.GRANT, target, "ben@corp.example", hours=2)
    provider.grant(wanted)
    assert provider.observe([target])[target] == frozenset({"ben@corp.example"})
    assert wanted.expires_at is not None
    graph.set_clock(wanted.expires_at + timedelta(seconds=1))
    assert provider.observe([target])[target] == frozenset()
    # The revoke job still runs after native expiry, and finds nothing to do.
    assert provider.revoke(change(Action.REVOKE, target, "ben@corp.example")).status \
        is Status.UNCHANGED


def test_directory_role_owner_scope_is_respected(graph: GraphEmulator, make: Make) -> None:
    provider = make()
    user = graph.add_user("cy@corp.example")
    role = graph.add_role("User Administrator")
    graph.add_role_assignment(role, user, "/administrativeUnits/au1")
    tenant = Target.build("entra-t", "entra", "directory_role", {"role": role, "scope": "/"})
    assert provider.observe([tenant])[tenant] == frozenset()
    assert provider.grant(change(Action.GRANT, tenant, "cy@corp.example")).status is Status.DONE
    body = posted(graph, "/roleAssignmentScheduleRequests")[0]
    assert (body["directoryScopeId"], body["roleDefinitionId"]) == ("/", role)


def test_sdk_does_not_retry_and_retry_after_reaches_the_engine(graph: GraphEmulator,
                                                               make: Make) -> None:
    provider = make()
    graph.add_user("di@corp.example")
    target = Target.build("entra-t", "entra", "group", {"group": graph.add_group("g")})
    graph.set_faults(Faults(script=["429"], retry_after=17))
    with pytest.raises(ProviderError) as raised:
        provider.observe([target])
    assert raised.value.retryable and raised.value.retry_after == 17
    assert graph.count() == 1  # one request: the SDK's retry handler stayed out of it
    graph.set_faults(Faults(script=["500"]))
    with pytest.raises(ProviderError) as raised:
        provider.observe([target])
    assert raised.value.retryable and not isinstance(raised.value, NotFound)
    graph.set_faults(Faults(script=["drop"]))
    with pytest.raises(ProviderError) as raised:
        provider.observe([target])
    assert raised.value.retryable


def test_non_retryable_errors_carry_graphs_message(graph: GraphEmulator, make: Make) -> None:
    provider = make()
    graph.add_user("ed@corp.example")
    target = Target.build("entra-t", "entra", "pim_group", {"group": graph.add_group("pim")})
    past = change(Action.GRANT, target, "ed@corp.example", hours=-1)
    with pytest.raises(ProviderError) as raised:
        provider.grant(past)
    assert not raised.value.retryable
    assert "InvalidScheduleRequest" in str(raised.value)


def test_a_member_named_by_object_id_is_removed_by_id(graph: GraphEmulator,
                                                      make: Make) -> None:
    provider = make(user_lookup="mail")
    no_mail = graph.add_user("svc@corp.example")  # no mail: observe names it by object id
    group = graph.add_group("g")
    graph.add_member(group, no_mail)
    target = Target.build("entra-t", "entra", "group", {"group": group})
    assert provider.observe([target])[target] == frozenset({no_mail})
    assert provider.revoke(change(Action.REVOKE, target, no_mail)).status is Status.DONE
    assert graph.groups[group].members == []


def test_wrong_token_is_a_plain_error(graph: GraphEmulator) -> None:
    instance = ProviderInstance("entra-t", "entra", {
        "graph_url": f"{graph.base_url}/v1.0", "auth": "static_token",
        "static_token_env": "OTHER"})
    provider = entra.create(instance, {"OTHER": "forged"})
    try:
        with pytest.raises(ProviderError) as raised:
            provider.observe([Target.build("entra-t", "entra", "group",
                                           {"group": graph.add_group("g")})])
        assert "401 InvalidAuthenticationToken" in str(raised.value)
        assert not raised.value.retryable
    finally:
        provider.close()


def test_credentials_come_from_the_environment_only() -> None:
    settings = {"tenant_id": "t", "client_id": "c"}
    github = {"ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions.example/x?a=1",
              "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime"}
    made = entra.make_credential(settings, github)
    assert type(made).__name__ == "ClientAssertionCredential"
    made = entra.make_credential(settings, {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"})
    assert type(made).__name__ == "WorkloadIdentityCredential"
    with pytest.raises(ProviderError, match="id-token: write"):
        entra.make_credential(settings, {})
    secret = {**settings, "auth": "client_secret", "client_secret_env": "MY_SECRET"}
    with pytest.raises(ProviderError, match="MY_SECRET is not set"):
        entra.make_credential(secret, {})
    assert type(entra.make_credential(secret, {"MY_SECRET": "s"})).__name__ == \
        "ClientSecretCredential"
    with pytest.raises(ProviderError, match="tenant_id and client_id"):
        entra.make_credential({}, github)


def test_schemas_are_valid_described_and_accept_their_examples() -> None:
    from jsonschema import Draft202012Validator

    schemas = {"settings": entra.SETTINGS_SCHEMA, **entra.TARGET_SCHEMAS}
    for schema in schemas.values():
        Draft202012Validator.check_schema(dict(schema))
        for name, prop in schema["properties"].items():
            assert prop.get("description") and prop.get("examples"), name
            checker = Draft202012Validator(dict(schema))
            for example in prop["examples"]:
                assert not list(checker.iter_errors(_required(schema) | {name: example})), name
    target = Draft202012Validator(dict(entra.TARGET_SCHEMAS["group"]))
    assert list(target.iter_errors({"group": "ops-admins"}))  # names are not object ids
    assert "GroupMember.ReadWrite.All" in entra.PERMISSIONS


def _required(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {name: schema["properties"][name]["examples"][0] for name in schema.get("required", [])}


def test_grants_look_people_up_in_bulk_then_write_once_each(graph: GraphEmulator,
                                                            make: Make) -> None:
    """prepare() finds 40 users in ceil(40 / 15) calls (Graph takes 15 values per `in`), so each
    grant is then one write; a name Graph does not know is still reported by its own grant."""
    provider = make()
    group = graph.add_group("ops")
    target = Target.build("entra-t", "entra", "group", {"group": group})
    people = [f"u{n:02d}@corp.example" for n in range(40)]
    for name in people:
        graph.add_user(name)
    changes = [change(Action.GRANT, target, name) for name in [*people, "nobody@corp.example"]]
    graph.reset_log()
    provider.prepare(changes)
    lookups = [e for e in graph.log if e.path == "/v1.0/users"]
    assert len(lookups) == 3 and all(e.status == 200 for e in lookups)
    graph.reset_log()
    outcomes = [provider.grant(c) for c in changes[:-1]]
    assert {o.status for o in outcomes} == {Status.DONE}
    assert [e.method for e in graph.log] == ["POST"] * 40  # no look-up left
    with pytest.raises(NotFound, match=r"nobody@corp\.example"):
        provider.grant(changes[-1])


def test_the_emulator_refuses_more_than_fifteen_values_in_one_clause(
        graph: GraphEmulator) -> None:
    import urllib.request
    from urllib.error import HTTPError
    from urllib.parse import quote

    names = ", ".join(f"'u{n}@corp.example'" for n in range(16))
    url = f"{graph.base_url}/v1.0/users?$filter=" + quote(f"userPrincipalName in ({names})")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400


def test_calls_in_flight_spread_over_small_pools(graph: GraphEmulator) -> None:
    """32 requests at once over the lanes: no pool holds more than its 8 connections, every
    lane is handed back when its response is read, and later requests reuse the connections."""
    import asyncio

    import httpx
    from accessctl.providers.http_lanes import LaneTransport

    graph.set_faults(Faults(latency=0.05))
    transport = LaneTransport()

    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            url = f"{graph.base_url}/v1.0/users"
            headers = {"Authorization": f"Bearer {TOKEN}"}
            for _ in range(3):
                answers = await asyncio.gather(*(client.get(url, headers=headers)
                                                 for _ in range(32)))
                assert {a.status_code for a in answers} == {200}
            return transport.in_flight()

    assert asyncio.run(run()) == [0] * 8
    assert len(graph.log) == 96
    assert len({e.peer for e in graph.log}) <= 64  # 8 lanes x 8 connections, kept alive


# -- the permission list, against Graph's per-route permissions --------------------------------
KINDS = {
    "group": lambda g: {"group": g.add_group("ops")},
    "pim_group": lambda g: {"group": g.add_group("pim-ops")},
    "directory_role": lambda g: {"role": g.add_role("Helpdesk Administrator")},
}


def full_cycle(graph: GraphEmulator, kind: str, permissions: set[str]) -> None:
    """Observe, grant, observe, revoke one kind with a token holding exactly `permissions`."""
    token = "scoped-" + "-".join(sorted(permissions))
    graph.token_permissions[token] = frozenset(permissions)
    graph.add_user(f"{kind}-{len(graph.users)}@corp.example")
    principal = f"{kind}-{len(graph.users) - 1}@corp.example"
    target = Target.build("entra-t", "entra", kind, KINDS[kind](graph))
    instance = ProviderInstance("entra-t", "entra", {
        "graph_url": f"{graph.base_url}/v1.0", "auth": "static_token"})
    provider = entra.create(instance, {"GRAPH_TOKEN": token})
    try:
        provider.observe([target])
        assert provider.grant(change(Action.GRANT, target, principal)).status is Status.DONE
        assert principal in provider.observe([target])[target]
        assert provider.revoke(change(Action.REVOKE, target, principal)).status is Status.DONE
    finally:
        provider.close()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_documented_permissions_are_enough_and_each_is_needed(graph: GraphEmulator,
                                                                   kind: str) -> None:
    needed = set(entra.REQUIRED_PERMISSIONS["any"]) | set(entra.REQUIRED_PERMISSIONS[kind])
    full_cycle(graph, kind, needed)
    for missing in sorted(needed):
        with pytest.raises(ProviderError, match="Authorization_RequestDenied"):
            full_cycle(graph, kind, needed - {missing})


def test_directory_roles_need_no_role_management_write() -> None:
    """RoleManagement.ReadWrite.Directory lets its holder assign any directory role: the
    schedules need RoleAssignmentSchedule.ReadWrite.Directory, and reading the role definition
    RoleManagement.Read.Directory (Microsoft Graph's API reference)."""
    assert set(entra.REQUIRED_PERMISSIONS["directory_role"]) == {
        "RoleAssignmentSchedule.ReadWrite.Directory", "RoleManagement.Read.Directory"}
    listed = {p for kind in entra.REQUIRED_PERMISSIONS.values() for p in kind}
    for permission in listed:
        assert f"`{permission}`" in entra.PERMISSIONS, permission
    assert "RoleManagement.ReadWrite.Directory`" not in entra.PERMISSIONS.split("never")[0]


# -- national clouds ---------------------------------------------------------------------------
@pytest.mark.parametrize(("graph_url", "authority"), [
    ("https://graph.microsoft.com/v1.0", "login.microsoftonline.com"),
    ("https://graph.microsoft.us/v1.0", "login.microsoftonline.us"),
    ("https://dod-graph.microsoft.us/v1.0", "login.microsoftonline.us"),
    ("https://microsoftgraph.chinacloudapi.cn/v1.0", "login.chinacloudapi.cn"),
])
def test_the_authority_follows_the_graph_cloud(graph_url: str, authority: str) -> None:
    assert entra.authority_host({"graph_url": graph_url}) == authority
    # An explicit setting wins (a cloud this table does not know).
    assert entra.authority_host({"graph_url": graph_url,
                                 "authority_host": "login.example.test"}) == "login.example.test"


def test_a_national_cloud_credential_asks_its_own_authority() -> None:
    settings = {"graph_url": "https://graph.microsoft.us/v1.0", "auth": "client_secret",
                "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "client_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}
    credential = entra.make_credential(settings, {"AZURE_CLIENT_SECRET": "s"})
    # azure-identity keeps the authority on the credential (or its client): no token request.
    held = vars(credential).get("_authority") or vars(credential._client).get("_authority")
    assert held == "https://login.microsoftonline.us"


# -- what PIM answers a schedule request with (its `status`) --------------------------------------
def pim_target(graph: GraphEmulator, kind: str) -> Target:
    if kind == "pim_group":
        return Target.build("entra-t", "entra", "pim_group", {"group": graph.add_group("pim")})
    return Target.build("entra-t", "entra", "directory_role",
                        {"role": graph.add_role("Reader"), "scope": "/"})


def held(graph: GraphEmulator, target: Target) -> list[Any]:
    if target.kind == "pim_group":
        return graph.active_schedules("group", resource=target.param("group"))
    return graph.active_schedules("role", resource=target.param("role"))


@pytest.mark.parametrize("kind", ["pim_group", "directory_role"])
def test_pim_pending_provisioning_is_polled_until_provisioned(
    graph: GraphEmulator, make: Make, kind: str
) -> None:
    provider = make()
    graph.add_user("cy@corp.example")
    target = pim_target(graph, kind)
    graph.pim_outcomes = [("PendingProvisioning", "PendingProvisioning", "Provisioned")]
    outcome = provider.grant(change(Action.GRANT, target, "cy@corp.example"))
    assert outcome.status is Status.DONE
    assert len(held(graph, target)) == 1
    polls = [e for e in graph.log if e.method == "GET" and "ScheduleRequests/" in e.path]
    assert len(polls) == 2  # read by id until Provisioned, then no more


@pytest.mark.parametrize("kind", ["pim_group", "directory_role"])
def test_pim_pending_approval_is_not_a_grant(graph: GraphEmulator, make: Make, kind: str) -> None:
    provider = make()
    graph.add_user("di@corp.example")
    target = pim_target(graph, kind)
    graph.pim_outcomes = [("PendingApproval",)]
    with pytest.raises(ProviderError, match="PendingApproval") as raised:
        provider.grant(change(Action.GRANT, target, "di@corp.example"))
    assert not raised.value.retryable  # an approver must act: retrying now changes nothing
    assert held(graph, target) == []


@pytest.mark.parametrize("status", ["Failed", "Denied", "Canceled"])
def test_pim_failed_or_denied_is_a_failure_naming_the_status(
    graph: GraphEmulator, make: Make, status: str
) -> None:
    provider = make()
    graph.add_user("ed@corp.example")
    target = pim_target(graph, "pim_group")
    graph.pim_outcomes = [("PendingProvisioning", status)]
    with pytest.raises(ProviderError, match=f"ended {status}") as raised:
        provider.grant(change(Action.GRANT, target, "ed@corp.example"))
    assert not raised.value.retryable
    assert held(graph, target) == []


def test_pim_still_provisioning_at_the_bound_is_retryable(graph: GraphEmulator,
                                                          make: Make) -> None:
    provider = make(timeout_seconds=1)
    graph.add_user("flo@corp.example")
    target = pim_target(graph, "pim_group")
    graph.pim_outcomes = [("PendingProvisioning",) * 50]
    with pytest.raises(ProviderError, match="still PendingProvisioning") as raised:
        provider.grant(change(Action.GRANT, target, "flo@corp.example"))
    assert raised.value.retryable
    polls = [e for e in graph.log if e.method == "GET" and "ScheduleRequests/" in e.path]
    assert 1 <= len(polls) <= 2  # bounded by the one-second budget (0.5 s, then 1 s)


def test_pim_revoke_of_an_assignment_pim_no_longer_holds_is_unchanged(
    graph: GraphEmulator, make: Make
) -> None:
    """The refusal's code is not trusted (Graph documents none for this case): the engine
    reads the schedules and finds nothing to remove."""
    provider = make()
    graph.add_user("gil@corp.example")
    target = pim_target(graph, "pim_group")
    provider.grant(change(Action.GRANT, target, "gil@corp.example"))
    graph.schedules.clear()  # ended in Entra between the plan and the revoke
    outcome = provider.revoke(change(Action.REVOKE, target, "gil@corp.example"))
    assert outcome.status is Status.UNCHANGED
