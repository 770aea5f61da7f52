"""Request file names use a safe character set (invariant 14): anything else, hidden files
included, is a finding naming the file (its control characters shown escaped) and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from accessctl.core import console

from tests.actions_runner import names
from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

GOOD = request("alice", "prod-admin", "2026-11-23T12:00:00Z")


@pytest.mark.parametrize(("path", "shown"), [
    ("access-requests/prod-admin/.alice-x.yaml", ".alice-x.yaml"),
    ("access-requests/prod-admin/alice-x\n::add-mask::y.yaml", "alice-x\\n::add-mask::y.yaml"),
    ("access-requests/prod-admin/alice x.yaml", "alice x.yaml"),
    ("access-requests/prod-admin/alice-\u0445.yaml", "alice-\u0445.yaml"),
    ("access-requests/prod-admin\n/alice-x.yaml", "prod-admin\\n"),
    ("access-requests/Prod-admin/alice-x.yaml", "Prod-admin"),
    ("access-requests/.hidden/alice-x.yaml", ".hidden"),
    ("access-requests/prod-admin/-alice-x.yaml", "-alice-x.yaml"),
])
def test_unsafe_request_file_names_are_refused(tmp_path: Path, path: str, shown: str) -> None:
    write_repo(tmp_path, requests={path: GOOD})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json",
                    "--now", "2026-11-23T10:00:00Z")
    assert result.code == 1, result.out
    [finding] = [f for f in result.json()["findings"] if f["file"] == path]
    assert finding["code"] == "request-path"
    assert shown in finding["message"], finding
    text = invoke("validate", "--repo", str(tmp_path), "--now", "2026-11-23T10:00:00Z")
    assert names(text.out) == [] and console.escape(path) in text.out


def test_a_hidden_request_is_refused_when_changed_too(tmp_path: Path) -> None:
    path = "access-requests/prod-admin/.alice-x.yaml"
    write_repo(tmp_path, requests={path: GOOD})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json", "--changed", path,
                    "--now", "2026-11-23T10:00:00Z")
    assert result.code == 1
    assert [f["code"] for f in result.json()["findings"] if f["file"] == path] == [
        "request-path"]


@pytest.mark.parametrize("name", ["alice-x.yaml", "Alice-INC-42.yml", "alice-2026.11.23_a.yaml"])
def test_safe_request_file_names_load(tmp_path: Path, name: str) -> None:
    requester = name.split("-")[0]
    write_repo(tmp_path, requests={f"access-requests/prod-admin/{name}":
                                   request(requester, "prod-admin", "2026-11-23T12:00:00Z")})
    result = invoke("validate", "--repo", str(tmp_path), "--format", "json",
                    "--now", "2026-11-23T10:00:00Z")
    assert result.code == 0, result.out
