"""Break-glass end to end: GitHub emulator through PyGithub, AWS on moto, a webhook sink.

The break-glass entitlement grants on merge without approval for at most 2h; the code owners
(@acme/security: carol, dave) must approve within 1h of the merge. T0 + 30 min is the merge, so
the deadline is T0 + 1.5h. `accessctl revoke` after the deadline takes the access back unless
the pull request was ratified.
"""

from __future__ import annotations

import pytest

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import REPO, World, hours, stamp
from tests.repo_fixture import request
from tests.test_notify import Webhook

GLASS = "break_glass:\n  max_duration: 2h\n  review_within: 1h\n"
PATH = "access-requests/break-glass/alice-x.yaml"


@pytest.fixture
def glass(world: World) -> World:
    policy = world.workspace / "policies/entitlements/break-glass.yaml"
    world.github.push_direct(REPO, {"policies/entitlements/break-glass.yaml":
                                    policy.read_text() + GLASS}, author="dave")
    world.sync()
    return world


def emergency(world: World, until: float = 2.0) -> int:
    """alice's break-glass request, merged at T0 + 30 min without any review."""
    number = world.ask("alice", hours_from_t0=until, entitlement="break-glass")[1]
    world.merge(number)
    return number


def revoke(world: World, at: float, environ: dict[str, str] | None = None) -> Result:
    return invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file",
                  str(world.workspace.parent / "audit.jsonl"),
                  environ=world.env if environ is None else environ, now=hours(at))


def review(world: World, number: int, login: str, at: float, state: str = "APPROVED",
           commit: str | None = None) -> None:
    world.github.submit_review(REPO, number, login, state, commit_id=commit, at=hours(at))


def members(world: World) -> set[str]:
    return world.members("break-glass")


def test_granted_on_merge_then_revoked_when_nobody_ratifies(glass: World) -> None:
    with Webhook() as hook:
        glass.env["ACCESSCTL_WEBHOOK_URL"] = f"{hook.base_url}/hook"
        number = emergency(glass)
        applied = glass.apply(hours(0.6))
        assert applied.code == 0, applied.err
        approve, grant = applied.events()
        assert (approve["action"], approve["outcome"], approve["deadline"]) == (
            "approve", "break-glass", stamp(hours(1.5)))
        assert (grant["action"], grant["outcome"]) == ("grant", "done")
        assert members(glass) == {"alice"}
        # The code owners are asked to review the merged pull request, and told by when.
        assert glass.github.requested_reviewers(REPO, number) == ([], ["security"])
        [comment] = glass.github.comments(REPO, number)
        assert "@acme/security" in comment and stamp(hours(1.5)) in comment
        # The auditor's report reads the VCS and gives the deadline.
        report = invoke("report", "--repo", str(glass.workspace), "--format", "json",
                        environ=glass.env, now=hours(0.7))
        [row] = [r for r in report.json()["requests"] if r["request"] == PATH]
        assert row["approval"] == f"break-glass: code owners must ratify by {stamp(hours(1.5))}"
        alert = [m for m in hook.received if m["accessctl"]["event"] == "break_glass"]
        assert alert and alert[0]["accessctl"]["deadline"] == stamp(hours(1.5))
        hook.received.clear()

        # Before the deadline the sweep keeps it; after, it revokes and says why.
        assert revoke(glass, 1.4).code == 0 and members(glass) == {"alice"}
        swept = revoke(glass, 1.6)
        assert swept.code == 0, swept.err
        events = swept.events()
        assert [(e["action"], e["outcome"]) for e in events] == [
            ("break-glass", "not-ratified"), ("revoke", "done")]
        assert "break-glass not ratified" in events[0]["error"]
        assert members(glass) == set()
        kinds = [m["accessctl"]["event"] for m in hook.received]
        assert "break_glass_not_ratified" in kinds and "revoked" in kinds


def test_ratified_by_a_code_owner_in_time_is_kept(glass: World) -> None:
    number = emergency(glass)
    assert glass.apply(hours(0.6)).code == 0 and members(glass) == {"alice"}
    review(glass, number, "carol", at=1.2)
    swept = revoke(glass, 1.6)
    assert swept.code == 0, swept.err
    assert swept.events() == [] and members(glass) == {"alice"}
    # apply agrees: approved by carol, no longer awaiting anyone.
    applied = glass.apply(hours(1.7))
    assert applied.code == 0 and members(glass) == {"alice"}
    # It ends at expires_at like any grant.
    assert revoke(glass, 2.1).code == 0 and members(glass) == set()


@pytest.mark.parametrize(("login", "why"), [
    ("alice", "requester cannot approve"),
    ("mallory", "not a code owner"),
    ("helper[bot]", "bots do not approve"),
])
def test_ratification_that_does_not_count(glass: World, login: str, why: str) -> None:
    glass.github.add_team("acme", "helpers", ["helper[bot]"])
    number = emergency(glass)
    assert glass.apply(hours(0.6)).code == 0
    review(glass, number, login, at=1.0)
    swept = revoke(glass, 1.6)
    assert members(glass) == set(), swept.err
    applied = glass.apply(hours(1.7))
    [deny] = [e for e in applied.events() if e["action"] == "deny"]
    assert "break-glass not ratified" in deny["error"] and why in deny["error"], deny["error"]


def test_ratification_of_a_stale_commit(glass: World) -> None:
    # The pull request had two commits; carol approves the first one after the merge.
    number = glass.ask("alice", hours_from_t0=2.0, entitlement="break-glass")[1]
    first = glass.github.repo(REPO).pulls[number].head_sha
    glass.github.push_to_pull(REPO, number, {PATH: request("alice", "break-glass",
                                                           stamp(hours(1.9)))})
    glass.merge(number)
    assert glass.apply(hours(0.6)).code == 0
    review(glass, number, "carol", at=1.0, commit=first)
    revoke(glass, 1.6)
    assert members(glass) == set()


def test_a_late_ratification_does_not_bring_it_back(glass: World) -> None:
    number = emergency(glass)
    assert glass.apply(hours(0.6)).code == 0
    revoke(glass, 1.6)
    review(glass, number, "carol", at=1.7)
    applied = glass.apply(hours(1.8))
    assert applied.code == 1
    [deny] = [e for e in applied.events() if e["action"] == "deny"]
    assert "after the break-glass review deadline" in deny["error"]
    assert members(glass) == set()


def test_break_glass_cannot_extend_itself(glass: World) -> None:
    # Granted at 09:30 until 11:00; at 10:30 alice pushes expires_at to 12:00 (1.5h from the
    # new merge, inside break-glass's 2h): an extension needs approval, break-glass or not.
    emergency(glass)
    assert glass.apply(hours(0.6)).code == 0 and members(glass) == {"alice"}
    extension = glass.propose("alice", {PATH: request("alice", "break-glass", stamp(hours(3)))},
                              at=hours(1.4))
    glass.merge(extension, at=hours(1.5))
    applied = glass.apply(hours(1.55))
    [deny] = [e for e in applied.events() if e["action"] == "deny"]
    assert "needs 1 more approval" in deny["error"], deny["error"]
    assert members(glass) == set()


def test_beyond_the_break_glass_window_it_needs_approval_first(glass: World) -> None:
    # 3h from the merge: within the entitlement's 4h, beyond break-glass's 2h.
    emergency(glass, until=3.5)
    applied = glass.apply(hours(0.6))
    [deny] = [e for e in applied.events() if e["action"] == "deny"]
    assert "needs 1 more approval" in deny["error"]
    assert members(glass) == set()


def test_still_only_through_a_pull_request_by_an_eligible_requester(glass: World) -> None:
    glass.github.push_direct(REPO, {PATH: request("alice", "break-glass", stamp(hours(2)))},
                             author="alice")
    glass.sync()
    applied = glass.apply(hours(0.6))
    assert "direct push" in applied.err and members(glass) == set()
    carol = "access-requests/break-glass/carol-x.yaml"
    number = glass.propose("carol", {carol: request("carol", "break-glass", stamp(hours(2)))})
    glass.merge(number)
    applied = glass.apply(hours(0.6))
    assert "not eligible" in applied.err and "carol" not in members(glass)


def test_revoke_fails_safe_when_the_vcs_cannot_be_asked(glass: World) -> None:
    emergency(glass)
    assert glass.apply(hours(0.6)).code == 0
    swept = revoke(glass, 1.6, environ={})
    assert members(glass) == set()
    assert "the VCS could not be asked" in swept.err
    [event] = [e for e in swept.events() if e["action"] == "break-glass"]
    assert event["outcome"] == "not-ratified"


def test_the_sweep_asks_the_vcs_only_once_a_deadline_may_have_passed(glass: World) -> None:
    emergency(glass)
    assert glass.apply(hours(0.6)).code == 0
    # Without a VCS the sweep cannot check anything, yet before 2h - 2h + 1h = T0 + 1h no
    # deadline can have passed: nothing is revoked.
    swept = revoke(glass, 0.9, environ={})
    assert swept.code == 0 and members(glass) == {"alice"}, swept.err
