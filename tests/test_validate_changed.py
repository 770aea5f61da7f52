"""`validate --changed` with request files only: just they, their requesters' other requests and
the entitlements those name are loaded; the judgement of those files is the same."""

from __future__ import annotations

from pathlib import Path

from tests.cli_runner import invoke
from tests.repo_fixture import request, write_repo

NOW = "2026-11-23T10:00:00Z"
MINE = "access-requests/prod-admin/alice-x.yaml"
GOOD = request("alice", "prod-admin", "2026-11-23T12:00:00Z")


def validate(root: Path, *changed: str) -> tuple[int, list[dict[str, object]], dict[str, int]]:
    extra = [item for path in changed for item in ("--changed", path)]
    result = invoke("validate", "--repo", str(root), "--format", "json", "--now", NOW, *extra)
    assert result.code in (0, 1), result.err
    payload = result.json()
    return result.code, payload["findings"], payload["summary"]


def test_other_peoples_files_are_not_loaded(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={
        MINE: GOOD,
        "access-requests/prod-admin/bob-broken.yaml": "requester: [bob\n",
        "access-requests/break-glass/carol-x.yaml": request("carol", "break-glass",
                                                            "2026-11-23T12:00:00Z"),
    })
    code, findings, summary = validate(tmp_path)
    assert code == 1 and {f["file"] for f in findings} == {
        "access-requests/prod-admin/bob-broken.yaml", "access-requests/break-glass/carol-x.yaml"}
    code, findings, summary = validate(tmp_path, MINE)
    assert (code, findings) == (0, [])
    assert summary["requests"] == 1 and summary["active"] == 1


def test_the_changed_file_is_judged_as_before(tmp_path: Path) -> None:
    late = request("alice", "prod-admin", "2026-11-23T09:00:00Z",
                   starts="2026-11-23T08:00:00Z")
    write_repo(tmp_path, requests={MINE: late})
    _, whole, _ = validate(tmp_path, "policies/entitlements/prod-admin.yaml", MINE)
    code, partial, _ = validate(tmp_path, MINE)
    assert code == 1
    assert partial == whole
    assert [f["code"] for f in partial] == ["already-expired"]


def test_the_same_persons_other_requests_are_compared(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={
        MINE: GOOD,
        "access-requests/prod-admin/alice-again.yaml": GOOD,
        "access-requests/prod-admin/bob-x.yaml": request("bob", "prod-admin",
                                                         "2026-11-23T12:00:00Z"),
    })
    code, findings, summary = validate(tmp_path, MINE)
    assert code == 1
    assert {(f["file"], f["code"]) for f in findings} == {
        ("access-requests/prod-admin/alice-x.yaml", "duplicate-request")}
    assert summary["requests"] == 2


def test_a_changed_policy_file_loads_everything(tmp_path: Path) -> None:
    write_repo(tmp_path, requests={MINE: GOOD,
                                   "access-requests/prod-admin/bob-broken.yaml": "x: [\n"})
    code, findings, _ = validate(tmp_path, MINE, "policies/identities.yaml")
    assert code == 1
    assert [f["file"] for f in findings] == ["access-requests/prod-admin/bob-broken.yaml"]


def test_a_deleted_file_is_fine_and_a_symlink_is_refused(tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", requests={MINE: GOOD})
    assert validate(repo, "access-requests/prod-admin/alice-gone.yaml")[:2] == (0, [])
    (tmp_path / "outside.yaml").write_text(GOOD)
    link = repo / "access-requests" / "prod-admin" / "alice-link.yaml"
    link.symlink_to(tmp_path / "outside.yaml")
    code, findings, _ = validate(repo, "access-requests/prod-admin/alice-link.yaml")
    assert code == 1
    assert [(f["file"], f["code"]) for f in findings] == [
        ("access-requests/prod-admin/alice-link.yaml", "symlink")]


def test_an_unknown_entitlement_is_still_unknown(tmp_path: Path) -> None:
    path = "access-requests/nope/alice-x.yaml"
    write_repo(tmp_path, requests={path: request("alice", "nope", "2026-11-23T12:00:00Z")})
    code, findings, _ = validate(tmp_path, path)
    assert code == 1
    assert [f["code"] for f in findings] == ["unknown-entitlement"]
