"""The VCS API budget, honoured, and a VCS that cannot answer: requests deferred, never revoked.

The GitHub and GitLab emulators enforce a budget with the platforms' own headers and exhausted
answers (GitHub: 403 or 429 with x-ratelimit-remaining: 0 and the documented message, secondary
limits as 403 with retry-after; GitLab: 429 with RateLimit-* and Retry-After). The engine reads
the budget off every answer, stops at its reserve without ever being refused, and reports what
it could not verify as deferred (audit outcome `deferred`, exit 1): neither granted nor revoked,
verified by the next run. Before, the first refused call made that request an internal error:
INVALID, and its grant revoked; a 401 or a GitLab that could not be reached ended in exit 3.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.gitlab import GitLabEmulator

from tests.e2e import gitlab_world
from tests.e2e.github_world import World, hours

ALICE = "access-requests/prod-admin/alice-x.yaml"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def approved(world: World, *requesters: str, until: float = 3) -> None:
    for requester in requesters:
        _path, number = world.ask(requester, hours_from_t0=until)
        world.approve(number, "carol")
        world.merge(number)


def outcomes(result: object) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in result.events():  # type: ignore[attr-defined]
        found.setdefault(event.get("request") or "", set()).add(
            f"{event['action']}:{event['outcome']}")
    return found


# -- GitHub -----------------------------------------------------------------------------------
def test_github_budget_spent_defers_and_keeps_existing_access(world: World) -> None:
    world.env["ACCESSCTL_VCS_RESERVE"] = "5"
    approved(world, "alice")
    assert world.apply().code == 0
    assert world.members() == {"alice"}
    approved(world, "bob")
    # Down to the reserve: nothing may be asked. Alice's grant stays; bob is not granted yet.
    world.github.set_budget(5)
    result = world.apply(hours(1.5))
    assert result.code == 1, result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert world.members() == {"alice"}
    assert world.github.limited == 0  # stopped before being refused
    seen = outcomes(result)
    assert "verify:deferred" in seen[ALICE]
    assert "verify:deferred" in seen["access-requests/prod-admin/bob-x.yaml"]
    assert not any(o.startswith("revoke") or o.startswith("deny") for o in
                   set().union(*seen.values()))
    assert "deferred: " + ALICE in result.err and "ACCESSCTL_VCS_RESERVE=5" in result.err
    # A new window: the next run verifies them.
    world.github.set_budget(1000)
    again = world.apply(hours(1.6))
    assert again.code == 0, again.err
    assert world.members() == {"alice", "bob"}


def test_github_stays_inside_a_small_budget_and_verifies_what_it_can(world: World) -> None:
    world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    world.env["ACCESSCTL_VCS_RESERVE"] = "3"
    approved(world, "alice", "bob", "mallory")
    world.github.set_budget(10_000)
    probe = world.apply()
    assert probe.code == 0, probe.err
    cost = world.github.rate_used  # what verifying all three costs
    for login in ("alice", "bob", "mallory"):
        world.iam.remove_user_from_group(GroupName="prod-admins", UserName=login)
    # Enough for some, not all: a budget of the reserve plus two thirds of the cost.
    limit = 3 + (2 * cost) // 3
    world.github.set_budget(limit)
    # Past the ledger's settling window, so the drift is the platform's word, not a lag.
    result = world.apply(hours(1.5))
    assert result.code == 1, result.err
    assert world.github.limited == 0 and world.github.rate_used <= limit - 3
    granted = world.members()
    deferred = {r for r, o in outcomes(result).items() if "verify:deferred" in o}
    assert granted and deferred
    assert {p.rsplit("/", 1)[1].split("-")[0] for p in deferred} | granted == \
        {"alice", "bob", "mallory"}


@pytest.mark.parametrize("status", [403, 429])
def test_github_primary_limit_is_waited_out_when_it_resets_soon(world: World,
                                                               status: int) -> None:
    world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    world.env["ACCESSCTL_VCS_RESERVE"] = "0"
    approved(world, "alice")
    # Spent by someone else when the run starts: its first request is answered `status` with
    # x-ratelimit-remaining: 0 and a reset seconds away, which it waits out.
    world.github.set_budget(100, reset_in=3, status=status, used=100)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}
    assert world.github.limited >= 1  # the refusal came, and was waited out


def test_github_primary_limit_far_from_reset_defers(world: World) -> None:
    world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    world.env["ACCESSCTL_VCS_RESERVE"] = "0"
    approved(world, "alice")
    world.github.set_budget(100, reset_in=3600, status=429, used=100)
    result = world.apply()
    assert result.code == 1, result.err
    assert world.github.limited == 1
    assert "deferred: " + ALICE in result.err and "API budget" in result.err
    assert world.members() == set()


def test_github_secondary_limit_is_retried_after_retry_after(world: World) -> None:
    world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    approved(world, "alice")
    world.github.secondary = [1, 0]
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"} and world.github.limited == 2


@pytest.mark.parametrize("branch_known", [False, True])
def test_github_down_defers_live_requests_and_still_ends_expired_ones(
        world: World, branch_known: bool) -> None:
    # Branch unknown: the client's first call (the default branch) finds GitHub down; known:
    # the client is made, and the team and approval look-ups find it down.
    if branch_known:
        world.env["ACCESSCTL_DEFAULT_BRANCH"] = "main"
    approved(world, "alice")
    approved(world, "bob", until=1.5)
    assert world.apply().code == 0
    assert world.members() == {"alice", "bob"}
    url = f"http://127.0.0.1:{closed_port()}/api/v3"
    world.env["GITHUB_API_URL"] = url
    result = world.apply(hours(2))  # bob's request expired; alice's is live
    assert result.code == 1, result.err
    assert f"GitHub unreachable at {url}" in result.err and "internal error" not in result.err
    assert world.members() == {"alice"}
    assert "verify:deferred" in outcomes(result)[ALICE]


def test_github_token_refused_is_a_configuration_error_naming_the_variable(
        world: World) -> None:
    approved(world, "alice")
    world.env["GITHUB_TOKEN"] = "ghp_wrong"
    result = world.apply()
    assert result.code == 2, result.err
    assert "refused the token (401" in result.err and "check GITHUB_TOKEN" in result.err
    assert world.members() == set()


# -- GitLab -----------------------------------------------------------------------------------
@pytest.fixture
def gitlab(tmp_path: Path, aws_endpoint: str) -> Iterator[gitlab_world.World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        yield gitlab_world.World.build(emulator, aws_endpoint, tmp_path)


def gitlab_approved(world: gitlab_world.World, *requesters: str) -> None:
    for requester in requesters:
        _path, iid = world.ask(requester)
        world.approve(iid, "carol")
        world.merge(iid)


def test_gitlab_budget_spent_defers_and_keeps_existing_access(
        gitlab: gitlab_world.World) -> None:
    gitlab.env["ACCESSCTL_VCS_RESERVE"] = "5"
    gitlab_approved(gitlab, "alice")
    assert gitlab.apply().code == 0
    assert gitlab.members() == {"alice"}
    gitlab_approved(gitlab, "bob")
    # 12 requests a minute and a reserve of 5: the project look-up and a few more, then stop.
    gitlab.gitlab.set_budget(12, period=3600)
    result = gitlab.apply(hours(1.5))
    assert result.code == 1, result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    assert gitlab.gitlab.throttled == 0  # stopped before being refused
    assert gitlab.gitlab.budget_used <= 12 - 5
    assert "alice" in gitlab.members()
    seen = outcomes(result)
    assert any("verify:deferred" in o for o in seen.values())
    assert not any(o.startswith("revoke") for o in set().union(*seen.values()))
    gitlab.gitlab.set_budget(None)
    again = gitlab.apply(hours(1.6))
    assert again.code == 0, again.err
    assert gitlab.members() == {"alice", "bob"}


def test_gitlab_throttle_is_waited_out_when_it_ends_soon(gitlab: gitlab_world.World) -> None:
    gitlab.env["ACCESSCTL_VCS_RESERVE"] = "0"
    gitlab_approved(gitlab, "alice")
    # Spent by someone else for the next seconds: 429 with Retry-After, waited out.
    gitlab.gitlab.set_budget(100, period=3, used=100)
    result = gitlab.apply()
    assert result.code == 0, result.err
    assert gitlab.members() == {"alice"}
    assert gitlab.gitlab.throttled >= 1


def test_gitlab_unreachable_is_exit_1_and_keeps_access(gitlab: gitlab_world.World) -> None:
    gitlab_approved(gitlab, "alice")
    assert gitlab.apply().code == 0
    url = f"http://127.0.0.1:{closed_port()}"
    gitlab.env["CI_SERVER_URL"] = url
    result = gitlab.apply(hours(1.5))
    assert result.code == 1, result.err
    assert f"GitLab unreachable at {url}" in result.err and "internal error" not in result.err
    assert gitlab.members() == {"alice"}


def test_gitlab_token_refused_is_a_configuration_error_naming_the_variable(
        gitlab: gitlab_world.World) -> None:
    gitlab_approved(gitlab, "alice")
    gitlab.env["ACCESSCTL_VCS_TOKEN"] = "glpat-wrong"
    result = gitlab.apply()
    assert result.code == 2, result.err
    assert "refused the token (401" in result.err
    assert "check ACCESSCTL_VCS_TOKEN" in result.err


def test_github_reads_are_retried_after_a_5xx_and_writes_are_not(world: World) -> None:
    """A 502 to a GET is retried; a 502 to a POST (a comment) is not sent again, since GitHub
    may have made it: the run says so instead of writing the comment twice."""
    from accessctl.approval.vcs.github import GitHubVcs
    from accessctl.approval.vcs.transport import VcsUnreachable

    _path, number = world.ask("alice")
    vcs = GitHubVcs("acme/access", world.github.token, f"{world.github.base_url}/api/v3",
                    "main")
    world.github.faults.script = ["502", "503"]
    assert vcs.pull_request(number).number == number  # two 5xx, then the answer
    world.github.reset_log()
    world.github.faults.script = ["", "502"]  # the comment listing passes, the POST fails
    with pytest.raises(VcsUnreachable, match="not sent again"):
        vcs.upsert_comment(number, "<!-- marker -->", "<!-- marker -->\nhello")
    posts = [e for e in world.github.log if e.method == "POST"]
    assert len(posts) == 1
