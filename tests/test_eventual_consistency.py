"""A member written is not listed for a while (Okta, Entra, GitHub, GitLab serve member listings
from replicas): the next run, soon after, must neither write the grant or the removal again nor
record it twice in the audit.

Each platform's emulator holds back its listing (`listing_lag`, tests/../emulators/consistency.py)
for an hour: a member just added is missing from it, one just removed is still in it. The
repository is a git checkout, so the engine keeps its ledger, which records when the platform
confirmed each write. `accessctl apply` runs twice in a row, then `accessctl revoke` twice past
every expiry; what is checked comes from the emulators' request logs and the audit file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import invoke
from tests.faults_world import (
    OKTA_HTTPS_CHECK_OFF,
    PLATFORMS,
    World,
    audit_outcomes,
    build,
    hours,
    read_audit,
    stamp,
)
from tests.git_checkout import git


@pytest.fixture(autouse=True)
def _okta_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OKTA_HTTPS_CHECK_OFF, "true")


def run(world: World, command: str, at: int) -> str:
    extra = ["--skip-approval"] if command == "apply" else []
    result = invoke(command, "--repo", str(world.root), "--confirm", "--audit-file",
                    str(world.audit_file), "--now", stamp(hours(at)), *extra,
                    environ=world.environ())
    assert result.code == 0, result.err
    return result.err


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_lagging_listing_brings_no_second_write_and_no_second_audit_line(
        tmp_path: Path, platform: str) -> None:
    with build(tmp_path, [platform], targets_per_platform=1, people=3, unmanaged=0) as world:
        git(world.root, "init", "-q", "-b", "main")
        git(world.root, "add", "-A")
        git(world.root, "commit", "-q", "-m", "requests")
        for emulator in world.emulators.values():
            emulator.listing_lag.seconds = 3600
        wanted = world.wanted()

        run(world, "apply", 1)
        second = run(world, "apply", 1)
        assert "settling: grant" in second
        assert world.writes("add") == dict.fromkeys(wanted, 1)
        grants = audit_outcomes(read_audit(world.audit_file), "grant")
        assert grants == {key: ["done"] for key in wanted}

        for emulator in world.emulators.values():
            emulator.listing_lag.catch_up()  # the grants are listed by now
        run(world, "revoke", 5)
        second = run(world, "revoke", 5)
        assert "settling: revoke" in second
        assert world.writes("remove") == dict.fromkeys(wanted, 1)
        revokes = audit_outcomes(read_audit(world.audit_file), "revoke")
        assert revokes == {key: ["done"] for key in wanted}
        assert world.writes("add") == dict.fromkeys(wanted, 1)


def test_the_listing_is_believed_again_once_the_settling_window_has_passed() -> None:
    """Pure: a grant confirmed moments ago is held back; one confirmed longer ago than
    SETTLING (or a write never confirmed, or confirmed 'in the future' of --now) is made."""
    from datetime import UTC, datetime, timedelta

    from accessctl.change.ledger import SETTLING, Entry, Ledger, Origin, settling
    from accessctl.core.model import Action, Change, Target, isoformat

    target = Target.build("okta-main", "okta", "group", {"group": "g1"})
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def held_back(written: datetime | None, origin: Origin = Origin.GRANTED,
                  action: Action = Action.GRANT) -> bool:
        entry = Entry(target.display, "ann", origin, isoformat(now), (),
                      written_at=isoformat(written) if written else None)
        ledger = Ledger("okta-main", {(target.display, "ann"): entry}, exists=True)
        change = Change(action, target, "ann", "ent", "why")
        made, held = settling([change], {"okta-main": ledger}, now)
        assert len(made) + len(held) == 1
        return bool(held)

    assert held_back(now - timedelta(minutes=1))
    assert not held_back(now - SETTLING - timedelta(seconds=1))
    assert not held_back(None)  # an intent the platform never confirmed: write it
    assert not held_back(now + timedelta(minutes=1))
    assert held_back(now, Origin.REVOKED, Action.REVOKE)
    assert not held_back(now, Origin.REVOKED, Action.GRANT)  # a new grant after a revoke
    assert not held_back(now, Origin.STANDING, Action.GRANT)
