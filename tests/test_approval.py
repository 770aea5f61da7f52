"""The approval judge as a table of attempts to get access without a proper approval.

Pure: the VCS facts are built here. The same attacks run end to end through the GitHub and
GitLab emulators in tests/e2e/.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from accessctl.approval.approval import judge_approval, latest_reviews, mixes_requests_and_policy
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.core.model import Policies, Request
from accessctl.read.load import MemorySource, load_policies, load_request

from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, request

MERGED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
HEAD = "a" * 40
PATH = "access-requests/prod-admin/alice-x.yaml"
OWNERS = "* @acme/security\n/access-requests/prod-admin/ @acme/security @carol\n"
TEAMS = {"@acme/security": frozenset({"carol", "dave", "erin"}),
         "@acme/sre": frozenset({"alice", "bob"})}


def policies(approvals: int = 1) -> Policies:
    entitlement = ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false")
    entitlement = entitlement.replace("approvals: 1", f"approvals: {approvals}")
    # Teams come from the injected look-up (TEAMS), as they would from the VCS.
    identities = IDENTITIES.replace('teams:\n  "@acme/sre": [alice, bob]\n'
                                    '  "@acme/security": [carol]\n', "")
    loaded, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": identities,
        "policies/entitlements/prod-admin.yaml": entitlement,
    }))
    assert loaded is not None, findings
    return loaded


def the_request(requester: str = "alice", expires: str = "2026-11-23T12:00:00Z") -> Request:
    path = f"access-requests/prod-admin/{requester}-x.yaml"
    loaded, findings = load_request(MemorySource({path: request(requester, "prod-admin",
                                                                  expires)}), path)
    assert loaded is not None, findings
    return loaded


def pull(**changes: object) -> PullRequest:
    base = PullRequest(number=7, url="https://example.test/pull/7", author="alice",
                       author_is_bot=False, head_sha=HEAD, base_ref="main", base_sha="b" * 40,
                       merged=True, merged_at=MERGED, merge_commit_sha="c" * 40,
                       changed_files=(PATH,))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def review(login: str, state: ReviewState = ReviewState.APPROVED, commit: str = HEAD,
           bot: bool = False) -> Review:
    return Review(login, state, commit, MERGED, bot)


DEFAULT = object()


def judge(req: Request | None = None, pr: object = DEFAULT,
          reviews: list[Review] | None = None, approvals: int = 1, owners: str = OWNERS,
          base: Policies | None = None) -> tuple[bool, str]:
    verdict = judge_approval(
        req or the_request(), pull() if pr is DEFAULT else pr,  # type: ignore[arg-type]
        reviews if reviews is not None else [review("carol")],
        base or policies(approvals), CodeOwners.parse(owners),
        lambda team: TEAMS.get(team.casefold()), "main",
    )
    return verdict.approved, " ".join(verdict.reasons)


def test_a_proper_approval_passes() -> None:
    assert judge() == (True, "")


ATTACKS = [
    ("self-approval", dict(reviews=[review("alice")]), "requester cannot approve"),
    ("approval by a non-owner", dict(reviews=[review("mallory")]), "not a code owner"),
    ("approval on an older commit", dict(reviews=[review("carol", commit="0" * 40)]),
     "earlier commit"),
    ("dismissed approval",
     dict(reviews=[review("carol"), review("carol", ReviewState.DISMISSED)]), "DISMISSED"),
    ("changes requested after approval",
     dict(reviews=[review("carol"), review("carol", ReviewState.CHANGES_REQUESTED)]),
     "CHANGES_REQUESTED"),
    ("a bot's approval", dict(reviews=[review("deploy-bot", bot=True)]), "bots"),
    ("a bot login without the type flag", dict(reviews=[review("renovate[bot]")]), "bots"),
    ("direct push", dict(pr=None), "direct push"),
    ("author is not the requester", dict(pr=pull(author="bob")), "opened by bob"),
    ("requester field forged in someone else's PR",
     dict(req=the_request("bob"), pr=pull(author="alice"), reviews=[review("carol")]),
     "opened by alice"),
    ("pull request mixes policy and request",
     dict(pr=pull(changed_files=(PATH, "policies/entitlements/prod-admin.yaml"))),
     "separate pull requests"),
    ("pull request edits CODEOWNERS too",
     dict(pr=pull(changed_files=(PATH, ".github/CODEOWNERS"))), ".github/CODEOWNERS"),
    ("window over the maximum at merge time",
     dict(req=the_request(expires="2026-11-23T13:30:00Z")), "at merge time"),
    ("merged into another branch", dict(pr=pull(base_ref="release")), "not main"),
    ("not merged", dict(pr=pull(merged=False, merged_at=None)), "not merged"),
    ("owner not in the approver team",
     dict(owners="/access-requests/ @mallory\n", reviews=[review("mallory")]),
     "not in the entitlement's approvers"),
    ("two approvals needed, one given", dict(approvals=2), "needs 1 more"),
    ("the same person twice does not make two",
     dict(approvals=2, reviews=[review("carol"), review("Carol")]), "needs 1 more"),
    ("requester listed as owner still cannot approve",
     dict(owners="/access-requests/ @alice @acme/security\n", reviews=[review("alice")]),
     "requester cannot approve"),
]


@pytest.mark.parametrize(("name", "setup", "reason"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_each_attack_is_denied_with_a_reason(name: str, setup: dict[str, object],
                                             reason: str) -> None:
    approved, reasons = judge(**setup)  # type: ignore[arg-type]
    assert not approved
    assert reason in reasons


def test_logins_that_differ_only_in_case_are_one_person() -> None:
    approved, _ = judge(pr=pull(author="ALICE"), reviews=[review("CAROL")])
    assert approved
    denied, reasons = judge(pr=pull(author="Alice"), reviews=[review("aLiCe")])
    assert not denied and "requester cannot approve" in reasons


def test_comments_do_not_cancel_an_approval() -> None:
    approved, _ = judge(reviews=[review("carol"), review("carol", ReviewState.COMMENTED)])
    assert approved


def test_re_approval_after_changes_requested_counts() -> None:
    approved, _ = judge(reviews=[review("carol", ReviewState.CHANGES_REQUESTED),
                                 review("carol")])
    assert approved


def test_two_distinct_approvers_satisfy_two() -> None:
    assert judge(approvals=2, reviews=[review("carol"), review("dave")])[0]


def test_latest_reviews_keeps_the_last_standing_review() -> None:
    latest = latest_reviews([review("carol"), review("carol", ReviewState.COMMENTED),
                             review("dave", ReviewState.CHANGES_REQUESTED), review("dave")])
    assert {k: v.state for k, v in latest.items()} == {
        "carol": ReviewState.APPROVED, "dave": ReviewState.APPROVED}


def test_mixing_is_only_about_requests_with_protected_paths() -> None:
    assert mixes_requests_and_policy(["policies/x.yaml"]) == []
    assert mixes_requests_and_policy([PATH, "README.md"]) == []
    assert mixes_requests_and_policy([PATH, "engine/accessctl/cli.py", "schemas/a.json"]) == [
        "engine/accessctl/cli.py", "schemas/a.json"]
