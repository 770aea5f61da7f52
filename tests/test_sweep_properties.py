"""Hostile request files never stop the revoke sweep (invariant 13), generated.

A repository holds ordinary requests whose grants exist on moto (two expired, one still running)
next to one to three generated files: times at and past the ends of the calendar, malformed
times, huge strings, odd unicode, wrong types, nesting, raw bytes, and valid requests of someone
else. Whatever they hold, `accessctl revoke --confirm` must exit 0 or 1 (never 3, no traceback),
remove both expired grants, keep the running one, and grant nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

THREE_PM = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
GLASS = "break_glass:\n  max_duration: 2h\n  review_within: 30m\n"
SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

IDENTITIES = """\
people:
  alice: {aws: alice}
  bob: {aws: bob}
  carol: {aws: carol}
  dave: {aws: dave}
  mallory: {}
teams:
  "@acme/sre": [alice, bob, dave]
  "@acme/security": [carol]
admins: ["@acme/security"]
"""
ORDINARY = {
    # Expired at 15:00: both grants must go.
    "access-requests/prod-admin/alice-old.yaml": request("alice", "prod-admin",
                                                         "2026-11-23T12:00:00Z"),
    "access-requests/break-glass/bob-old.yaml": request("bob", "break-glass",
                                                        "2026-11-23T14:00:00Z"),
    # Still running at 15:00: the sweep keeps it.
    "access-requests/prod-admin/bob-live.yaml": request(
        "bob", "prod-admin", "2026-11-23T16:00:00Z", starts="2026-11-23T14:00:00Z"),
}
HOLDERS = frozenset({"alice", "bob"})
"""The people behind the ordinary grants: no generated file names them as its requester, so
whatever the generated files hold, the ordinary grants' fate is known."""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture(scope="module")
def repo(endpoint: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="accessctl-sweep-") as temp:
        root = write_repo(Path(temp) / "repo", endpoint, requests=ORDINARY)
        (root / "policies" / "identities.yaml").write_text(IDENTITIES)
        entitlement = root / "policies" / "entitlements" / "break-glass.yaml"
        entitlement.write_text(entitlement.read_text() + GLASS)
        yield root


# -- strategies ----------------------------------------------------------------------------------

unicode_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
EDGE_TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:30:00Z", "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:00-01:00", "9999-12-31T23:59:59.999999+23:59",
    "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2000-01-01T00:30:00+01:00",
    "2999-12-31T23:59:59Z", "3000-01-01T00:00:00Z",
    "2026-11-23T14:00:00Z", "2026-11-23T16:00:00Z", "2026-11-23T15:00:00Z",
    "2026-02-30T10:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:00:00+24:00",
    "2026-11-23T10:00:00", "2026-11-23", "yesterday", "", " ",
]


@st.composite
def any_time(draw: st.DrawFn) -> str:
    year = draw(st.integers(1, 9999))
    offset = draw(st.sampled_from(["Z", "+01:00", "-01:00", "+23:59", "-23:59"]))
    return f"{year:04d}-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}T" \
           f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00{offset}"


# Mostly the edges: those are where the arithmetic on a time can overflow.
times = st.one_of(st.sampled_from(EDGE_TIMES), st.sampled_from(EDGE_TIMES), any_time())
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=True, allow_infinity=True), unicode_text)
wrong_types = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(unicode_text, inner, max_size=3), max_leaves=12)
huge = st.sampled_from(["x" * 5_000, "INC-" + "9" * 50_000, "é" * 20_000])


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def not_a_holder(value: Any) -> bool:
    return not (isinstance(value, str) and value.strip().casefold() in HOLDERS)


owners = st.sampled_from(["carol", "dave", "mallory", "zed"])
entitlements = st.sampled_from(["break-glass", "prod-admin", "break-glass", "nope"])
"""break-glass twice: its deadlines are computed from the file's times by the sweep itself."""


@st.composite
def hostile_file(draw: st.DrawFn, index: int) -> tuple[str, bytes]:
    """A request of someone other than the holders, valid or spoilt in a few ways."""
    owner, entitlement = draw(owners), draw(entitlements)
    path = f"access-requests/{entitlement}/{owner}-h{index}.yaml"
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.binary(max_size=300))
        return path, raw if not any(h.encode() in raw.lower() for h in HOLDERS) else b"x: y\n"
    data: dict[str, Any] = {"requester": owner, "entitlement": entitlement,
                            "reason": "debugging", "ticket": "INC-1", "expires_at": draw(times)}
    if draw(st.booleans()):
        data["starts_at"] = draw(times)
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*data, "starts_at", "extra"]))
        action = draw(st.sampled_from(["drop", "type", "text", "time", "huge", "deep", "limit"]))
        if action == "drop":
            data.pop(key, None)
        elif action == "type":
            data[key] = draw(wrong_types.filter(not_a_holder))
        elif action == "text":
            data[key] = draw(unicode_text.filter(not_a_holder))
        elif action == "time":
            data[key] = draw(times)
        elif action == "huge":
            data[key] = draw(huge)
        elif action == "deep":
            data[key] = nested(draw(st.sampled_from([3, 63, 64, 65, 100])))
        else:
            data[key] = "x" * 300_000  # past the size limit
    style = {"default_flow_style": draw(st.sampled_from([False, True, None])),
             "default_style": draw(st.sampled_from([None, '"', "'"])),
             "allow_unicode": draw(st.booleans()), "width": 10_000}
    return path, yaml.safe_dump(data, **style).encode("utf-8")


@st.composite
def hostile_files(draw: st.DrawFn) -> dict[str, bytes]:
    count = draw(st.integers(1, 3))
    return dict(draw(hostile_file(index)) for index in range(count))


# -- the property --------------------------------------------------------------------------------

def members(iam: Any, group: str) -> set[str]:
    return {u["UserName"] for u in iam.get_group(GroupName=group)["Users"]}


@SETTINGS
@given(files=hostile_files())
@example(files={"access-requests/break-glass/dave-h0.yaml":
                request("dave", "break-glass", "0001-01-01T00:30:00Z").encode()})
def test_hostile_files_never_stop_the_sweep(repo: Path, endpoint: str,
                                            files: dict[str, bytes]) -> None:
    iam = moto_server.fresh_iam(moto_server.client("iam", endpoint),
                                ("prod-admins", "break-glass"), ("alice", "bob", "carol", "dave"))
    iam.add_user_to_group(GroupName="prod-admins", UserName="alice")
    iam.add_user_to_group(GroupName="prod-admins", UserName="bob")
    iam.add_user_to_group(GroupName="break-glass", UserName="bob")
    audit = repo.parent / "audit.jsonl"
    audit.unlink(missing_ok=True)
    written = []
    try:
        for path, content in files.items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            written.append(target)
        result = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", str(audit),
                        now=THREE_PM)
    finally:
        for target in written:
            target.unlink()
    assert result.code in (0, 1), (result.code, result.err, files)
    assert "internal error" not in result.err and "Traceback" not in result.err, result.err
    assert members(iam, "prod-admins") == {"bob"}, (result.err, files)
    assert members(iam, "break-glass") == set(), (result.err, files)
    changes = sorted((e["action"], e["target"], e["principal"], e["outcome"])
                     for e in result.events() if e["action"] in ("grant", "revoke"))
    assert changes == [("revoke", "aws-test:iam_group(group=break-glass)", "bob", "done"),
                       ("revoke", "aws-test:iam_group(group=prod-admins)", "alice", "done")]
    # Exit 1 only with a reason on record: every file it names is one of the generated ones.
    skipped = [line for line in result.err.splitlines() if line.startswith("skipped: ")]
    assert (result.code == 1) == bool(skipped), result.err
    assert all(any(path in line for path in files) for line in skipped), result.err
