"""Malformed, hostile or inconsistent request files: each one a finding at the right file and line,
exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

NOW = "2026-11-23T10:00:00Z"
GOOD = request("alice", "prod-admin", "2026-11-23T12:00:00Z")
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
)

CASES = [
    # (name, path, content, expected code, expected line)
    ("bad yaml", "access-requests/prod-admin/alice-x.yaml",
     "requester: alice\nentitlement: [prod-admin\nexpires_at: 2026-11-23T12:00:00Z\n",
     "yaml-syntax", 3),
    ("duplicate key", "access-requests/prod-admin/alice-x.yaml",
     GOOD + "expires_at: 2026-11-23T13:00:00Z\n", "yaml-duplicate-key", 6),
    ("naive timestamp", "access-requests/prod-admin/alice-x.yaml",
     GOOD.replace("2026-11-23T12:00:00Z", "2026-11-23T12:00:00"), "schema-access-request", 5),
    ("expiry before start", "access-requests/prod-admin/alice-x.yaml",
     request("alice", "prod-admin", "2026-11-23T11:00:00Z", starts="2026-11-23T12:00:00Z"),
     "window-order", 6),
    ("window over the maximum", "access-requests/prod-admin/alice-x.yaml",
     request("alice", "prod-admin", "2026-11-24T12:00:00Z"), "window-too-long", 5),
    ("wrong directory", "access-requests/break-glass/alice-x.yaml", GOOD, "wrong-directory", 2),
    ("unknown entitlement", "access-requests/nope/alice-x.yaml",
     request("alice", "nope", "2026-11-23T12:00:00Z"), "unknown-entitlement", 2),
    ("unknown requester", "access-requests/prod-admin/zed-x.yaml",
     request("zed", "prod-admin", "2026-11-23T12:00:00Z"), "unknown-requester", 1),
    ("file name not the requester", "access-requests/prod-admin/bob-x.yaml", GOOD,
     "file-name", 1),
    ("not eligible", "access-requests/prod-admin/carol-x.yaml",
     request("carol", "prod-admin", "2026-11-23T12:00:00Z"), "not-eligible", 1),
    ("no platform identity", "access-requests/prod-admin/mallory-x.yaml",
     request("mallory", "prod-admin", "2026-11-23T12:00:00Z"), "no-identity", 1),
    ("ticket pattern", "access-requests/prod-admin/alice-x.yaml",
     request("alice", "prod-admin", "2026-11-23T12:00:00Z", ticket="JIRA-1"), "ticket-pattern", 4),
    ("missing ticket", "access-requests/prod-admin/alice-x.yaml",
     request("alice", "prod-admin", "2026-11-23T12:00:00Z", ticket=""), "ticket-required", 1),
    ("non-mapping document", "access-requests/prod-admin/alice-x.yaml", "- a\n- b\n",
     "not-a-mapping", 1),
    ("scalar document", "access-requests/prod-admin/alice-x.yaml", "just text\n",
     "not-a-mapping", 1),
    ("empty file", "access-requests/prod-admin/alice-x.yaml", "", "yaml-empty", 1),
    ("huge file", "access-requests/prod-admin/alice-x.yaml",
     GOOD + "# " + "x" * 300_000 + "\n", "file-too-large", 1),
    ("alias bomb", "access-requests/prod-admin/alice-x.yaml", BOMB, "yaml-too-large", 5),
    ("python tag", "access-requests/prod-admin/alice-x.yaml",
     "requester: !!python/object/apply:os.system [id]\n", "yaml-tag", 1),
    ("unknown key", "access-requests/prod-admin/alice-x.yaml", GOOD + "approved: true\n",
     "schema-access-request", 6),
    ("number where text belongs", "access-requests/prod-admin/alice-x.yaml",
     GOOD.replace("ticket: INC-1", "ticket: 4211"), "schema-access-request", 4),
    ("missing expiry", "access-requests/prod-admin/alice-x.yaml",
     "requester: alice\nentitlement: prod-admin\nreason: x\nticket: INC-1\n",
     "schema-access-request", 1),
    ("stray nesting", "access-requests/prod-admin/sub/alice-x.yaml", GOOD, "request-path", 1),
    ("not utf-8", "access-requests/prod-admin/alice-x.yaml", "requester: \udcff\n",
     "yaml-syntax", 1),
]


@pytest.mark.parametrize(("name", "path", "content", "code", "line"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_bad_file_is_one_clear_finding(
    tmp_path: Path, name: str, path: str, content: str, code: str, line: int
) -> None:
    data = content.encode("utf-8", "surrogateescape")
    write_repo(tmp_path)
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json", "--now", NOW)
    assert result.code == 1, result.err
    findings = result.json()["findings"]
    matching = [f for f in findings if f["file"] == path and f["code"] == code]
    assert matching, findings
    assert matching[0]["line"] == line, matching
    assert "Traceback" not in result.out + result.err


def test_a_clean_repository_passes(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": GOOD})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json", "--now", NOW)
    assert result.code == 0, result.out
    assert result.json()["summary"]["active"] == 1


def test_all_errors_of_a_run_are_reported_not_only_the_first(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-a.yaml": "x: [\n",
        "access-requests/prod-admin/alice-b.yaml": GOOD + "requester: bob\n",
        "access-requests/prod-admin/alice-c.yaml": request("alice", "prod-admin",
                                                           "2026-11-30T00:00:00Z"),
    })
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json", "--now", NOW)
    files = {f["file"] for f in result.json()["findings"]}
    assert files == {f"access-requests/prod-admin/alice-{x}.yaml" for x in "abc"}


def test_symlink_escaping_the_repository_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text(GOOD)
    repo = write_repo(tmp_path / "repo")
    link = repo / "access-requests" / "prod-admin" / "alice-link.yaml"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    result = invoke("validate", "--repo", str(repo), "--format", "json", "--now", NOW)
    assert result.code == 1
    assert [f["code"] for f in result.json()["findings"]] == ["symlink"]


def test_github_annotations_name_file_and_line(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={
        "access-requests/prod-admin/alice-x.yaml": request("alice", "prod-admin",
                                                           "2026-11-30T00:00:00Z")})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "github", "--now", NOW)
    assert result.code == 1
    assert result.out.startswith(
        "::error file=access-requests/prod-admin/alice-x.yaml,line=5,col=1,title=accessctl::"
        "window-too-long: ")


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": BOMB})
    done = subprocess.run(
        [sys.executable, "-m", "accessctl.cli", "validate", "--repo", str(tmp_path), "--now", NOW],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert "yaml-too-large" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_bad_now_is_a_usage_error(tmp_path: Path) -> None:
    write_repo(tmp_path)
    result = invoke("validate", "--repo", str(tmp_path), "--now", "tomorrow")
    assert result.code == 2
    assert "--now" in result.err
