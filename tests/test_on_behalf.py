"""A request opened from an issue: a declared request bot opens the pull request, the issue's
author is the requester. Invariant 2 still holds: the requester never counts as an approver, the
bot is not the requester, and only the author of the issue the bot's branch names may be the
requester. Pure: the VCS facts are built here (end to end: tests/e2e/test_request_from_issue.py).
"""

from __future__ import annotations

import pytest
from accessctl.approval.on_behalf import branch_for, issue_of
from accessctl.approval.vcs.base import ReviewState
from accessctl.core.model import Policies
from accessctl.read.load import MemorySource, load_policies

from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS
from tests.test_approval import judge, pull, review

BOT = "acme-access[bot]"


def policies(bots: str = f'request_bots: ["{BOT}"]\n') -> Policies:
    identities = IDENTITIES.replace('teams:\n  "@acme/sre": [alice, bob]\n'
                                    '  "@acme/security": [carol]\n', "") + bots
    loaded, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": identities,
        "policies/entitlements/prod-admin.yaml": ENTITLEMENT.format(
            name="prod-admin", group="g", exclusive="false"),
    }))
    assert loaded is not None, findings
    return loaded


def from_issue(opened_for: str | None = "alice", author: str = BOT, bot: bool = True,
               issue: int = 5) -> object:
    return pull(author=author, author_is_bot=bot, head_ref=branch_for(issue),
                opened_for=opened_for)


def test_the_branch_names_the_issue() -> None:
    assert branch_for(42) == "access-request/issue-42"
    assert issue_of("access-request/issue-42") == 42
    for other in ("access-request/issue-", "access-request/issue-4x", "x/access-request/issue-4",
                  "access-request/issue-042", "access-request/issue-4/", "main"):
        assert issue_of(other) is None, other


def test_a_declared_bot_opens_for_the_issue_author_and_a_code_owner_approves() -> None:
    assert judge(pr=from_issue(), base=policies()) == (True, "")


ATTACKS = [
    ("the issue author approves her own request",
     dict(reviews=[review("alice")], owners="/access-requests/ @alice @acme/security\n"),
     "requester cannot approve"),
    ("the bot approves what it opened", dict(reviews=[review(BOT, bot=True)]), "bots"),
    ("a bot the policies do not declare", dict(pr=from_issue(author="other[bot]")),
     "opened by other[bot]"),
    ("a declared name on an account that is not a bot", dict(pr=from_issue(bot=False)),
     f"opened by {BOT}"),
    ("the bot's pull request names no issue", dict(pr=pull(author=BOT, author_is_bot=True,
                                                            head_ref="fix", opened_for="alice")),
     "not from an access request issue"),
    ("the issue was opened by someone else", dict(pr=from_issue(opened_for="bob")),
     "which bob opened"),
    ("the issue cannot be read as an issue", dict(pr=from_issue(opened_for=None)),
     "cannot be read as an issue"),
]


@pytest.mark.parametrize(("name", "setup", "reason"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_each_attack_is_denied_with_a_reason(name: str, setup: dict[str, object],
                                             reason: str) -> None:
    setup = {"pr": from_issue(), **setup}
    approved, reasons = judge(base=policies(), **setup)  # type: ignore[arg-type]
    assert not approved
    assert reason in reasons


def test_without_declared_bots_a_bot_opens_nothing() -> None:
    approved, reasons = judge(pr=from_issue(), base=policies(bots=""))
    assert not approved and f"opened by {BOT}" in reasons


def test_only_bot_logins_can_be_declared() -> None:
    _, findings = load_policies(MemorySource({
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES + "request_bots: [mallory]\n",
    }))
    assert [f.location.path for f in findings if f.code.startswith("schema")] == [
        "policies/identities.yaml"]


def test_a_later_review_state_still_wins_on_a_bot_opened_request() -> None:
    approved, reasons = judge(pr=from_issue(), base=policies(), reviews=[
        review("carol"), review("carol", ReviewState.CHANGES_REQUESTED)])
    assert not approved and "CHANGES_REQUESTED" in reasons
