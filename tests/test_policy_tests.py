"""`accessctl test`: policy test cases, judged offline as apply would judge a merged request."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cli_runner import invoke
from tests.repo_fixture import write_repo

ROOT = Path(__file__).resolve().parent.parent


def test_the_bundled_cases_pass_quickly() -> None:
    started = time.perf_counter()
    result = invoke("test", "--repo", str(ROOT))
    assert result.code == 0, result.out + result.err
    assert result.out.startswith("policies/tests/examples.yaml:\n")
    passes = [line for line in result.out.splitlines() if line.startswith("PASS: ")]
    assert len(passes) == 16 and passes[-1] == "PASS: 15/15"
    assert time.perf_counter() - started < 5


CASE = """\
  - name: {name}
    now: 2026-11-23T10:00:00Z
    approvals: {approvals}
    files:
{files}
    expect: {expect}
"""


def case(name: str, files: dict[str, str], expect: str, approvals: str = "[carol]",
         extra: str = "") -> str:
    body = ""
    for path, text in files.items():
        body += f"      {path}: |\n" + "".join(f"        {line}\n" for line in text.splitlines())
    return CASE.format(name=name, approvals=approvals, files=body, expect=expect) + extra


def request(requester: str, entitlement: str, expires: str = "2026-11-23T12:00:00Z",
            starts: str | None = None) -> str:
    text = f"requester: {requester}\nentitlement: {entitlement}\nreason: r\nticket: INC-1\n"
    return text + (f"starts_at: {starts}\n" if starts else "") + f"expires_at: {expires}\n"


def run(tmp_path: Path, *cases: str, policy: str = "", limits: str = "",
        approvers: str = "", args: tuple[str, ...] = ()) -> tuple[int, str]:
    repo = write_repo(tmp_path)
    glass = repo / "policies/entitlements/break-glass.yaml"
    text = glass.read_text() + policy
    if approvers:
        text = text.replace('approvers: ["@acme/security"]', f"approvers: {approvers}")
    glass.write_text(text)
    if limits:
        identities = repo / "policies/identities.yaml"
        identities.write_text(identities.read_text() + limits)
    (repo / "policies/tests").mkdir()
    (repo / "policies/tests/cases.yaml").write_text("cases:\n" + "".join(cases))
    result = invoke("test", "--repo", str(repo), *args)
    return result.code, result.out + result.err


def test_a_wrong_expectation_fails_with_the_reasons(tmp_path: Path) -> None:
    code, out = run(tmp_path,
                    case("approved", {"access-requests/prod-admin/alice-x.yaml":
                                      request("alice", "prod-admin")}, "allow"),
                    case("wrongly expected", {"access-requests/prod-admin/alice-x.yaml":
                                              request("alice", "prod-admin")}, "allow",
                         approvals="[]"))
    assert code == 1
    assert "PASS: approved" in out and "FAIL: wrongly expected" in out
    assert "policies/tests/cases.yaml:" in out and "expected allow, got deny" in out
    assert "    - needs 1 more approval(s)" in out
    assert out.rstrip().endswith("PASS: 1/2\nFAIL: 1/2")


def test_the_reason_must_match(tmp_path: Path) -> None:
    files = {"access-requests/prod-admin/alice-x.yaml": request("alice", "prod-admin")}
    code, out = run(tmp_path, case("denied for another reason", files, "deny", approvals="[]",
                                   extra="    reason: not eligible\n"))
    assert code == 1 and "no reason contains 'not eligible'" in out


def test_separation_of_duties_as_a_case(tmp_path: Path) -> None:
    held = request("alice", "prod-admin", starts="2026-11-23T09:00:00Z")
    new = request("alice", "break-glass")
    files = {"access-requests/prod-admin/alice-a.yaml": held,
             "access-requests/break-glass/alice-b.yaml": new}
    judged = "    request: access-requests/break-glass/alice-b.yaml\n"
    after = dict(files)
    after["access-requests/break-glass/alice-b.yaml"] = request(
        "alice", "break-glass", starts="2026-11-23T12:00:00Z", expires="2026-11-23T14:00:00Z")
    # The judged file is the one proposed; the others are already on the branch.
    code, out = run(tmp_path,
                    case("the newcomer is refused", files, "deny",
                         extra=judged + "    reason: separation of duties\n"),
                    case("after the other ends is fine", after, "allow", extra=judged),
                    policy="conflicts_with: [prod-admin]\n")
    assert code == 0, out


def test_the_limit_as_a_case(tmp_path: Path) -> None:
    files = {"access-requests/prod-admin/alice-a.yaml":
             request("alice", "prod-admin", starts="2026-11-23T09:00:00Z"),
             "access-requests/break-glass/alice-b.yaml": request("alice", "break-glass")}
    code, out = run(tmp_path,
                    case("one at a time", files, "deny",
                         extra="    request: access-requests/break-glass/alice-b.yaml\n"
                               "    reason: max_active_grants\n"),
                    limits="limits:\n  max_active_grants: 1\n")
    assert code == 0, out


def test_two_party_approval_as_a_case(tmp_path: Path) -> None:
    files = {"access-requests/break-glass/alice-x.yaml": request("alice", "break-glass")}
    # Both groups need their own approver; teams the VCS would answer come from the case.
    teams = '    teams: {"@acme/owners": [erin]}\n'
    policy = 'approvers_all_of: [["@acme/security"], ["@acme/owners"]]\n'
    code, out = run(tmp_path,
                    case("security alone is not enough", files, "deny",
                         extra=teams + "    reason: needs an approval from @acme/owners\n"),
                    case("security and an owner", files, "allow", approvals="[carol, erin]",
                         extra=teams),
                    case("an owner twice is still one party", files, "deny",
                         approvals="[erin, carol]",
                         extra='    teams: {"@acme/owners": [erin, carol]}\n'
                               "    reason: one person counts for one group only\n"),
                    policy=policy, approvers='["@acme/security", "@acme/owners"]')
    assert code == 1, out
    # carol is in both groups, erin only in owners: carol covers security, erin the owners.
    assert "FAIL: an owner twice is still one party" in out
    assert "PASS: security alone is not enough" in out
    assert "PASS: security and an owner" in out


def test_a_malformed_test_file_is_reported_with_its_line(tmp_path: Path) -> None:
    code, out = run(tmp_path, case("no expectation", {
        "access-requests/prod-admin/alice-x.yaml": request("alice", "prod-admin")}, "maybe"))
    assert code == 1
    assert "policies/tests/cases.yaml:13:5: cases.0.expect: 'maybe' is not one of" in out
    assert out.rstrip().endswith("FAIL: 1/1")


def test_several_files_need_the_judged_one_named(tmp_path: Path) -> None:
    files = {"access-requests/prod-admin/alice-a.yaml": request("alice", "prod-admin"),
             "access-requests/prod-admin/bob-a.yaml": request("bob", "prod-admin")}
    code, out = run(tmp_path, case("which one?", files, "allow"))
    assert code == 1 and "'request' must name one of its files" in out


def test_run_selects_cases_by_name(tmp_path: Path) -> None:
    files = {"access-requests/prod-admin/alice-x.yaml": request("alice", "prod-admin")}
    code, out = run(tmp_path, case("kept", files, "allow"),
                    case("skipped", files, "allow", approvals="[]"), args=("--run", "^kept$"))
    assert code == 0 and "skipped" not in out and "PASS: 1/1" in out


def test_no_cases_is_a_failure(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    result = invoke("test", "--repo", str(repo))
    assert result.code == 1 and "no test cases found" in result.out
