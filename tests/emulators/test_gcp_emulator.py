"""The GCP emulator, spoken to by the real google-api-python-client over HTTP, and the GCP
provider's own rules (which bindings are the engine's, etag races, expiry, error mapping).

Every JSON body the emulator answered (and every body the client sent) is checked against the
discovery document the client was built from, turned into JSON Schema with
`additionalProperties: false`, so a misspelt or wrongly typed field fails the test that caused it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.gcp import GcpEmulator, LoggedResponse
from accessctl.emulators.http import Faults
from accessctl.providers import gcp
from accessctl.providers.base import NotFound, ProviderError

from tests.contracts.gcp import schema_for

ROLE = "roles/viewer"
FUTURE = "2030-01-01T00:00:00Z"


# -- discovery documents as JSON Schema -----------------------------------------------------------
def _documents_dir() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


DOCUMENTS = {
    name: json.loads((_documents_dir() / f"{name}.json").read_text())
    for name in ("cloudresourcemanager.v3", "cloudidentity.v1")
}


@functools.cache
def _validator(document_name: str, name: str) -> jsonschema.protocols.Validator:
    schema = schema_for(DOCUMENTS[document_name], name)
    _checked_once(document_name)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _checked_once(document_name: str) -> None:
    """The converted schemas are themselves valid JSON Schema (checked once per document)."""
    jsonschema.Draft202012Validator.check_schema(schema_for(DOCUMENTS[document_name], "Empty"))


def validate(document: dict[str, Any], name: str, body: Any) -> None:
    """Validate with a cached validator: building one per body costs seconds."""
    document_name = next(k for k, v in DOCUMENTS.items() if v is document)
    _validator(document_name, name).validate(body)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "message", "status"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "status": {"enum": ["INVALID_ARGUMENT", "PERMISSION_DENIED", "NOT_FOUND", "ABORTED",
                                "ALREADY_EXISTS", "RESOURCE_EXHAUSTED", "INTERNAL",
                                "UNAVAILABLE", "METHOD_NOT_ALLOWED"]},
            "details": {"type": "array", "items": {
                "type": "object", "required": ["@type"],
                "properties": {"@type": {"type": "string"}},
            }},
        },
    }},
}


def _methods() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    def walk(resources: dict[str, Any], document: dict[str, Any]) -> Iterator[Any]:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                yield document, method
            yield from walk(resource.get("resources", {}), document)

    for document in DOCUMENTS.values():
        yield from walk(document["resources"], document)


def method_for(http_method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The discovery method whose flatPath the client turned into this request."""
    for document, method in _methods():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", re.escape(method["flatPath"]).replace(
            r"\{", "{").replace(r"\}", "}"))
        if method["httpMethod"] == http_method and re.fullmatch(f"/{pattern}", path):
            return document, method
    raise AssertionError(f"no discovery method for {http_method} {path}")


def check_logged(emulator: GcpEmulator) -> int:
    """Validate every request body and answer the emulator logged; returns how many answers."""
    for entry in emulator.log:
        if entry.status == 0:
            continue
        document, method = method_for(entry.method, entry.path)
        if entry.body and "request" in method:
            validate(document, method["request"]["$ref"], json.loads(entry.body))
    for answer in emulator.responses:
        document, method = method_for(answer.method, answer.path)
        if answer.status == 200:
            validate(document, method["response"]["$ref"], answer.body)
        else:
            jsonschema.validate(answer.body, ERROR_SCHEMA)
    return len(emulator.responses)


# -- fixtures -----------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(clock: Clock) -> Iterator[GcpEmulator]:
    made = GcpEmulator(clock=clock)
    made.start()
    try:
        yield made
        # Every answer of every test is checked against the discovery documents.
        check_logged(made)
    finally:
        made.stop()


def _client(emulator: GcpEmulator, name: str, version: str) -> Any:
    from google.auth import credentials
    from googleapiclient.discovery import build

    anonymous: Any = credentials.AnonymousCredentials
    return build(name, version, credentials=anonymous(),
                 client_options={"api_endpoint": emulator.base_url + "/"},
                 static_discovery=True, cache_discovery=False)


@pytest.fixture
def crm(emulator: GcpEmulator) -> Any:
    return _client(emulator, "cloudresourcemanager", "v3")


@pytest.fixture
def identity(emulator: GcpEmulator) -> Any:
    return _client(emulator, "cloudidentity", "v1")


def _error(call: Any) -> tuple[int, dict[str, Any], Any]:
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as raised:
        call.execute(num_retries=0)
    return raised.value.resp.status, json.loads(raised.value.content)["error"], raised.value.resp


def _conditional(member: str, title: str = "t", when: str = FUTURE) -> dict[str, Any]:
    return {"role": ROLE, "members": [member],
            "condition": {"title": title, "expression": f'request.time < timestamp("{when}")'}}


# -- the checker itself -------------------------------------------------------------------------
def test_checker_rejects_misspelt_and_mistyped_fields() -> None:
    policy = _validator("cloudresourcemanager.v3", "Policy")
    policy.validate({"version": 3, "etag": "BwX=", "bindings": [
        {"role": ROLE, "members": ["user:a@example.com"]}]})
    with pytest.raises(jsonschema.ValidationError, match="member"):
        policy.validate({"bindings": [{"role": ROLE, "member": ["user:a@example.com"]}]})
    with pytest.raises(jsonschema.ValidationError):
        policy.validate({"version": "3"})
    membership = _validator("cloudidentity.v1", "Membership")
    with pytest.raises(jsonschema.ValidationError):
        membership.validate({"type": "PERSON"})
    with pytest.raises(jsonschema.ValidationError):
        membership.validate({"roles": [{"name": "MEMBER", "expiryDetail": {
            "expireTime": "tomorrow"}}]})


def test_checker_fails_on_a_wrong_answer_logged_by_the_emulator(
    emulator: GcpEmulator, crm: Any
) -> None:
    emulator.add_project("checked")
    crm.projects().getIamPolicy(resource="projects/checked", body={}).execute()
    assert check_logged(emulator) == 1
    with emulator.lock:
        emulator.responses.append(LoggedResponse(
            "POST", "/v3/projects/checked:getIamPolicy", 200, {"version": 1, "etags": "x"}))
    with pytest.raises(jsonschema.ValidationError, match="etags"):
        check_logged(emulator)
    with emulator.lock:
        emulator.responses.pop()


def test_checker_maps_paths_to_discovery_methods() -> None:
    assert method_for("POST", "/v3/folders/12:setIamPolicy")[1]["id"] == \
        "cloudresourcemanager.folders.setIamPolicy"
    assert method_for("GET", "/v1/groups/abc/memberships:lookup")[1]["id"] == \
        "cloudidentity.groups.memberships.lookup"
    assert method_for("POST", "/v1/groups/a/memberships/b:modifyMembershipRoles")[1]["id"] == \
        "cloudidentity.groups.memberships.modifyMembershipRoles"


# -- Resource Manager IAM -----------------------------------------------------------------------
def test_policy_round_trip_with_condition_needs_version_3(emulator: GcpEmulator, crm: Any) -> None:
    emulator.add_project("p1")
    emulator.add_user("a@example.com")
    projects = crm.projects()
    empty = projects.getIamPolicy(resource="projects/p1",
                                  body={"options": {"requestedPolicyVersion": 3}}).execute()
    assert empty["version"] == 1 and empty["etag"] and "bindings" not in empty

    status, error, _ = _error(projects.setIamPolicy(resource="projects/p1", body={"policy": {
        "etag": empty["etag"], "bindings": [_conditional("user:a@example.com")]}}))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")

    written = projects.setIamPolicy(resource="projects/p1", body={"policy": {
        "version": 3, "etag": empty["etag"], "bindings": [_conditional("user:a@example.com")]},
        "updateMask": "bindings,etag,version"}).execute()
    assert written["version"] == 3 and written["etag"] != empty["etag"]

    status, error, _ = _error(projects.getIamPolicy(resource="projects/p1", body={}))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")
    read = projects.getIamPolicy(resource="projects/p1",
                                 body={"options": {"requestedPolicyVersion": 3}}).execute()
    assert read["bindings"] == [_conditional("user:a@example.com")]
    assert emulator.count("POST", "/v3/projects/p1:") == 5


def test_stale_etag_is_aborted_and_every_write_changes_the_etag(
    emulator: GcpEmulator, crm: Any
) -> None:
    emulator.add_project("p2")
    emulator.add_user("a@example.com")
    projects = crm.projects()
    first = projects.getIamPolicy(resource="projects/p2", body={}).execute()
    body = {"policy": {"etag": first["etag"], "bindings": [
        {"role": ROLE, "members": ["user:a@example.com"]}]}}
    second = projects.setIamPolicy(resource="projects/p2", body=body).execute()
    status, error, _ = _error(projects.setIamPolicy(resource="projects/p2", body=body))
    assert (status, error["status"]) == (409, "ABORTED")
    body["policy"]["etag"] = second["etag"]
    third = projects.setIamPolicy(resource="projects/p2", body=body).execute()
    assert len({first["etag"], second["etag"], third["etag"]}) == 3
    assert third["bindings"] == second["bindings"]


def test_update_mask_is_honoured(emulator: GcpEmulator, crm: Any) -> None:
    emulator.add_project("p3")
    emulator.add_binding("projects/p3", ROLE, "user:keep@example.com")
    projects = crm.projects()
    audit = [{"service": "allServices", "auditLogConfigs": [{"logType": "ADMIN_READ"}]}]
    # The default mask (bindings, etag) ignores auditConfigs...
    projects.setIamPolicy(resource="projects/p3", body={"policy": {
        "bindings": [{"role": ROLE, "members": ["user:keep@example.com"]}],
        "auditConfigs": audit}}).execute()
    assert "auditConfigs" not in emulator.policy("projects/p3")
    # ...and a mask naming only auditConfigs leaves the bindings as they were.
    projects.setIamPolicy(resource="projects/p3", body={
        "policy": {"auditConfigs": audit}, "updateMask": "auditConfigs"}).execute()
    policy = emulator.policy("projects/p3")
    assert policy["auditConfigs"] == audit
    assert policy["bindings"] == [{"role": ROLE, "members": ["user:keep@example.com"]}]
    status, error, _ = _error(projects.setIamPolicy(resource="projects/p3", body={
        "policy": {}, "updateMask": "owners"}))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")


def test_unknown_resource_and_unknown_user(emulator: GcpEmulator, crm: Any) -> None:
    emulator.add_project("p4")
    status, error, _ = _error(crm.projects().getIamPolicy(resource="projects/nope", body={}))
    assert (status, error["status"]) == (403, "PERMISSION_DENIED")
    status, error, _ = _error(crm.folders().getIamPolicy(resource="folders/1", body={}))
    assert status == 403
    status, error, _ = _error(crm.projects().setIamPolicy(resource="projects/p4", body={
        "policy": {"bindings": [{"role": ROLE, "members": ["user:ghost@example.com"]}]}}))
    assert status == 400 and error["message"] == "User ghost@example.com does not exist."


def test_folders_and_organizations_are_served(emulator: GcpEmulator, crm: Any) -> None:
    emulator.add_folder("123")
    emulator.add_organization("456")
    emulator.add_user("a@example.com")
    for collection, resource in ((crm.folders(), "folders/123"),
                                 (crm.organizations(), "organizations/456")):
        policy = collection.getIamPolicy(resource=resource, body={}).execute()
        collection.setIamPolicy(resource=resource, body={"policy": {
            "etag": policy["etag"], "version": 3,
            "bindings": [_conditional("user:a@example.com")]}}).execute()
        assert emulator.policy(resource)["version"] == 3


def test_faults_answer_like_google(emulator: GcpEmulator, crm: Any) -> None:
    emulator.add_project("p5")
    emulator.set_faults(Faults(script=["429", "503"], retry_after=7))
    call = crm.projects().getIamPolicy(resource="projects/p5", body={})
    status, error, resp = _error(call)
    assert (status, error["status"], resp["retry-after"]) == (429, "RESOURCE_EXHAUSTED", "7")
    status, error, _ = _error(call)
    assert (status, error["status"]) == (503, "UNAVAILABLE")
    jsonschema.validate({"error": error}, ERROR_SCHEMA)
    assert call.execute()["etag"]


# -- Cloud Identity -----------------------------------------------------------------------------
def _member_body(email: str, expire: str | None = FUTURE) -> dict[str, Any]:
    role: dict[str, Any] = {"name": "MEMBER"}
    if expire:
        role["expiryDetail"] = {"expireTime": expire}
    return {"preferredMemberKey": {"id": email}, "roles": [role]}


def test_group_lookup_and_membership_life_cycle(emulator: GcpEmulator, identity: Any) -> None:
    emulator.add_group("eng@example.com")
    emulator.add_user("a@example.com")
    groups = identity.groups()
    group = groups.lookup(groupKey_id="eng@example.com").execute()["name"]
    assert group.startswith("groups/")
    status, error, _ = _error(groups.lookup(groupKey_id="none@example.com"))
    assert (status, error["status"]) == (403, "PERMISSION_DENIED")
    assert "(or it may not exist)" in error["message"]

    memberships = groups.memberships()
    operation = memberships.create(parent=group, body=_member_body("a@example.com")).execute()
    assert operation["done"] is True
    made = operation["response"]
    assert made["preferredMemberKey"] == {"id": "a@example.com"}
    assert made["roles"] == [{"name": "MEMBER", "expiryDetail": {"expireTime": FUTURE}}]
    status, error, _ = _error(memberships.create(parent=group, body=_member_body("a@example.com")))
    assert (status, error["status"]) == (409, "ALREADY_EXISTS")

    name = memberships.lookup(parent=group, memberKey_id="a@example.com").execute()["name"]
    assert name == made["name"]
    later = "2031-02-03T04:05:06Z"
    modified = memberships.modifyMembershipRoles(name=name, body={"updateRolesParams": [{
        "fieldMask": "expiryDetail.expireTime",
        "membershipRole": {"name": "MEMBER", "expiryDetail": {"expireTime": later}}}]}).execute()
    assert modified["membership"]["roles"][0]["expiryDetail"]["expireTime"] == later

    assert memberships.delete(name=name).execute()["done"] is True
    status, error, _ = _error(memberships.lookup(parent=group, memberKey_id="a@example.com"))
    assert (status, error["status"]) == (404, "NOT_FOUND")
    status, _, _ = _error(memberships.delete(name=name))
    assert status == 404


def test_membership_rules(emulator: GcpEmulator, identity: Any, clock: Clock) -> None:
    group = emulator.add_group("rules@example.com")
    emulator.add_user("a@example.com")
    memberships = identity.groups().memberships()
    past = "2029-06-01T11:00:00Z"
    status, _, _ = _error(memberships.create(parent=group, body=_member_body("a@example.com",
                                                                             past)))
    assert status == 400
    status, _, _ = _error(memberships.create(parent=group, body={
        "preferredMemberKey": {"id": "a@example.com"},
        "roles": [{"name": "OWNER", "expiryDetail": {"expireTime": FUTURE}}]}))
    assert status == 400
    status, error, _ = _error(memberships.create(parent=group,
                                                 body=_member_body("ghost@example.com")))
    assert (status, error["status"]) == (404, "NOT_FOUND")
    name = memberships.create(parent=group, body=_member_body("a@example.com", None)).execute()[
        "response"]["name"]
    status, _, _ = _error(memberships.modifyMembershipRoles(name=name, body={
        "updateRolesParams": [{"fieldMask": "name", "membershipRole": {"name": "MEMBER"}}]}))
    assert status == 400


def test_listing_pages_and_views(emulator: GcpEmulator, identity: Any) -> None:
    group = emulator.add_group("big@example.com")
    emails = [emulator.add_user(f"u{i}@example.com") for i in range(7)]
    for email in emails:
        emulator.add_membership("big@example.com", email,
                                datetime(2030, 1, 1, tzinfo=UTC))
    memberships = identity.groups().memberships()
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = memberships.list(parent=group, view="FULL", pageSize=3, pageToken=token).execute()
        pages += 1
        for membership in page["memberships"]:
            assert membership["roles"][0]["expiryDetail"]["expireTime"] == FUTURE
            seen.append(membership["preferredMemberKey"]["id"])
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(emails)
    basic = memberships.list(parent=group).execute()["memberships"]
    assert len(basic) == 7 and all("expiryDetail" not in m["roles"][0] for m in basic)
    status, _, _ = _error(memberships.list(parent=group, view="FULL", pageSize=501))
    assert status == 400
    status, _, _ = _error(memberships.list(parent=group, pageToken="garbage"))
    assert status == 400


def test_expired_memberships_disappear(emulator: GcpEmulator, identity: Any,
                                       clock: Clock) -> None:
    group = emulator.add_group("short@example.com")
    emulator.add_user("a@example.com")
    emulator.add_user("b@example.com")
    memberships = identity.groups().memberships()
    memberships.create(parent=group, body=_member_body("a@example.com",
                                                       "2029-06-01T13:00:00Z")).execute()
    memberships.create(parent=group, body=_member_body("b@example.com", None)).execute()
    listed = memberships.list(parent=group, view="FULL").execute()["memberships"]
    assert len(listed) == 2
    clock.now += timedelta(hours=1, seconds=1)
    listed = memberships.list(parent=group, view="FULL").execute()["memberships"]
    assert [m["preferredMemberKey"]["id"] for m in listed] == ["b@example.com"]
    status, _, _ = _error(memberships.lookup(parent=group, memberKey_id="a@example.com"))
    assert status == 404


# -- the provider on the emulator ---------------------------------------------------------------
def _provider(emulator: GcpEmulator) -> gcp.GcpProvider:
    return gcp.create(ProviderInstance("gcp-x", "gcp", {"endpoint": emulator.base_url + "/"}), {})


def _binding_target(resource: str) -> Target:
    return Target.build("gcp-x", "gcp", "iam_binding", {"resource": resource, "role": ROLE})


def _change(action: Action, target: Target, principal: str,
            expires: datetime = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)) -> Change:
    return Change(action, target, principal, "prod-viewer", "test", person="alice",
                  expires_at=expires, requests=("access-requests/prod-viewer/alice-inc-1.yaml",))


def test_grant_writes_a_recognisable_expiring_binding(emulator: GcpEmulator) -> None:
    resource = emulator.add_project("prov-1")
    emulator.add_user("alice@example.com")
    target = _binding_target(resource)
    outcome = _provider(emulator).grant(_change(Action.GRANT, target, "Alice@example.com"))
    assert outcome.status is Status.DONE and outcome.native_expiry_set
    policy = emulator.policy(resource)
    assert policy["version"] == 3
    (binding,) = policy["bindings"]
    assert binding["members"] == ["user:alice@example.com"]
    condition = binding["condition"]
    assert condition["title"] == "accessctl: prod-viewer for alice"
    assert "access-requests/prod-viewer/alice-inc-1.yaml" in condition["description"]
    assert condition["expression"] == 'request.time < timestamp("2030-01-01T09:30:00Z")'
    # The set call carried the etag it read, version 3 and the update mask.
    (sent,) = [json.loads(e.body) for e in emulator.log if e.path.endswith(":setIamPolicy")]
    assert sent["updateMask"] == "bindings,etag,version"
    assert sent["policy"]["version"] == 3 and sent["policy"]["etag"]


def test_grant_again_is_unchanged_and_an_extension_replaces_the_binding(
    emulator: GcpEmulator,
) -> None:
    resource = emulator.add_project("prov-2")
    emulator.add_user("alice@example.com")
    target = _binding_target(resource)
    provider = _provider(emulator)
    provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    again = provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    assert again.status is Status.UNCHANGED
    assert emulator.count("POST", f"/v3/{resource}:setIamPolicy") == 1
    later = datetime(2030, 1, 2, tzinfo=UTC)
    extended = provider.grant(_change(Action.GRANT, target, "alice@example.com", later))
    assert extended.status is Status.DONE
    (binding,) = emulator.policy(resource)["bindings"]
    assert gcp.condition_expiry(binding) == "2030-01-02T00:00:00Z"


def test_revoke_and_observe_leave_bindings_that_are_not_the_engines(
    emulator: GcpEmulator,
) -> None:
    resource = emulator.add_project("prov-3")
    emulator.add_user("alice@example.com")
    emulator.add_binding(resource, ROLE, "user:alice@example.com")  # standing access
    other_tool = {"title": "break-glass", "expression": f'request.time < timestamp("{FUTURE}")'}
    emulator.add_binding(resource, ROLE, "user:alice@example.com", other_tool)
    emulator.add_binding(resource, ROLE, "user:bob@example.com")
    target = _binding_target(resource)
    provider = _provider(emulator)

    assert provider.observe([target])[target] == frozenset()
    # Nothing of the engine's to remove: no write at all.
    assert provider.revoke(_change(Action.REVOKE, target, "alice@example.com")).status \
        is Status.UNCHANGED
    assert emulator.count("POST", f"/v3/{resource}:setIamPolicy") == 0

    provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    assert provider.observe([target])[target] == frozenset({"alice@example.com"})
    outcome = provider.revoke(_change(Action.REVOKE, target, "alice@example.com"))
    assert outcome.status is Status.DONE
    bindings = emulator.policy(resource)["bindings"]
    assert {"role": ROLE, "members": ["user:alice@example.com", "user:bob@example.com"]} \
        in bindings
    assert {"role": ROLE, "members": ["user:alice@example.com"], "condition": other_tool} \
        in bindings
    assert len(bindings) == 2


def test_observe_lists_expired_engine_bindings_for_cleanup(emulator: GcpEmulator) -> None:
    resource = emulator.add_project("prov-4")
    emulator.add_binding(resource, ROLE, "user:old@example.com", {
        "title": "accessctl: prod-viewer for old",
        "expression": 'request.time < timestamp("2020-01-01T00:00:00Z")'})
    emulator.add_binding(resource, "roles/editor", "user:other-role@example.com", {
        "title": "accessctl: x for y", "expression": f'request.time < timestamp("{FUTURE}")'})
    target = _binding_target(resource)
    assert _provider(emulator).observe([target])[target] == frozenset({"old@example.com"})


def test_etag_races_are_retried_by_re_reading_and_bounded(emulator: GcpEmulator) -> None:
    resource = emulator.add_project("prov-5")
    emulator.add_user("alice@example.com")
    target = _binding_target(resource)
    provider = _provider(emulator)
    emulator.inject_etag_conflicts(2)
    assert provider.grant(_change(Action.GRANT, target, "alice@example.com")).status \
        is Status.DONE
    assert emulator.count("POST", f"/v3/{resource}:getIamPolicy") == 3
    assert emulator.count("POST", f"/v3/{resource}:setIamPolicy") == 3

    emulator.reset_log()
    emulator.inject_etag_conflicts(100)
    with pytest.raises(ProviderError) as raised:
        provider.revoke(_change(Action.REVOKE, target, "alice@example.com"))
    assert raised.value.retryable
    assert emulator.count("POST", f"/v3/{resource}:setIamPolicy") == gcp.ETAG_ATTEMPTS
    emulator.inject_etag_conflicts(0)


def test_errors_map_to_the_engines(emulator: GcpEmulator) -> None:
    resource = emulator.add_project("prov-6")
    emulator.add_user("alice@example.com")
    target = _binding_target(resource)
    provider = _provider(emulator)
    emulator.set_faults(Faults(script=["429"], retry_after=7))
    with pytest.raises(ProviderError) as raised:
        provider.observe([target])
    assert raised.value.retryable and raised.value.retry_after == 7.0
    emulator.set_faults(Faults(script=["503"]))
    with pytest.raises(ProviderError) as raised:
        provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    assert raised.value.retryable
    # The client made exactly one attempt per call: the engine's loop is the only retry.
    assert emulator.count("POST", f"/v3/{resource}:getIamPolicy") == 2

    missing = _binding_target("projects/absent")
    with pytest.raises(ProviderError) as raised:
        provider.grant(_change(Action.GRANT, missing, "alice@example.com"))
    assert not raised.value.retryable and "does not have permission" in str(raised.value)
    with pytest.raises(NotFound, match=re.escape("ghost@example.com")):
        provider.grant(_change(Action.GRANT, target, "ghost@example.com"))


def test_group_grant_sets_or_updates_the_expiry(emulator: GcpEmulator, clock: Clock) -> None:
    emulator.add_group("ops@example.com")
    emulator.add_user("alice@example.com")
    emulator.add_membership("ops@example.com", "alice@example.com")  # no expiry yet
    target = Target.build("gcp-x", "gcp", "group_membership", {"group": "ops@example.com"})
    provider = _provider(emulator)
    first = provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    assert first.status is Status.DONE and first.native_expiry_set
    assert emulator.count("POST", "/v1/groups/") == 1  # modifyMembershipRoles, not create
    (held,) = emulator.memberships("ops@example.com")
    assert held["roles"] == [{"name": "MEMBER",
                              "expiryDetail": {"expireTime": "2030-01-01T09:30:00Z"}}]
    again = provider.grant(_change(Action.GRANT, target, "alice@example.com"))
    assert again.status is Status.UNCHANGED
    assert emulator.count("POST", "/v1/groups/") == 1
    # Google ends the membership itself; observe then no longer sees it, and revoke is a no-op.
    clock.now = datetime(2030, 1, 1, 9, 30, 1, tzinfo=UTC)
    assert provider.observe([target])[target] == frozenset()
    assert provider.revoke(_change(Action.REVOKE, target, "alice@example.com")).status \
        is Status.UNCHANGED


def test_group_owners_and_managers_are_left_alone(emulator: GcpEmulator) -> None:
    emulator.add_group("own@example.com")
    emulator.add_user("boss@example.com")
    emulator.add_membership("own@example.com", "boss@example.com", roles=("MEMBER", "OWNER"))
    target = Target.build("gcp-x", "gcp", "group_membership", {"group": "own@example.com"})
    provider = _provider(emulator)
    assert provider.grant(_change(Action.GRANT, target, "boss@example.com")).status \
        is Status.UNCHANGED
    assert provider.revoke(_change(Action.REVOKE, target, "boss@example.com")).status \
        is Status.UNCHANGED
    (held,) = emulator.memberships("own@example.com")
    assert held["roles"] == [{"name": "MEMBER"}, {"name": "OWNER"}]


def test_missing_group_is_a_clear_error(emulator: GcpEmulator) -> None:
    target = Target.build("gcp-x", "gcp", "group_membership", {"group": "nope@example.com"})
    with pytest.raises(ProviderError) as raised:
        _provider(emulator).observe([target])
    assert not raised.value.retryable and "nope@example.com" in str(raised.value)


def test_anonymous_credentials_only_for_a_local_endpoint() -> None:
    assert gcp.uses_anonymous_credentials("http://127.0.0.1:8085/")
    assert gcp.uses_anonymous_credentials("http://localhost:1/")
    assert not gcp.uses_anonymous_credentials(None)
    assert not gcp.uses_anonymous_credentials("https://cloudresourcemanager.googleapis.com/")
    assert not gcp.uses_anonymous_credentials("https://127.0.0.1.evil.example/")


def test_settings_and_target_schemas_are_described() -> None:
    for schema in (gcp.SETTINGS_SCHEMA, *gcp.TARGET_SCHEMAS.values()):
        for prop in schema["properties"].values():
            assert prop["description"] and prop["examples"]
    resource = re.compile(gcp.TARGET_SCHEMAS["iam_binding"]["properties"]["resource"]["pattern"])
    assert resource.match("projects/payments-prod") and resource.match("folders/1")
    assert not resource.match("projects/a/../../b") and not resource.match("billingAccounts/1")
