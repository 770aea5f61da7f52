"""Auto-approval and break-glass as the commands tell them: explain, status, plan, validate
errors, and the schemas editors read."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accessctl import schemas

from tests.cli_runner import invoke
from tests.repo_fixture import ENTITLEMENT, write_repo

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday, 11:00 in Berlin; bob is on call
BILLING = "access-requests/aws-billing-read/bob-invoice-check.yaml"
GLASS = "access-requests/aws-prod-break-glass/bob-inc-4230.yaml"


def line(out: str, rule: str) -> str:
    found = [text for text in out.splitlines() if text.split()[1:2] == [rule]]
    assert found, out
    return found[0]


def test_explain_names_the_rule_that_would_approve() -> None:
    result = invoke("explain", BILLING, "--repo", str(ROOT), now=NOW)
    assert result.code == 0, result.out
    approve = line(result.out, "auto-approve")
    assert approve.lstrip().startswith("ok") and "rule on-call-billing approves it" in approve
    assert "requester on call in sre-primary" in approve


def test_explain_says_why_no_rule_applies() -> None:
    # The same request on Saturday: outside business hours, and it is alice's week then.
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    result = invoke("explain", BILLING, "--repo", str(ROOT), "--format", "json", now=saturday)
    checks = [c for c in result.json()["checks"] if c["rule"] == "auto-approve"]
    assert checks and checks[0]["ok"] is None
    assert "outside business hours" in checks[0]["detail"]


def test_explain_gives_the_break_glass_deadline() -> None:
    result = invoke("explain", GLASS, "--repo", str(ROOT), now=NOW)
    assert result.code == 0, result.out
    glass = line(result.out, "break-glass")
    assert glass.lstrip().startswith("ok")
    assert "within 4h of the merge (by 2026-11-23T14:00:00Z if merged now)" in glass


def test_explain_beyond_the_break_glass_window(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    policy = repo / "policies/entitlements/break-glass.yaml"
    policy.write_text(policy.read_text() + "break_glass: {max_duration: 1h, review_within: 2h}\n")
    path = "access-requests/break-glass/alice-x.yaml"
    (repo / "access-requests/break-glass").mkdir()
    (repo / path).write_text("requester: alice\nentitlement: break-glass\nreason: r\n"
                             "ticket: INC-1\nexpires_at: 2026-11-23T12:00:00Z\n")
    result = invoke("explain", path, "--repo", str(repo), now=NOW)
    assert "longer than break-glass allows (1h)" in line(result.out, "break-glass")


def test_status_and_plan_state_the_terms() -> None:
    status = invoke("status", "--repo", str(ROOT), now=NOW)
    assert "aws-prod-break-glass: break-glass: granted on merge without approval" in status.out
    assert "aws-billing-read: auto-approved by rule on-call-billing" in status.out
    plan = invoke("plan", "--offline", "--repo", str(ROOT), now=NOW)
    assert plan.code == 0, plan.err
    assert "revoked 4h after the merge unless the code owners approve" in plan.out


def test_a_misspelt_schedule_is_a_clear_error(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    policy = repo / "policies/entitlements/prod-admin.yaml"
    policy.write_text(ENTITLEMENT.format(name="prod-admin", group="g", exclusive="false")
                      + "auto_approve:\n  - name: r\n    max_duration: 1h\n"
                        "    requester_on_call: sre-primray\n")
    result = invoke("validate", "--repo", str(repo), now=NOW)
    assert result.code == 1
    assert "policies/entitlements/prod-admin.yaml:16:" in result.out, result.out
    assert "add policies/schedules/sre-primray.yaml or fix the name" in result.out
    assert "Traceback" not in result.out + result.err


def test_a_naive_shift_time_is_a_clear_error(tmp_path: Path) -> None:
    repo = write_repo(tmp_path)
    (repo / "policies/schedules").mkdir()
    (repo / "policies/schedules/oncall.yaml").write_text(
        "name: oncall\nshifts:\n  - who: alice\n    start: 2026-11-23T09:00:00\n"
        "    end: 2026-11-23T18:00:00Z\n")
    result = invoke("validate", "--repo", str(repo), now=NOW)
    assert result.code == 1
    assert "policies/schedules/oncall.yaml:4:" in result.out and "offset" in result.out
    assert "Traceback" not in result.out + result.err


def _properties(node: Any, where: str) -> list[tuple[str, Any]]:
    found = []
    if isinstance(node, dict):
        for name, value in (node.get("properties") or {}).items():
            found.append((f"{where}.{name}", value))
            found += _properties(value, f"{where}.{name}")
        if isinstance(node.get("items"), dict):
            found += _properties(node["items"], f"{where}[]")
    return found


def test_every_new_property_is_described_with_an_example() -> None:
    entitlement = schemas.schema("entitlement")["properties"]
    documented = [*_properties({"properties": {"auto_approve": entitlement["auto_approve"],
                                               "break_glass": entitlement["break_glass"]}},
                               "entitlement"),
                  *_properties(schemas.schema("schedule"), "schedule")]
    assert len(documented) > 15
    for where, node in documented:
        assert node.get("description") and node.get("examples"), where
    for name in ("entitlement", "schedule"):
        from jsonschema import Draft202012Validator

        Draft202012Validator.check_schema(schemas.schema(name))
