"""Policy controls in the pure evaluator and the approval judge: multi-party approval, separation
of duties, the per-person limit, and how extension and early end are judged.

Tables, no network, except the last tests, which run the revoke sweep through the CLI against
moto in server mode (as tests/test_apply_aws.py does) to prove that ending early needs no approval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.approval.approval import judge_approval, unmatched_groups
from accessctl.approval.codeowners import CodeOwners
from accessctl.approval.vcs.base import PullRequest, Review, ReviewState
from accessctl.core.model import Policies, Request
from accessctl.judge.evaluate import State, evaluate
from accessctl.read.load import MemorySource, load_policies, load_request

from tests.cli_runner import invoke
from tests.repo_fixture import ENTITLEMENT, IDENTITIES, PROVIDERS, request, write_repo
from tests.servers import moto_server

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HEAD = "a" * 40
TEAMS = {"@acme/security": frozenset({"carol", "dave"}),
         "@acme/payments": frozenset({"dave", "erin"}),
         "@acme/sre": frozenset({"alice", "bob"})}


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def entitlement(name: str, extra: str = "") -> str:
    return ENTITLEMENT.format(name=name, group=name, exclusive="false") + extra


def load(entitlements: dict[str, str], limits: str = "") -> tuple[Policies | None, list[str]]:
    files = {
        "policies/providers.yaml": PROVIDERS.format(endpoint="http://127.0.0.1:1"),
        "policies/identities.yaml": IDENTITIES + limits,
    }
    files.update({f"policies/entitlements/{n}.yaml": t for n, t in entitlements.items()})
    policies, findings = load_policies(MemorySource(files))
    return policies, [f"{f.code}: {f.message}" for f in findings]


def policies(entitlements: dict[str, str], limits: str = "") -> Policies:
    loaded, findings = load(entitlements, limits)
    assert loaded is not None and not findings, findings
    return loaded


def req(entitlement_name: str, requester: str, expires: str, starts: str | None = None,
        slug: str = "x") -> Request:
    path = f"access-requests/{entitlement_name}/{requester}-{slug}.yaml"
    text = request(requester, entitlement_name, expires, starts=starts)
    loaded, findings = load_request(MemorySource({path: text}), path)
    assert loaded is not None, findings
    return loaded


def codes(result: Any, r: Request) -> list[str]:
    return [f.code for f in result.judgements[r.path].findings]


# -- multi-party approval -------------------------------------------------------------------------

TWO_PARTY = entitlement("payments-db", """\
approvers_all_of:
  - ["@acme/security"]
  - ["@acme/payments"]
""").replace('approvers: ["@acme/security"]', 'approvers: ["@acme/security", "@acme/payments"]')
OWNERS = "* @acme/security\n/access-requests/payments-db/ @acme/security @acme/payments\n"


def pull(**changes: object) -> PullRequest:
    base = PullRequest(number=7, url="https://example.test/pull/7", author="alice",
                       author_is_bot=False, head_sha=HEAD, base_ref="main", base_sha="b" * 40,
                       merged=True, merged_at=NOW, merge_commit_sha="c" * 40,
                       changed_files=("access-requests/payments-db/alice-x.yaml",))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def approve(*logins: str, text: str = TWO_PARTY) -> tuple[bool, str]:
    base = policies({"payments-db": text})
    verdict = judge_approval(
        req("payments-db", "alice", at(2)), pull(),
        [Review(login, ReviewState.APPROVED, HEAD, NOW) for login in logins],
        base, CodeOwners.parse(OWNERS), lambda team: TEAMS.get(team.casefold()), "main",
    )
    return verdict.approved, " ".join(verdict.reasons)


def test_one_approver_from_each_group_is_enough() -> None:
    assert approve("carol", "erin") == (True, "")


def test_a_missing_group_is_named() -> None:
    approved, reasons = approve("carol")
    assert not approved
    assert "needs an approval from @acme/payments" in reasons
    assert "@acme/security or" not in reasons


def test_two_approvers_from_the_same_group_do_not_cover_the_other() -> None:
    approved, reasons = approve("erin", "dave", text=TWO_PARTY.replace(
        '["@acme/payments"]', '["@acme/payments"]\n  - ["@acme/sre"]').replace(
        'approvers: ["@acme/security", "@acme/payments"]',
        'approvers: ["@acme/security", "@acme/payments", "@acme/sre"]'))
    # dave covers security (or payments), erin payments; nobody from @acme/sre approved.
    assert not approved
    assert "needs an approval from @acme/sre" in reasons


def test_one_person_in_both_groups_counts_once() -> None:
    # dave is in security and payments: alone he is one party, not two.
    approved, reasons = approve("dave")
    assert not approved
    assert "needs 1 more approval(s)" in reasons
    assert "one person counts for one group only" in reasons
    # With erin (payments), dave counts for security: a matching, not a greedy pick.
    assert approve("dave", "erin") == (True, "")


def test_matching_reassigns_when_a_greedy_choice_would_fail() -> None:
    groups = [("@acme/security", "@acme/payments"), ("@acme/security",)]
    lookup = TEAMS.get
    # dave, looked at first, takes the first group; erin fits only there, so dave must move to
    # the second. A greedy pick would leave the second group empty.
    assert unmatched_groups(["dave", "erin"], groups, lookup) == []
    assert unmatched_groups(["erin"], groups, lookup) == [("@acme/security",)]
    assert unmatched_groups(["dave"], groups, lookup) == [("@acme/security",)]


def test_group_members_must_be_approvers_so_that_they_are_code_owners() -> None:
    loaded, findings = load({"payments-db": entitlement("payments-db", """\
approvers_all_of: [["@acme/security"], ["@acme/payments"]]
""")})
    assert loaded is not None and "payments-db" not in loaded.entitlements
    assert findings == ["approver-group: approvers_all_of names @acme/payments, not in "
                        "approvers: add them there"]


def test_approver_groups_are_checked_by_the_schema() -> None:
    _, findings = load({"payments-db": entitlement("payments-db", "approvers_all_of: [[]]\n")})
    assert findings and findings[0].startswith("schema-entitlement")


# -- separation of duties -------------------------------------------------------------------------

SOD = {
    "deploy": entitlement("deploy", "conflicts_with: [deploy-approve]\n"),
    "deploy-approve": entitlement("deploy-approve"),
    "logs": entitlement("logs"),
}


def test_the_later_of_two_conflicting_requests_is_refused() -> None:
    held = req("deploy", "alice", at(3))
    new = req("deploy-approve", "alice", at(2))
    result = evaluate(policies(SOD), [held, new], NOW, fresh=[new.path])
    assert codes(result, held) == []
    assert codes(result, new) == ["conflicting-access"]
    assert result.judgements[new.path].state is State.INVALID
    message = result.judgements[new.path].findings[0].message
    assert "deploy-approve and deploy" in message and held.path in message
    assert [g.entitlement for g in result.grants] == ["deploy"]


def test_the_conflict_reads_both_ways() -> None:
    # Only deploy declares it; a request for deploy after deploy-approve is refused as well.
    held = req("deploy-approve", "alice", at(3))
    new = req("deploy", "alice", at(2))
    result = evaluate(policies(SOD), [held, new], NOW, fresh=[new.path])
    assert codes(result, new) == ["conflicting-access"] and codes(result, held) == []


def test_windows_that_do_not_overlap_do_not_conflict() -> None:
    held = req("deploy", "alice", at(2))
    later = req("deploy-approve", "alice", at(5), starts=at(2))
    result = evaluate(policies(SOD), [held, later], NOW, fresh=[later.path])
    assert codes(result, later) == [] and codes(result, held) == []
    # Starting one minute before the other ends is holding both at once.
    early = req("deploy-approve", "alice", at(5), starts=at(1.98), slug="y")
    assert codes(evaluate(policies(SOD), [held, early], NOW, fresh=[early.path]),
                 early) == ["conflicting-access"]


def test_a_past_overlap_is_over() -> None:
    # Both windows overlapped before now, but only the later part counts: held ended already.
    ended = req("deploy", "alice", at(-0.5), starts=at(-3))
    new = req("deploy-approve", "alice", at(2))
    assert codes(evaluate(policies(SOD), [ended, new], NOW, fresh=[new.path]), new) == []


def test_other_people_and_unrelated_entitlements_do_not_conflict() -> None:
    held = req("deploy", "bob", at(3))
    new = req("deploy-approve", "alice", at(2))
    logs = req("logs", "alice", at(2))
    result = evaluate(policies(SOD), [held, new, logs], NOW, fresh=[new.path, logs.path])
    assert result.findings == []


def test_invalid_or_unapproved_requests_are_not_held() -> None:
    invalid = req("deploy", "alice", at(9))  # longer than the 4h maximum
    new = req("deploy-approve", "alice", at(2))
    result = evaluate(policies(SOD), [invalid, new], NOW, fresh=[new.path])
    assert codes(result, invalid) == ["window-too-long"] and codes(result, new) == []
    held = req("deploy", "alice", at(3))
    unapproved = evaluate(policies(SOD), [held, new], NOW, fresh=[new.path],
                          approved={held.path: False, new.path: True})
    assert codes(unapproved, new) == []
    approved = evaluate(policies(SOD), [held, new], NOW, fresh=[new.path],
                        approved={held.path: True, new.path: True})
    assert codes(approved, new) == ["conflicting-access"]


def test_when_the_order_cannot_be_told_both_are_refused() -> None:
    # Both on the branch, neither with a start: which came first is unknown; fail closed.
    one = req("deploy", "alice", at(3))
    two = req("deploy-approve", "alice", at(2))
    result = evaluate(policies(SOD), [one, two], NOW)
    assert codes(result, one) == ["conflicting-access"]
    assert codes(result, two) == ["conflicting-access"]
    assert result.grants == []


def test_a_misspelt_conflict_is_a_policy_error() -> None:
    loaded, findings = load({"deploy": entitlement("deploy", "conflicts_with: [deploy-aprove]\n"),
                             "own": entitlement("own", "conflicts_with: [own]\n")})
    assert loaded is not None
    assert sorted(findings) == [
        "unknown-conflict: deploy: conflicts_with names 'deploy-aprove', which is not an "
        "entitlement",
        "unknown-conflict: own: conflicts_with names 'own', which is itself",
    ]


# -- the per-person limit -------------------------------------------------------------------------

THREE = {"a": entitlement("a"), "b": entitlement("b"), "c": entitlement("c")}
LIMIT_TWO = "limits:\n  max_active_grants: 2\n"


def test_a_request_over_the_limit_is_refused_and_the_earlier_ones_kept() -> None:
    a, b = req("a", "alice", at(3)), req("b", "alice", at(3))
    c = req("c", "alice", at(2))
    result = evaluate(policies(THREE, LIMIT_TWO), [a, b, c], NOW, fresh=[c.path])
    assert codes(result, a) == [] and codes(result, b) == []
    assert codes(result, c) == ["too-many-grants"]
    message = result.judgements[c.path].findings[0].message
    assert "3 entitlements at once (a, b, c)" in message and "allows 2" in message
    assert sorted(g.entitlement for g in result.grants) == ["a", "b"]


def test_without_a_limit_nothing_is_refused() -> None:
    rs = [req("a", "alice", at(3)), req("b", "alice", at(3)), req("c", "alice", at(2))]
    assert evaluate(policies(THREE), rs, NOW, fresh=[rs[2].path]).findings == []


def test_two_requests_for_one_entitlement_are_one_grant() -> None:
    rs = [req("a", "alice", at(3)), req("a", "alice", at(4), slug="more"),
          req("b", "alice", at(2))]
    result = evaluate(policies(THREE, LIMIT_TWO), rs, NOW, fresh=[rs[1].path, rs[2].path])
    assert result.findings == []


def test_the_limit_counts_what_is_held_at_one_instant() -> None:
    a = req("a", "alice", at(2))
    b = req("b", "alice", at(4))
    after_a = req("c", "alice", at(5), starts=at(2))
    during_a = req("c", "alice", at(3), starts=at(1.5), slug="y")
    limits = policies(THREE, LIMIT_TWO)
    assert codes(evaluate(limits, [a, b, after_a], NOW, fresh=[after_a.path]), after_a) == []
    assert codes(evaluate(limits, [a, b, during_a], NOW, fresh=[during_a.path]),
                 during_a) == ["too-many-grants"]


def test_the_limit_is_per_person() -> None:
    rs = [req("a", "alice", at(3)), req("b", "alice", at(3)), req("c", "bob", at(2)),
          req("a", "bob", at(2))]
    assert evaluate(policies(THREE, LIMIT_TWO), rs, NOW).findings == []


def test_the_limit_must_be_positive() -> None:
    _, findings = load(THREE, "limits:\n  max_active_grants: 0\n")
    assert findings and findings[0].startswith("schema-identities")


# -- extension and early end ----------------------------------------------------------------------

ONE = {"prod-admin": entitlement("prod-admin")}


def test_an_earlier_expiry_ends_the_grant_now() -> None:
    original = req("prod-admin", "alice", at(3))
    assert [g.expires_at for g in evaluate(policies(ONE), [original], NOW).grants] == [
        NOW + timedelta(hours=3)]
    ended = req("prod-admin", "alice", at(-0.25))
    result = evaluate(policies(ONE), [ended], NOW, approved={ended.path: False})
    assert result.judgements[ended.path].state is State.EXPIRED
    assert result.grants == []
    # Nothing unexpired names the pair any more, so the sweep takes the access away...
    assert result.unexpired == set()
    # ...and it is still the engine's to revoke.
    assert result.managed


def test_an_extension_needs_the_fresh_approval_of_its_own_pull_request() -> None:
    extended = req("prod-admin", "alice", at(3.5))
    base = policies(ONE)
    edit = dataclasses.replace(pull(), number=8, changed_files=(extended.path,))
    owners = CodeOwners.parse("/access-requests/prod-admin/ @acme/security\n")
    lookup = lambda team: TEAMS.get(team.casefold())  # noqa: E731
    # The verifier judges the latest pull request that touched the file: the extension's.
    unreviewed = judge_approval(extended, edit, [], base, owners, lookup, "main")
    assert not unreviewed.approved and "needs 1 more approval" in " ".join(unreviewed.reasons)
    result = evaluate(base, [extended], NOW, approved={extended.path: unreviewed.approved})
    assert result.judgements[extended.path].state is State.UNAPPROVED and result.grants == []
    # Until its expiry the sweep leaves the pair alone: judging approval is apply's job.
    assert result.unexpired
    reviewed = judge_approval(extended, edit, [Review("carol", ReviewState.APPROVED, HEAD, NOW)],
                              base, owners, lookup, "main")
    assert reviewed.approved


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server.running() as url:
        yield url


@pytest.fixture
def iam(endpoint: str) -> Any:
    return moto_server.fresh_iam(moto_server.client("iam", endpoint),
                                 ("prod-admins", "break-glass"), ("alice", "bob"))


def members(iam: Any) -> set[str]:
    return {u["UserName"] for u in iam.get_group(GroupName="prod-admins")["Users"]}


def test_the_sweep_ends_access_when_an_unapproved_edit_moves_the_expiry_earlier(
    tmp_path: Path, endpoint: str, iam: Any
) -> None:
    path = "access-requests/prod-admin/alice-inc.yaml"
    repo = write_repo(tmp_path / "repo", endpoint, requests={
        path: request("alice", "prod-admin", "2026-11-23T13:00:00Z"),
        "access-requests/prod-admin/bob-inc.yaml": request("bob", "prod-admin",
                                                           "2026-11-23T13:00:00Z"),
    })
    audit = str(tmp_path / "audit.jsonl")
    granted = invoke("apply", "--skip-approval", "--repo", str(repo), "--confirm",
                     "--audit-file", audit, now=NOW)
    assert granted.code == 0, granted.err
    assert members(iam) == {"alice", "bob"}
    # An edit to an earlier expiry, merged without anyone's approval (the sweep asks nobody).
    (repo / path).write_text(request("alice", "prod-admin", "2026-11-23T10:30:00Z"))
    before = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", audit,
                    now=datetime(2026, 11, 23, 10, 20, tzinfo=UTC))
    assert before.code == 0 and before.events() == []
    assert members(iam) == {"alice", "bob"}
    sweep = invoke("revoke", "--repo", str(repo), "--confirm", "--audit-file", audit,
                   now=datetime(2026, 11, 23, 10, 31, tzinfo=UTC))
    assert sweep.code == 0, sweep.err
    assert [(e["action"], e["principal"]) for e in sweep.events()] == [("revoke", "alice")]
    assert members(iam) == {"bob"}, "only the edited request ended early"


def test_the_sweep_ends_access_when_the_request_is_deleted(
    tmp_path: Path, endpoint: str, iam: Any
) -> None:
    import subprocess

    path = "access-requests/prod-admin/alice-inc.yaml"
    repo = write_repo(tmp_path / "repo", endpoint, requests={
        path: request("alice", "prod-admin", "2026-11-23T13:00:00Z")})

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t",
                               "-c", "user.email=t@example.test", *args],
                              capture_output=True, check=True, text=True)
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "request")
    applied = git("rev-parse", "HEAD")
    audit = str(tmp_path / "audit.jsonl")
    assert invoke("apply", "--skip-approval", "--repo", str(repo), "--confirm",
                  "--audit-file", audit, now=NOW).code == 0
    assert members(iam) == {"alice"}
    git("rm", "-q", path)
    git("commit", "-q", "-m", "done early")
    # Without history the deleted file names nothing: the sweep must be told where it left off.
    sweep = invoke("revoke", "--repo", str(repo), "--since", applied, "--confirm",
                   "--audit-file", audit, now=NOW + timedelta(minutes=5))
    assert sweep.code == 0, sweep.err
    assert [(e["action"], e["principal"]) for e in sweep.events()] == [("revoke", "alice")]
    assert members(iam) == set()
