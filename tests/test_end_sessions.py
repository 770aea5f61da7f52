"""`end_sessions: true`: when the scheduled revoke removes an Okta or Entra grant, it also ends the
person's sessions, through the SDKs over HTTP to the emulators, as its own audit event.

The repository comes from tests/faults_world.py (every person asks for every target, the
requests expire at T0 + 4h); `apply` grants at T0 + 1h and `revoke` sweeps at T0 + 5h. What is
checked comes from the emulators' own state (who is a member, whose sessions were ended) and from
the audit file, never from the engine's word alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.core.model import principal_key
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.okta import OktaEmulator

from tests.cli_runner import Result, invoke
from tests.faults_world import OKTA_HTTPS_CHECK_OFF, World, build, hours, read_audit, stamp

PEOPLE = ["p000", "p001"]


@pytest.fixture(autouse=True)
def _okta_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OKTA_HTTPS_CHECK_OFF, "true")


def run(world: World, command: str, at: float, *extra: str) -> Result:
    if command == "apply":
        extra = ("--skip-approval", *extra)
    return invoke(command, "--repo", str(world.root), "--confirm", "--audit-file",
                  str(world.audit_file), "--now", stamp(hours(at)), *extra,
                  environ=world.environ())


@pytest.fixture(params=["okta", "entra"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with build(tmp_path, [request.param], targets_per_platform=1, people=len(PEOPLE),
               unmanaged=0) as made:
        yield made


def ask_to_end_sessions(world: World) -> None:
    for slot in world.slots:
        path = world.root / "policies" / "entitlements" / f"{slot.entitlement}.yaml"
        path.write_text(path.read_text() + "end_sessions: true\n")


def user_id(world: World, person: str) -> str:
    platform = world.slots[0].platform
    identity = World.identity(platform, person)
    emulator = world.emulators[platform]
    if isinstance(emulator, OktaEmulator):
        return emulator.user_id(identity)
    assert isinstance(emulator, GraphEmulator)
    found = emulator.find_user(identity)
    assert found is not None
    return found.id


def sign_in(world: World, person: str) -> None:
    """The person signs in (a session, and tokens an app got for them)."""
    emulator = world.emulators[world.slots[0].platform]
    if isinstance(emulator, OktaEmulator):
        emulator.sessions.start(user_id(world, person))
    else:
        assert isinstance(emulator, GraphEmulator)
        emulator.sign_ins.start(user_id(world, person))


def signed_in(world: World, person: str) -> bool:
    emulator = world.emulators[world.slots[0].platform]
    if isinstance(emulator, OktaEmulator):
        return emulator.sessions.signed_in(user_id(world, person))
    assert isinstance(emulator, GraphEmulator)
    return emulator.sign_ins.signed_in(user_id(world, person))


def ended_for(world: World) -> list[str]:
    """User ids whose sessions the platform was told to end, in order."""
    emulator = world.emulators[world.slots[0].platform]
    if isinstance(emulator, OktaEmulator):
        assert all(e.oauth_tokens and not e.forget_devices for e in emulator.sessions.ended)
        return [e.user_id for e in emulator.sessions.ended]
    assert isinstance(emulator, GraphEmulator)
    return [r.user_id for r in emulator.sign_ins.revoked]


def refuse(world: World) -> None:
    """The engine's credentials may remove members but not end sessions (Okta: an admin role
    without that permission; Entra: an app without User.RevokeSessions.All): 403."""
    emulator = world.emulators[world.slots[0].platform]
    if isinstance(emulator, OktaEmulator):
        emulator.sessions.refuse(403)
    else:
        assert isinstance(emulator, GraphEmulator)
        emulator.sign_ins.refuse(403)


def events(world: World, action: str) -> list[dict[str, object]]:
    return [e for e in read_audit(world.audit_file)
            if e["action"] == action and e["outcome"] != "started"]


def test_the_revoke_ends_the_sessions_and_audits_it_on_its_own(world: World) -> None:
    ask_to_end_sessions(world)
    slot = world.slots[0]
    assert run(world, "apply", 1).code == 0
    assert sorted(world.holders(slot)) == sorted(World.identity(slot.platform, p) for p in PEOPLE)
    for person in PEOPLE:
        sign_in(world, person)
    assert run(world, "apply", 1).code == 0
    assert ended_for(world) == []  # a grant ends nothing

    swept = run(world, "revoke", 5)

    assert swept.code == 0, swept.err
    assert world.holders(slot) == []
    assert sorted(ended_for(world)) == sorted(user_id(world, p) for p in PEOPLE)
    assert not any(signed_in(world, p) for p in PEOPLE)
    revokes, ended = events(world, "revoke"), events(world, "end_sessions")
    assert [e["outcome"] for e in revokes] == ["done", "done"]
    assert [e["outcome"] for e in ended] == ["done", "done"]
    for event in ended:
        assert event["entitlement"] == slot.entitlement and event["provider"] == \
            f"{slot.platform}-main"
        assert principal_key(str(event["principal"])) in {
            principal_key(World.identity(slot.platform, p)) for p in PEOPLE}
        assert event["principal_id"] in {user_id(world, p) for p in PEOPLE}
    # Each removal is on record before the sessions it was followed by.
    lines = [(e["action"], e["principal"]) for e in read_audit(world.audit_file)
             if e["outcome"] == "done" and e["action"] in ("revoke", "end_sessions")]
    for action, who in lines:
        if action == "end_sessions":
            assert lines.index(("revoke", who)) < lines.index((action, who))


def test_the_dry_run_says_a_revoke_will_also_end_the_sessions(world: World) -> None:
    ask_to_end_sessions(world)
    assert run(world, "apply", 1).code == 0
    dry = invoke("revoke", "--repo", str(world.root), "--audit-file", str(world.audit_file),
                 "--now", stamp(hours(5)), environ=world.environ())
    assert dry.code == 0, dry.err
    rows = [line for line in dry.err.splitlines() if line.strip().startswith("revoke")]
    assert rows and all("end_sessions" in line for line in rows), dry.err
    assert ended_for(world) == []  # a dry run ends nothing


def test_without_end_sessions_the_sessions_are_left_alone(world: World) -> None:
    assert run(world, "apply", 1).code == 0
    sign_in(world, PEOPLE[0])
    swept = run(world, "revoke", 5)
    assert swept.code == 0, swept.err
    assert world.holders(world.slots[0]) == []
    assert ended_for(world) == [] and signed_in(world, PEOPLE[0])
    assert events(world, "end_sessions") == []


def test_a_failure_to_end_sessions_fails_the_run_but_the_removal_stays_done(
        world: World) -> None:
    ask_to_end_sessions(world)
    assert run(world, "apply", 1).code == 0
    sign_in(world, PEOPLE[0])
    refuse(world)

    summary = world.root.parent / "summary.md"
    swept = run(world, "revoke", 5, "--summary", str(summary))

    assert swept.code == 1
    assert summary.read_text().count("sessions NOT ended: ") == 2
    assert world.holders(world.slots[0]) == []  # the memberships are gone all the same
    assert signed_in(world, PEOPLE[0]) and ended_for(world) == []
    assert [e["outcome"] for e in events(world, "revoke")] == ["done", "done"]
    failed = events(world, "end_sessions")
    assert [e["outcome"] for e in failed] == ["failed", "failed"]
    assert all("403" in str(e["error"]) for e in failed)
    assert "end_sessions failed:" in swept.err and "sessions were not ended" in swept.err
    assert "Traceback" not in swept.err
