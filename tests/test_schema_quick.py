"""The quick schema check answers "valid" exactly when jsonschema does, and never alone says
"valid" to something jsonschema refuses."""

from __future__ import annotations

from typing import Any

import pytest
from accessctl import schemas
from accessctl.providers import load_module
from accessctl.schemas.quick import compile_check
from hypothesis import given, settings
from hypothesis import strategies as st

TIME = "2026-11-23T12:00:00Z"
VALID_REQUEST = {"requester": "alice", "entitlement": "prod-admin", "reason": "debugging",
                 "ticket": "INC-1", "starts_at": "2026-11-23T10:00:00+02:00", "expires_at": TIME}

REQUESTS: list[tuple[Any, bool]] = [
    (VALID_REQUEST, True),
    ({"requester": "alice", "entitlement": "prod-admin", "expires_at": TIME}, True),
    ({"requester": "a" * 63, "entitlement": "x", "expires_at": "2026-11-23 12:00+0200"}, True),
    ({"requester": "a" * 64, "entitlement": "x", "expires_at": TIME}, False),
    ({"requester": "alice\n", "entitlement": "x", "expires_at": TIME}, True),  # re.search, '$'
    ({"requester": "alice", "entitlement": "Prod", "expires_at": TIME}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": "2026-11-23T12:00:00"}, False),
    ({"requester": "alice", "entitlement": "x"}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "approved": True}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "ticket": 4211}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "reason": ""}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "reason": "r" * 2000}, True),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "reason": "r" * 2001}, False),
    ({"requester": "alice", "entitlement": "x", "expires_at": TIME, "reason": None}, False),
    ({"requester": True, "entitlement": "x", "expires_at": TIME}, False),
    ({"requester": ["alice"], "entitlement": "x", "expires_at": TIME}, False),
    (["requester", "alice"], False),
    ("alice", False),
    ({}, False),
]

IDENTITIES: list[tuple[Any, bool]] = [
    ({"people": {"alice": {"aws": "alice"}}, "teams": {"@acme/sre": ["alice"]},
      "admins": ["@acme/sre"], "limits": {"max_active_grants": 5}}, True),
    ({"people": {}}, True),
    ({"people": {"alice": {}}}, True),
    ({"people": {"-alice": {}}}, False),
    ({"people": {"alice": {"AWS": "alice"}}}, False),
    ({"people": {"alice": {"aws": ""}}}, False),
    ({"people": {"alice": {"aws": 12}}}, False),
    ({"people": {"alice": None}}, False),
    ({"people": {}, "teams": {"sre": ["alice"]}}, False),
    ({"people": {}, "teams": {"@acme/sre": ["alice", "alice"]}}, False),
    ({"people": {}, "limits": {"max_active_grants": 0}}, False),
    ({"people": {}, "limits": {"max_active_grants": True}}, False),
    ({"people": {}, "limits": {"max_active_grants": 1000}}, True),
    ({"teams": {}}, False),
]

ENTITLEMENTS: list[tuple[Any, bool]] = [
    ({"name": "prod-admin", "provider": "aws-test", "target": {"kind": "iam_group", "group": "g"},
      "eligible": ["@acme/sre", "mallory"], "approvers": ["@acme/security"], "approvals": 1,
      "max_duration": "4h", "require_ticket": True, "ticket_pattern": "^INC-[0-9]+$"}, True),
    ({"name": "x", "provider": "p", "target": {"kind": "k"}, "eligible": ["a"],
      "approvers": ["b"], "max_duration": "PT4H", "ticket_pattern": "(unclosed"}, False),
    ({"name": "x", "provider": "p", "target": {"kind": "k"}, "eligible": [],
      "approvers": ["b"], "max_duration": "4h"}, False),
    ({"name": "x", "provider": "p", "target": {"kind": "k"}, "eligible": ["a"],
      "approvers": ["b"], "max_duration": "4h", "approvals": 1.0}, True),  # 1.0 is an integer
    ({"name": "x", "provider": "p", "target": {}, "eligible": ["a"], "approvers": ["b"],
      "max_duration": "4h"}, False),
]

PROVIDERS: list[tuple[Any, bool]] = [
    ({"providers": {"aws-main": {"platform": "aws", "region": "us-east-1"}}}, True),
    ({"providers": {"aws-main": {"platform": "nope"}}}, False),
    ({"providers": {"AWS": {"platform": "aws"}}}, False),
    ({"providers": {"aws-main": {}}}, False),
]

TABLE = [("access-request", d, v) for d, v in REQUESTS] + \
    [("identities", d, v) for d, v in IDENTITIES] + \
    [("entitlement", d, v) for d, v in ENTITLEMENTS] + \
    [("providers", d, v) for d, v in PROVIDERS]


def quick(name: str) -> Any:
    check = compile_check(schemas.schema(name))
    assert check is not None, f"{name} has no quick check"
    return check


@pytest.mark.parametrize(("name", "document", "valid"), TABLE)
def test_the_table_agrees_with_jsonschema(name: str, document: Any, valid: bool) -> None:
    assert schemas.validator(name).is_valid(document) is valid
    answer = quick(name)(document)
    if answer:
        assert valid
    # Where the quick check is sure enough, it must also be fast: every plain valid case.
    if valid and not (name == "entitlement" and document.get("approvals") == 1.0):
        assert answer
    assert (schemas.errors(name, document) == []) is valid


def test_errors_still_come_from_jsonschema() -> None:
    bad = {**VALID_REQUEST, "approved": True}
    assert [e.validator for e in schemas.errors("access-request", bad)] == [
        "additionalProperties"]


def test_provider_schemas_are_cached_and_checked() -> None:
    aws = load_module("aws")
    assert schemas.validator_for(aws.SETTINGS_SCHEMA) is schemas.validator_for(aws.SETTINGS_SCHEMA)
    for fragment in [aws.SETTINGS_SCHEMA, *aws.TARGET_SCHEMAS.values()]:
        check = compile_check(fragment)
        assert check is not None
        for candidate in ({}, {"group": "g"}, {"region": "us-east-1"}, {"group": 1}, {"x": "y"}):
            assert schemas.validator_for(fragment).is_valid(candidate) or not check(candidate)
            assert (schemas.errors_for(fragment, candidate) == []) is \
                schemas.validator_for(fragment).is_valid(candidate)


def test_an_unknown_keyword_means_no_quick_check() -> None:
    assert compile_check({"type": "object", "oneOf": [{"required": ["a"]}]}) is None
    assert compile_check({"type": "string", "format": "uri"}) is None
    assert compile_check({"$ref": "#/x"}) is None


STRINGS = st.sampled_from([
    "alice", "alice\n", "Alice.B_c-d", "-alice", "a" * 63, "a" * 64, "", " ", "prod-admin",
    "Prod", "x" * 2001, TIME, TIME + "\n", "2026-11-23T12:00:00", "2026-11-23t12:00+02:00",
    "@acme/sre", "aws", "4h", "P1DT2H", "1.0", "true", "é", "\x85", "INC-1",
])
SCALARS = st.one_of(STRINGS, st.text(max_size=4), st.integers(-2, 2000), st.booleans(),
                    st.none(), st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                   st.dictionaries(STRINGS, SCALARS, max_size=2))
REQUEST_KEYS = st.sampled_from([*schemas.schema("access-request")["properties"], "approved"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(REQUEST_KEYS, VALUES, max_size=7))
def test_requests_quick_check_is_exact(document: dict[str, Any]) -> None:
    # The request schema is wholly inside the quick check's subset: it decides exactly.
    assert quick("access-request")(document) is schemas.validator("access-request").is_valid(
        document)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["people", "teams", "admins", "limits", "x"]),
                       st.one_of(VALUES, st.dictionaries(
                           STRINGS, st.one_of(VALUES, st.dictionaries(STRINGS, SCALARS)),
                           max_size=3)), max_size=4))
def test_identities_quick_check_never_says_valid_alone(document: dict[str, Any]) -> None:
    if quick("identities")(document):
        assert schemas.validator("identities").is_valid(document)
