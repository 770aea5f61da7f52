"""`end_sessions: true` only where the engine can honour it, else a finding on its file and line,
and the entitlement is left out (a revoke must do what its policy says, never less)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import invoke
from tests.test_access_end import NOW, TABLE, write

ELSEWHERE = [name for name, (instance, *_) in TABLE.items()
             if not instance.startswith(("okta", "entra"))]


def add(repo: Path, entitlement: str, text: str) -> tuple[str, int]:
    """Append `text` to the entitlement's file; its path and the line `text` starts on."""
    path = repo / "policies" / "entitlements" / f"{entitlement}.yaml"
    before = path.read_text()
    path.write_text(before + text)
    return f"policies/entitlements/{entitlement}.yaml", before.count("\n") + 1


def findings(repo: Path) -> list[dict[str, object]]:
    result = invoke("validate", "--repo", str(repo), "--format", "json", now=NOW)
    assert "Traceback" not in result.err
    found: list[dict[str, object]] = result.json()["findings"]
    return [f for f in found if f["severity"] == "error"]


def granted(repo: Path) -> set[str]:
    """Entitlements with live (active or pending) requests, as `status` judges them."""
    status = invoke("status", "--format", "json", "--repo", str(repo), now=NOW)
    return {r["entitlement"] for r in status.json()["requests"]}


@pytest.mark.parametrize("entitlement", ELSEWHERE)
def test_end_sessions_elsewhere_is_refused_on_its_line(tmp_path: Path, entitlement: str) -> None:
    repo = write(tmp_path)
    path, line = add(repo, entitlement, "end_sessions: true\n")

    found = findings(repo)
    mine = [f for f in found if f["file"] == path]
    assert [(f["line"], f["code"]) for f in mine] == [(line, "end-sessions-platform")]
    platform = TABLE[entitlement][0].split("-")[0]
    assert f"end_sessions: {platform} has no API" in str(mine[0]["message"])
    assert "only okta and entra entitlements can" in str(mine[0]["message"])
    assert invoke("validate", "--repo", str(repo), now=NOW).code == 1
    assert entitlement not in granted(repo)


@pytest.mark.parametrize("entitlement", ["entra-pim", "entra-role"])
def test_end_sessions_on_what_entra_pim_ends_itself_is_refused(tmp_path: Path,
                                                                entitlement: str) -> None:
    repo = write(tmp_path)
    path, line = add(repo, entitlement, "end_sessions: true\n")
    [finding] = [f for f in findings(repo) if f["file"] == path]
    assert (finding["line"], finding["code"]) == (line, "end-sessions-native-expiry")
    assert "Entra PIM ends" in str(finding["message"])


def test_okta_end_sessions_needs_the_scope_that_allows_it(tmp_path: Path) -> None:
    repo = write(tmp_path)
    providers = repo / "policies" / "providers.yaml"
    oauth = "    auth: private_key\n    client_id: 0oa1jitengine0service7\n"
    providers.write_text(providers.read_text() + "  okta-app:\n    platform: okta\n"
                         "    org_url: https://acme.okta.com\n" + oauth)
    entitlement = repo / "policies" / "entitlements" / "okta-ended.yaml"
    entitlement.write_text(entitlement.read_text().replace("provider: okta-main",
                                                           "provider: okta-app"))
    [finding] = [f for f in findings(repo)
                 if f["file"] == "policies/entitlements/okta-ended.yaml"]
    assert finding["code"] == "end-sessions-scope"
    assert "okta.users.manage" in str(finding["message"]) and "okta-app" in str(
        finding["message"])

    providers.write_text(providers.read_text() + "    scopes: [okta.groups.manage, "
                         "okta.users.manage]\n")
    assert findings(repo) == []
    assert "okta-ended" in granted(repo)


def test_end_sessions_must_be_a_boolean(tmp_path: Path) -> None:
    repo = write(tmp_path)
    path, line = add(repo, "okta-group", "end_sessions: \"yes\"\n")
    [finding] = [f for f in findings(repo) if f["file"] == path]
    assert finding["line"] == line and str(finding["code"]).startswith("schema")


def test_end_sessions_false_is_allowed_anywhere(tmp_path: Path) -> None:
    repo = write(tmp_path)
    add(repo, "aws-iam", "end_sessions: false\n")
    assert findings(repo) == []
