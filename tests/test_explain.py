"""`accessctl explain`: rule by rule, and never a different verdict from validate's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from accessctl.core.model import ProviderInstance, Target
from accessctl.providers import load_module
from accessctl.report.explain import ends_how

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.relative_to(ROOT).as_posix()
                  for p in (ROOT / "access-requests").rglob("*.yaml"))
TIMES = [datetime(2026, 11, 23, 10, 0, tzinfo=UTC), datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
         datetime(2026, 11, 25, 12, 0, tzinfo=UTC)]
NOW = TIMES[0]


def lines_of(out: str, mark: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"  {mark}")]


@pytest.mark.parametrize("now", TIMES, ids=[t.strftime("%d-%H") for t in TIMES])
def test_each_example_tells_the_same_truth_as_validate_and_report(now: datetime) -> None:
    assert EXAMPLES, "the bundled examples are missing"
    validated = invoke("validate", "--repo", str(ROOT), "--format", "json", now=now)
    findings = validated.json()["findings"]
    for path in EXAMPLES:
        result = invoke("explain", path, "--repo", str(ROOT), now=now)
        data = invoke("explain", path, "--repo", str(ROOT), "--format", "json", now=now).json()
        errors = [f["message"] for f in findings
                  if f["file"] == path and f["severity"] == "error"]
        live = data["state"] in ("active", "pending")
        assert result.code == (0 if live and not errors else 1), (path, result.out)
        assert data["allowed"] is (result.code == 0)
        failed = lines_of(result.out, "FAIL")
        for message in errors:
            assert any(message in line for line in failed), (path, message, result.out)
        if not errors:
            # Nothing fails but the state (expired) when validate finds nothing.
            assert all(" state " in line for line in failed), (path, failed)
        assert result.out.rstrip().endswith(f"({data['state']})")


def test_an_expired_example_is_not_allowed_and_says_why() -> None:
    result = invoke("explain", "access-requests/aws-prod-admin/bob-inc-4199.yaml",
                    "--repo", str(ROOT), now=NOW)
    assert result.code == 1
    assert "expired at 2026-11-20T11:00:00Z: it grants nothing" in result.out
    assert result.out.rstrip().endswith("not allowed (expired)")


def test_every_rule_is_listed_with_how_it_held() -> None:
    result = invoke("explain", "access-requests/okta-prod-vpn/alice-offsite-cover.yaml",
                    "--repo", str(ROOT), now=NOW)
    assert result.code == 0, result.out
    rules = [line.split()[1] for line in result.out.splitlines()[1:-1]]
    assert rules == ["path", "entitlement", "requester", "eligible", "identity", "window",
                     "reason", "ticket", "duplicate", "conflicts", "limit", "state", "approval",
                     "ends", "fully-ends"]
    assert "as a member of @acme/sre" in result.out
    assert "alice is alice@acme.example on okta-main (okta)" in result.out
    assert "ticket CHG-881 matches ^(INC|CHG)-[0-9]+$" in result.out
    # Two approvals from @acme/security; alice is not in it, carol and dave are.
    assert "needs 2 distinct approver(s) from @acme/security" in result.out
    assert "who may approve: carol, dave" in result.out
    assert "okta (group) cannot expire it by itself" in result.out


def test_eligible_by_login_and_the_requester_never_approves() -> None:
    result = invoke("explain", "access-requests/aws-billing-read/carol-q4-close.yaml",
                    "--repo", str(ROOT), now=NOW)
    assert "by login (carol is listed in eligible)" in result.out
    # carol is in @acme/security, but it is her own request: only dave may approve.
    assert "who may approve: dave " in result.out


def test_native_expiry_is_named_where_the_platform_does_it() -> None:
    result = invoke("explain", "access-requests/gcp-data-viewer/carol-churn-analysis.yaml",
                    "--repo", str(ROOT), now=NOW)
    assert "GCP removes it itself at expires_at" in result.out


SETTINGS = {
    "gcp": {}, "entra": {"tenant_id": "t"}, "gitlab": {"url": "http://127.0.0.1:1"},
    "ad": {"url": "ldaps://127.0.0.1:1"}, "aws": {"region": "us-east-1"},
    "okta": {"org_url": "https://example.okta.com"}, "github": {},
}


@pytest.mark.parametrize(("platform", "settings"), [
    *SETTINGS.items(), ("ad", {"url": "ldaps://127.0.0.1:1", "ttl_membership": True})])
def test_the_native_expiry_table_agrees_with_every_provider(
    platform: str, settings: dict[str, object]
) -> None:
    # Creating these providers touches no network; their own answer is the truth to match.
    module = load_module(platform)
    instance = ProviderInstance("x", platform, settings)
    provider = module.create(instance, {})
    for kind in module.TARGET_SCHEMAS:
        native, how = ends_how(instance, kind)
        assert native is provider.native_expiry(Target.build("x", platform, kind, {})), kind
        assert "revoke job" in how


def explain_in(repo: Path, path: str, *extra: str) -> tuple[int, str]:
    result = invoke("explain", path, "--repo", str(repo), *extra, now=NOW)
    return result.code, result.out


def test_failures_show_the_evaluators_message(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-long.yaml": request(
            "alice", "prod-admin", "2026-11-23T20:00:00Z", ticket="JIRA-1"),
        "access-requests/prod-admin/carol-x.yaml": request(
            "carol", "prod-admin", "2026-11-23T12:00:00Z"),
    })
    code, out = explain_in(repo, "access-requests/prod-admin/alice-long.yaml")
    assert code == 1
    failed = lines_of(out, "FAIL")
    assert any("window" in line and "allows at most 4h" in line for line in failed)
    assert any("ticket" in line and "does not match" in line for line in failed)
    assert "  ok    eligible" in out
    code, out = explain_in(repo, "access-requests/prod-admin/carol-x.yaml")
    assert code == 1 and "carol is not eligible for prod-admin" in out
    # No CODEOWNERS in this repository: nothing could ever be approved, and explain says so.
    assert "no CODEOWNERS file" in out


def test_separation_of_duties_and_the_limit_are_explained(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-a.yaml": request(
            "alice", "prod-admin", "2026-11-23T12:00:00Z", starts="2026-11-23T09:00:00Z"),
        "access-requests/break-glass/alice-b.yaml": request(
            "alice", "break-glass", "2026-11-23T12:00:00Z", starts="2026-11-23T09:30:00Z"),
    })
    assert invoke("codeowners", "--write", "--repo", str(repo)).code == 0
    glass = repo / "policies" / "entitlements" / "break-glass.yaml"
    code, out = explain_in(repo, "access-requests/break-glass/alice-b.yaml")
    assert code == 0, out
    assert "no entitlement conflicts with this one" in out
    glass.write_text(glass.read_text() + "conflicts_with: [prod-admin]\n")
    code, out = explain_in(repo, "access-requests/break-glass/alice-b.yaml")
    assert code == 1
    assert "FAIL  conflicts" in out and "separation of duties forbids it" in out
    # The one that started first keeps its access, and explain says what it is not held with.
    code, out = explain_in(repo, "access-requests/prod-admin/alice-a.yaml")
    assert code == 0 and "not held together with break-glass" in out
    glass.write_text(glass.read_text().replace("conflicts_with: [prod-admin]\n", ""))
    identities = repo / "policies" / "identities.yaml"
    identities.write_text(identities.read_text() + "limits:\n  max_active_grants: 1\n")
    code, out = explain_in(repo, "access-requests/break-glass/alice-b.yaml")
    assert code == 1 and "FAIL  limit" in out and "allows 1" in out
    code, out = explain_in(repo, "access-requests/prod-admin/alice-a.yaml")
    assert code == 0 and "1 of at most 1 entitlements held at once" in out


def test_an_unreadable_request_fails_on_the_file(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-x.yaml": "requester: alice\nexpires_at: tomorrow\n"})
    code, out = explain_in(repo, "access-requests/prod-admin/alice-x.yaml")
    assert code == 1 and "FAIL  file" in out


def test_a_proposed_file_must_expire_ahead(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-x.yaml": request(
            "alice", "prod-admin", "2026-11-23T09:00:00Z")})
    code, out = explain_in(repo, "access-requests/prod-admin/alice-x.yaml", "--new")
    assert code == 1 and "is in the past: choose a time after now" in out


def test_the_file_may_be_given_from_the_current_directory(tmp_path: Path) -> None:
    repo = write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-x.yaml": request(
            "alice", "prod-admin", "2026-11-23T12:00:00Z")})
    code, out = explain_in(repo, str(repo / "access-requests/prod-admin/alice-x.yaml"))
    assert code == 1, "no CODEOWNERS in this repository"
    assert out.startswith("access-requests/prod-admin/alice-x.yaml\n")
    outside = tmp_path.parent / "elsewhere.yaml"
    outside.write_text("x: 1\n")
    result = invoke("explain", str(outside), "--repo", str(repo), now=NOW)
    assert result.code == 2 and "is not inside the repository" in result.err
