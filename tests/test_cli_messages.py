"""Messages that say what is wrong and which fix is the right one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

NOW = "2026-11-23T10:00:00Z"


def validate(repo: Path) -> list[dict[str, object]]:
    result = invoke("validate", "--repo", str(repo), "--now", NOW, "--format", "json")
    findings: list[dict[str, object]] = result.json()["findings"]
    return findings


def test_an_unknown_key_is_named_with_the_nearest_known_one(tmp_path: Path) -> None:
    text = request("alice", "prod-admin", "2026-11-23T12:00:00Z").replace("ticket:", "tiket:")
    repo = write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": text})
    (finding,) = [f for f in validate(repo) if f["code"] == "schema-access-request"]
    assert finding["line"] == 4
    assert str(finding["message"]).startswith(
        "unknown key 'tiket' in the file: did you mean 'ticket'? (known keys: ")
    assert "are not allowed" not in str(finding["message"])


def test_each_unknown_key_is_its_own_finding_at_its_line(tmp_path: Path) -> None:
    text = request("alice", "prod-admin", "2026-11-23T12:00:00Z") + "approved: true\nreson: x\n"
    repo = write_repo(tmp_path, requests={"access-requests/prod-admin/alice-x.yaml": text})
    found = {(f["line"], f["message"]) for f in validate(repo)
             if f["code"] == "schema-access-request"}
    assert {line for line, _ in found} == {6, 7}
    assert any(str(m).startswith("unknown key 'reson' in the file: did you mean 'reason'?")
               for _, m in found)
    assert any(str(m).startswith("unknown key 'approved' in the file (known keys:")
               for _, m in found)


@pytest.mark.parametrize(("directory", "entitlement", "says"), [
    # A typo in the file: the directory is right, fix the key (it used to say: move the file).
    ("prod-admin", "prod-admn",
     "and there is no entitlement 'prod-admn': set `entitlement: prod-admin`"),
    # A typo in the directory: the key is right, move the file.
    ("prod-admn", "prod-admin", "move the file to access-requests/prod-admin/"),
    # Both exist: either fix, said as a choice.
    ("break-glass", "prod-admin", "both are entitlements; to ask for 'prod-admin' move the "
     "file to access-requests/prod-admin/, to ask for 'break-glass' set "
     "`entitlement: break-glass`"),
    ("prod-admn", "prod-admni", "and neither is an entitlement (did you mean 'prod-admin'?)"),
])
def test_a_file_in_the_wrong_place_gets_the_fix_that_fits(tmp_path: Path, directory: str,
                                                           entitlement: str, says: str) -> None:
    path = f"access-requests/{directory}/alice-x.yaml"
    repo = write_repo(tmp_path, requests={path: request("alice", entitlement,
                                                        "2026-11-23T12:00:00Z")})
    (finding,) = [f for f in validate(repo) if f["code"] == "wrong-directory"]
    assert says in str(finding["message"])
    unknown = [f for f in validate(repo) if f["code"] == "unknown-entitlement"]
    if entitlement == "prod-admn":
        assert "did you mean 'prod-admin'?" in str(unknown[0]["message"])
