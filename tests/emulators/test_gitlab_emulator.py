"""The GitLab emulator through python-gitlab over HTTP, and the GitLab provider against it.

Every member, merge request and approvals response the client receives is checked against a JSON
Schema written from GitLab's REST documentation (field names and types), after each test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import gitlab
import jsonschema
import pytest
import requests
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import gitlab as provider_module
from accessctl.providers.base import NotFound, ProviderError

# -- schemas from GitLab's documented response shapes ---------------------------------------------
SHA = {"type": "string", "pattern": "^[0-9a-f]{40}$"}
TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$"}
NULLABLE_TIME = {"oneOf": [TIME, {"type": "null"}]}
USER_BASIC = {
    "type": "object",
    "required": ["id", "username", "name", "state", "avatar_url", "web_url"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "name": {"type": "string"},
        "state": {"enum": ["active", "blocked", "deactivated", "banned",
                           "blocked_pending_approval"]},
        "locked": {"type": "boolean"},
        "avatar_url": {"type": ["string", "null"]},
        "web_url": {"type": "string", "pattern": "^https?://"},
    },
}
MEMBER = {
    "type": "object",
    "required": [*USER_BASIC["required"], "access_level", "created_at", "expires_at"],
    "properties": {
        **USER_BASIC["properties"],
        "access_level": {"enum": [5, 10, 15, 20, 30, 40, 50]},
        "created_at": TIME,
        "created_by": {"oneOf": [USER_BASIC, {"type": "null"}]},
        "expires_at": {"oneOf": [{"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                                 {"type": "null"}]},
        "membership_state": {"type": "string"},
    },
}
MERGE_REQUEST = {
    "type": "object",
    "required": ["id", "iid", "project_id", "title", "description", "state", "created_at",
                 "updated_at", "merged_at", "merge_user", "closed_at", "target_branch",
                 "source_branch", "author", "source_project_id", "target_project_id", "sha",
                 "merge_commit_sha", "squash_commit_sha", "web_url", "references", "draft"],
    "properties": {
        "id": {"type": "integer"},
        "iid": {"type": "integer"},
        "project_id": {"type": "integer"},
        "title": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "state": {"enum": ["opened", "closed", "locked", "merged"]},
        "created_at": TIME,
        "updated_at": TIME,
        "merged_at": NULLABLE_TIME,
        "closed_at": NULLABLE_TIME,
        "merged_by": {"oneOf": [USER_BASIC, {"type": "null"}]},
        "merge_user": {"oneOf": [USER_BASIC, {"type": "null"}]},
        "author": USER_BASIC,
        "target_branch": {"type": "string"},
        "source_branch": {"type": "string"},
        "source_project_id": {"type": "integer"},
        "target_project_id": {"type": "integer"},
        "sha": SHA,
        "merge_commit_sha": {"oneOf": [SHA, {"type": "null"}]},
        "squash_commit_sha": {"oneOf": [SHA, {"type": "null"}]},
        "labels": {"type": "array", "items": {"type": "string"}},
        "draft": {"type": "boolean"},
        "squash": {"type": "boolean"},
        "references": {"type": "object", "required": ["short", "relative", "full"]},
        "diff_refs": {
            "type": "object",
            "required": ["base_sha", "head_sha", "start_sha"],
            "properties": {"base_sha": SHA, "head_sha": SHA, "start_sha": SHA},
        },
        "changes_count": {"type": ["string", "null"]},
        "changes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["old_path", "new_path", "a_mode", "b_mode", "diff", "new_file",
                             "renamed_file", "deleted_file"],
                "properties": {"new_file": {"type": "boolean"},
                               "deleted_file": {"type": "boolean"},
                               "renamed_file": {"type": "boolean"},
                               "diff": {"type": "string"}},
            },
        },
    },
}
APPROVALS = {
    "type": "object",
    "required": ["id", "iid", "project_id", "state", "approved", "approvals_required",
                 "approvals_left", "approved_by"],
    "properties": {
        "id": {"type": "integer"},
        "iid": {"type": "integer"},
        "project_id": {"type": "integer"},
        "approved": {"type": "boolean"},
        "approvals_required": {"type": "integer", "minimum": 0},
        "approvals_left": {"type": "integer", "minimum": 0},
        "approved_by": {"type": "array", "items": {
            "type": "object", "required": ["user"],
            "properties": {"user": USER_BASIC, "approved_at": TIME}}},
        "user_has_approved": {"type": "boolean"},
        "user_can_approve": {"type": "boolean"},
    },
}
RULE = {
    "type": "object",
    "required": ["id", "name", "rule_type", "eligible_approvers", "approvals_required", "users",
                 "groups"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "rule_type": {"enum": ["regular", "code_owner", "report_approver", "any_approver"]},
        "eligible_approvers": {"type": "array", "items": USER_BASIC},
        "approvals_required": {"type": "integer", "minimum": 0},
        "approved_by": {"type": "array", "items": USER_BASIC},
        "approved": {"type": "boolean"},
    },
}
APPROVAL_STATE = {
    "type": "object",
    "required": ["approval_rules_overwritten", "rules"],
    "properties": {
        "approval_rules_overwritten": {"type": "boolean"},
        "rules": {"type": "array", "items": {**RULE, "required": [*RULE["required"],
                                                                 "approved_by", "approved"]}},
    },
}

VERSION = {
    "type": "object",
    "required": ["id", "head_commit_sha", "base_commit_sha", "start_commit_sha", "created_at",
                 "merge_request_id", "state", "real_size"],
    "properties": {
        "id": {"type": "integer"},
        "head_commit_sha": SHA,
        "base_commit_sha": SHA,
        "start_commit_sha": SHA,
        "created_at": TIME,
        "merge_request_id": {"type": "integer"},
        "state": {"type": "string"},
        "real_size": {"type": "string"},
    },
}
NOTE = {
    "type": "object",
    "required": ["id", "type", "body", "author", "created_at", "updated_at", "system",
                 "noteable_id", "noteable_type", "resolvable"],
    "properties": {
        "id": {"type": "integer"},
        "type": {"enum": [None, "DiscussionNote", "DiffNote"]},
        "body": {"type": "string"},
        "author": USER_BASIC,
        "created_at": TIME,
        "updated_at": TIME,
        "system": {"type": "boolean"},
        "resolvable": {"type": "boolean"},
        "resolved": {"type": "boolean"},
        "resolved_by": {"oneOf": [USER_BASIC, {"type": "null"}]},
    },
}
DISCUSSION = {
    "type": "object",
    "required": ["id", "individual_note", "notes"],
    "properties": {
        "id": {"type": "string"},
        "individual_note": {"type": "boolean"},
        "notes": {"type": "array", "items": NOTE},
    },
}

_PREFIX = r"^/api/v4/(groups|projects)/[^/]+"
SCHEMAS: list[tuple[re.Pattern[str], dict[str, Any]]] = [
    (re.compile(_PREFIX + r"/members(/all)?(/\d+)?$"), MEMBER),
    (re.compile(_PREFIX + r"/merge_requests(/\d+(/changes)?)?$"), MERGE_REQUEST),
    (re.compile(_PREFIX + r"/repository/commits/[^/]+/merge_requests$"), MERGE_REQUEST),
    (re.compile(_PREFIX + r"/merge_requests/\d+/approvals$"), APPROVALS),
    (re.compile(_PREFIX + r"/merge_requests/\d+/approve$"), APPROVALS),
    (re.compile(_PREFIX + r"/merge_requests/\d+/approval_state$"), APPROVAL_STATE),
    (re.compile(_PREFIX + r"/merge_requests/\d+/approval_rules$"), RULE),
    (re.compile(_PREFIX + r"/merge_requests/\d+/versions(/\d+)?$"), VERSION),
    (re.compile(_PREFIX + r"/merge_requests/\d+/notes(/\d+)?$"), NOTE),
    (re.compile(_PREFIX + r"/merge_requests/\d+/discussions(/[0-9a-f]+)?$"), DISCUSSION),
]


@dataclass
class Seen:
    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: Any


def _record(seen: list[Seen]) -> Any:
    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = requests.utils.urlparse(response.url).path
        try:
            body = response.json()
        except ValueError:
            body = response.content
        seen.append(Seen(response.request.method or "", path, response.status_code,
                         dict(response.headers), body))
    return hook


def _schema_for(path: str) -> dict[str, Any] | None:
    for pattern, schema in SCHEMAS:
        if pattern.match(path):
            return schema
    return None


@pytest.fixture
def emulator() -> Iterator[GitLabEmulator]:
    with GitLabEmulator() as started:
        assert isinstance(started, GitLabEmulator)
        yield started


@pytest.fixture
def seen() -> list[Seen]:
    return []


@pytest.fixture
def gl(emulator: GitLabEmulator, seen: list[Seen]) -> Iterator[Any]:
    client = gitlab.Gitlab(emulator.base_url, private_token=emulator.token)
    client.session.hooks["response"].append(_record(seen))
    yield client
    # Every response of the covered endpoints is checked against its documented shape.
    checked = 0
    for entry in seen:
        schema = _schema_for(entry.path)
        if schema is None or not 200 <= entry.status < 300 or entry.method == "DELETE":
            continue
        items = entry.body if isinstance(entry.body, list) else [entry.body]
        for item in items:
            jsonschema.Draft202012Validator(schema).validate(item)
        checked += 1
    served = sum(1 for e in emulator.log if _schema_for(e.path) and 200 <= e.status < 300
                 and e.method != "DELETE")
    assert checked == served, "a response reached the client without being validated"


@pytest.fixture
def repo(emulator: GitLabEmulator) -> str:
    emulator.add_group("acme")
    for name in ("alice", "carol", "dave", "erin"):
        emulator.add_user(name)
    emulator.add_user("renovate", bot=True)
    emulator.add_project("acme/access", {
        "README.md": "# access\n",
        ".gitlab/CODEOWNERS": "* @erin\n/access-requests/aws/ @carol @dave\n",
    })
    return "acme/access"


REQUEST = "access-requests/aws/alice-inc.yaml"


# -- basics ---------------------------------------------------------------------------------------
def test_projects_and_groups_resolve_by_encoded_path_and_by_id(gl: Any, repo: str,
                                                                 emulator: GitLabEmulator) -> None:
    by_path = gl.projects.get("acme/access")
    assert gl.projects.get(by_path.id).path_with_namespace == "acme/access"
    assert emulator.log[-2].path == "/api/v4/projects/acme%2Faccess"
    assert by_path.default_branch == "main"
    group = gl.groups.get("acme")
    assert group.full_path == "acme" and gl.groups.get(group.id).full_path == "acme"
    with pytest.raises(gitlab.GitlabGetError) as missing:
        gl.projects.get("acme/nothing")
    assert missing.value.response_code == 404
    assert missing.value.error_message == "404 Project Not Found"


@pytest.mark.parametrize("headers", [{}, {"PRIVATE-TOKEN": "wrong"}])
def test_missing_or_wrong_token_is_401(emulator: GitLabEmulator, repo: str,
                                       headers: dict[str, str]) -> None:
    answer = requests.get(f"{emulator.base_url}/api/v4/projects/1", headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"message": "401 Unauthorized"}
    with pytest.raises(gitlab.GitlabAuthenticationError):
        gitlab.Gitlab(emulator.base_url, private_token="wrong").projects.get("acme/access")


def test_users_are_found_by_username_case_insensitively_with_bot_flag(gl: Any, repo: str) -> None:
    [alice] = gl.users.list(username="ALICE")
    assert alice.username == "alice" and alice.bot is False
    [bot] = gl.users.list(username="renovate")
    assert bot.bot is True and gl.users.get(bot.id).bot is True
    assert gl.users.list(username="nobody") == []


# -- merge requests, approvals -------------------------------------------------------------------
def test_merge_request_lookups(gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    main_before = emulator.projects[gl.projects.get(repo).id].branches["main"]
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "requester: alice\n"},
                                      title="Access for INC-1")
    mr = gl.projects.get(repo, lazy=True).mergerequests.get(iid)
    assert (mr.iid, mr.state, mr.author["username"]) == (iid, "opened", "alice")
    assert mr.source_branch == "alice-inc" and mr.target_branch == "main"
    assert mr.diff_refs["base_sha"] == main_before and mr.diff_refs["head_sha"] == mr.sha
    assert mr.merged_at is None and mr.merge_commit_sha is None
    assert [c["new_path"] for c in mr.changes()["changes"]] == [REQUEST]
    assert mr.changes()["changes"][0]["new_file"] is True
    assert [c.id for c in mr.commits()] == [mr.sha]
    project = gl.projects.get(repo, lazy=True)
    assert [m.iid for m in project.mergerequests.list(state="opened")] == [iid]
    assert project.mergerequests.list(state="merged") == []


def test_approvals_and_their_reset_on_push(gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "requester: alice\n"})
    emulator.approve(repo, iid, "carol")
    emulator.approve(repo, iid, "dave")
    mr = gl.projects.get(repo, lazy=True).mergerequests.get(iid)
    approvals = mr.approvals.get()
    assert [a["user"]["username"] for a in approvals.approved_by] == ["carol", "dave"]
    assert approvals.approved is True
    state = mr.approval_state.get()
    [rule] = [r for r in state.rules if r["rule_type"] == "code_owner"]
    assert rule["name"] == "/access-requests/aws/"
    assert {u["username"] for u in rule["eligible_approvers"]} == {"carol", "dave"}
    assert rule["approved"] is True and rule["approvals_required"] == 1

    new_head = emulator.push_to_mr(repo, iid, {REQUEST: "requester: alice\nreason: more\n"})
    mr = gl.projects.get(repo, lazy=True).mergerequests.get(iid)
    assert mr.sha == new_head
    assert mr.approvals.get().approved_by == []
    assert mr.approvals.get().approved is False
    [rule] = [r for r in mr.approval_state.get().rules if r["rule_type"] == "code_owner"]
    assert rule["approved"] is False and rule["approved_by"] == []
    emulator.approve(repo, iid, "dave")
    assert [a.sha for a in emulator.mr(repo, iid).approvals] == [new_head]


def test_approve_through_the_api_checks_the_head_sha(gl: Any, repo: str, seen: list[Seen],
                                                     emulator: GitLabEmulator) -> None:
    emulator.add_token("carol-token", "carol")
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})
    as_carol = gitlab.Gitlab(emulator.base_url, private_token="carol-token")
    as_carol.session.hooks["response"].append(_record(seen))
    mr = as_carol.projects.get(repo, lazy=True).mergerequests.get(iid)
    with pytest.raises(gitlab.GitlabAuthenticationError):
        gitlab.Gitlab(emulator.base_url, private_token="x").projects.get(repo)
    with pytest.raises(gitlab.GitlabMRApprovalError) as stale:
        mr.approve(sha="0" * 40)
    assert stale.value.response_code == 409
    mr.approve(sha=mr.sha)
    assert [a.user_id for a in emulator.mr(repo, iid).approvals] == [emulator.user_id("carol")]
    approvals = gl.projects.get(repo, lazy=True).mergerequests.get(iid).approvals.get()
    assert [a["user"]["username"] for a in approvals.approved_by] == ["carol"]


def test_approvals_say_when_they_were_given_and_pushes_make_diff_versions(
        gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    ticks = iter(datetime(2026, 11, 23, 9, 0, s, tzinfo=UTC) for s in range(60))
    emulator.clock = lambda: next(ticks)
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})
    first = emulator.mr(repo, iid).sha
    emulator.set_approval_settings(repo, reset_approvals_on_push=False)
    emulator.approve(repo, iid, "carol")
    second = emulator.push_to_mr(repo, iid, {REQUEST: "a: 2\n"})
    mr = gl.projects.get(repo, lazy=True).mergerequests.get(iid, lazy=True)
    [approval] = mr.approvals.get().approved_by
    assert (approval["user"]["username"], approval["approved_at"]) == (
        "carol", "2026-11-23T09:00:02.000Z")
    versions = mr.diffs.list()  # GET .../versions: the latest first
    assert [(v.head_commit_sha, v.created_at) for v in versions] == [
        (second, "2026-11-23T09:00:04.000Z"), (first, "2026-11-23T09:00:01.000Z")]
    assert versions[0].base_commit_sha == versions[1].base_commit_sha
    assert mr.diffs.get(versions[0].id).diffs[0]["new_path"] == REQUEST
    emulator.approval_times = False  # an older GitLab
    assert "approved_at" not in mr.approvals.get().approved_by[0]


def test_a_maintainer_may_edit_anyones_note_and_a_developer_only_their_own(
        gl: Any, repo: str, emulator: GitLabEmulator, seen: list[Seen]) -> None:
    for login, level in (("dave", 40), ("alice", 30)):
        emulator.add_member(repo, login, level, kind="projects")
        emulator.add_token(f"{login}-token", login)
    emulator.add_token("carol-token", "carol")
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})

    def notes(token: str) -> Any:
        client = gitlab.Gitlab(emulator.base_url, private_token=token)
        client.session.hooks["response"].append(_record(seen))
        return client.projects.get(repo, lazy=True).mergerequests.get(iid, lazy=True).notes

    written = notes("carol-token").create({"body": "Looks fine."})
    as_alice = notes("alice-token").get(written.id)
    as_alice.body = "accessctl: ratified"
    with pytest.raises(gitlab.GitlabUpdateError) as refused:
        as_alice.save()
    assert refused.value.response_code == 403
    as_dave = notes("dave-token").get(written.id)
    as_dave.body = "accessctl: ratified"
    as_dave.save()
    [note] = notes("carol-token").list()
    assert (note.body, note.author["username"]) == ("accessctl: ratified", "carol")


def test_resolving_a_thread_updates_its_note(gl: Any, repo: str, emulator: GitLabEmulator,
                                             seen: list[Seen]) -> None:
    emulator.clock = lambda: datetime(2026, 11, 23, 9, 0, 1, tzinfo=UTC)
    emulator.add_token("carol-token", "carol")
    emulator.add_token("erin-token", "erin")
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})
    as_carol = gitlab.Gitlab(emulator.base_url, private_token="carol-token")
    as_carol.session.hooks["response"].append(_record(seen))
    thread = as_carol.projects.get(repo, lazy=True).mergerequests.get(
        iid, lazy=True).discussions.create({"body": "Please check the ticket."})
    [opened] = thread.attributes["notes"]
    assert (opened["resolvable"], opened["resolved"], opened["type"]) == (
        True, False, "DiscussionNote")
    as_erin = gitlab.Gitlab(emulator.base_url, private_token="erin-token")
    as_erin.session.hooks["response"].append(_record(seen))
    foreign = as_erin.projects.get(repo, lazy=True).mergerequests.get(
        iid, lazy=True).discussions.get(thread.id)
    foreign.resolved = True
    with pytest.raises(gitlab.GitlabUpdateError):
        foreign.save()  # neither a Developer of the project nor the merge request's author
    emulator.clock = lambda: datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    mine = gl.projects.get(repo, lazy=True).mergerequests.get(iid, lazy=True)
    resolving = mine.discussions.get(thread.id)
    resolving.resolved = True
    resolving.save()
    [note] = mine.notes.list()
    assert (note.resolved, note.resolved_by["username"]) == (True, "root")
    assert (note.created_at, note.updated_at) == ("2026-11-23T09:00:01.000Z",
                                                  "2026-11-23T10:00:00.000Z")


def test_approval_rules_list_includes_seeded_rules(gl: Any, repo: str,
                                                   emulator: GitLabEmulator) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})
    emulator.add_approval_rule(repo, iid, "security", ["erin"], approvals_required=1)
    rules = gl.projects.get(repo, lazy=True).mergerequests.get(iid).approval_rules.list()
    assert sorted((r.name, r.rule_type) for r in rules) == [
        ("/access-requests/aws/", "code_owner"), ("security", "regular")]


@pytest.mark.parametrize("method", ["merge", "squash", "fast-forward"])
def test_commit_to_merge_request_for_each_merge_method(gl: Any, repo: str,
                                                       emulator: GitLabEmulator,
                                                       method: str) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "requester: alice\n"})
    merged_at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    emulator.merge(repo, iid, method=method, at=merged_at)
    project = gl.projects.get(repo, lazy=True)
    mr = project.mergerequests.get(iid)
    assert mr.state == "merged" and mr.merged_at == "2026-11-23T09:30:00.000Z"
    if method == "merge":
        assert mr.merge_commit_sha and mr.squash_commit_sha is None
    elif method == "squash":
        assert mr.merge_commit_sha and mr.squash_commit_sha
    else:
        assert mr.merge_commit_sha is None and mr.squash_commit_sha is None
    # What a VCS adapter does: newest first-parent commit on main that touched the file...
    [touching, *_] = project.commits.list(
        ref_name="main", first_parent=True, query_parameters={"path": REQUEST})
    # ...and the merge requests of that commit.
    found = project.commits.get(touching.id).merge_requests()
    assert [m["iid"] for m in found] == [iid]
    if method == "squash":
        assert project.commits.get(mr.squash_commit_sha).merge_requests()[0]["iid"] == iid
    assert project.commits.get(mr.sha).merge_requests()[0]["iid"] == iid


def test_direct_push_has_no_merge_request(gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    sha = emulator.push_direct(repo, {REQUEST: "requester: alice\n"})
    project = gl.projects.get(repo, lazy=True)
    assert project.commits.get(sha).merge_requests() == []
    assert project.commits.list(ref_name="main", query_parameters={"path": REQUEST})[0].id == sha


def test_merge_conflict_and_impossible_fast_forward_are_refused(repo: str,
                                                                emulator: GitLabEmulator) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "one\n"})
    emulator.push_direct(repo, {REQUEST: "two\n"})
    with pytest.raises(ValueError, match="conflict"):
        emulator.merge(repo, iid, method="merge")
    with pytest.raises(ValueError, match="fast-forward"):
        emulator.merge(repo, iid, method="fast-forward")
    assert emulator.mr(repo, iid).state == "opened"


def test_files_at_a_ref(gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "requester: alice\n"})
    project = gl.projects.get(repo, lazy=True)
    head = project.mergerequests.get(iid).sha
    assert project.files.get(REQUEST, ref=head).decode() == b"requester: alice\n"
    assert project.files.raw(REQUEST, ref="alice-inc") == b"requester: alice\n"
    with pytest.raises(gitlab.GitlabGetError) as missing:
        project.files.get(REQUEST, ref="main")
    assert missing.value.error_message == "404 File Not Found"
    with pytest.raises(gitlab.GitlabGetError):
        project.files.get(REQUEST, ref="no-such-branch")
    codeowners = project.files.get(".gitlab/CODEOWNERS", ref=head[:8])
    assert codeowners.encoding == "base64" and codeowners.commit_id == head
    tree = project.repository_tree(path="access-requests", ref=head, recursive=True,
                                   get_all=True)
    assert [(t["path"], t["type"]) for t in tree] == [
        ("access-requests/aws", "tree"), (REQUEST, "blob")]


def test_notes_create_list_update(gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    iid = emulator.open_merge_request(repo, "alice-inc", "alice", {REQUEST: "a: 1\n"})
    mr = gl.projects.get(repo, lazy=True).mergerequests.get(iid)
    note = mr.notes.create({"body": "accessctl: plan\n- grant alice"})
    assert note.author["username"] == "root" and note.noteable_iid == iid
    note.body = "accessctl: plan (updated)"
    note.save()
    assert [n.body for n in mr.notes.list()] == ["accessctl: plan (updated)"]
    assert mr.notes.get(note.id).body == "accessctl: plan (updated)"


# -- members --------------------------------------------------------------------------------------
def test_members_page_past_one_page(gl: Any, emulator: GitLabEmulator, seen: list[Seen]) -> None:
    emulator.add_group("big")
    for number in range(130):
        emulator.add_user(f"user{number:03d}")
        emulator.add_member("big", f"user{number:03d}", 30, kind="groups")
    group = gl.groups.get("big", lazy=True)
    members = group.members.list(get_all=True)
    assert len(members) == 130 and len({m.username for m in members}) == 130
    assert emulator.count("GET", "/api/v4/groups/big/members") == 7  # 20 a page by default
    first = next(s for s in seen if s.path == "/api/v4/groups/big/members")
    assert (first.headers["X-Page"], first.headers["X-Per-Page"]) == ("1", "20")
    assert (first.headers["X-Total"], first.headers["X-Total-Pages"]) == ("130", "7")
    assert first.headers["X-Next-Page"] == "2"
    assert f'<{emulator.base_url}/api/v4/groups/big/members?' in first.headers["Link"]
    assert 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    assert len(group.members.list(get_all=True, per_page=500)) == 130  # capped at 100 a page
    assert emulator.count("GET", "/api/v4/groups/big/members") == 7 + 2
    last = group.members.list(page=7, per_page=20)
    assert len(last) == 10 and seen[-1].headers["X-Next-Page"] == ""


def test_member_add_update_remove_and_errors(gl: Any, repo: str,
                                             emulator: GitLabEmulator) -> None:
    emulator.add_group("acme/platform")
    alice = emulator.user_id("alice")
    members = gl.groups.get("acme/platform", lazy=True).members
    created = members.create({"user_id": alice, "access_level": 30, "expires_at": "2099-01-02"})
    assert (created.access_level, created.expires_at) == (30, "2099-01-02")
    with pytest.raises(gitlab.GitlabCreateError) as duplicate:
        members.create({"user_id": alice, "access_level": 30})
    assert duplicate.value.response_code == 409
    assert duplicate.value.error_message == "Member already exists"
    members.update(alice, {"access_level": 40, "expires_at": "2099-02-01"})
    assert (members.get(alice).access_level, members.get(alice).expires_at) == (40, "2099-02-01")
    members.delete(alice)
    with pytest.raises(gitlab.GitlabGetError) as gone:
        members.get(alice)
    assert (gone.value.response_code, gone.value.error_message) == (404, "404 Not found")
    with pytest.raises(gitlab.GitlabDeleteError):
        members.delete(alice)
    with pytest.raises(gitlab.GitlabCreateError) as past:
        members.create({"user_id": alice, "access_level": 30, "expires_at": "2001-01-01"})
    assert past.value.response_code == 400
    with pytest.raises(gitlab.GitlabCreateError) as bad_level:
        members.create({"user_id": alice, "access_level": 35})
    assert bad_level.value.response_code == 400


def test_members_all_includes_inherited_and_direct_levels_cannot_go_below(
        gl: Any, repo: str, emulator: GitLabEmulator) -> None:
    emulator.add_member("acme", "carol", 40, kind="groups")
    emulator.add_member("acme/access", "dave", 20, kind="projects")
    project = gl.projects.get(repo, lazy=True)
    assert [m.username for m in project.members.list()] == ["dave"]
    assert {(m.username, m.access_level) for m in project.members_all.list(get_all=True)} == {
        ("carol", 40), ("dave", 20)}
    with pytest.raises(gitlab.GitlabCreateError) as refused:
        project.members.create({"user_id": emulator.user_id("carol"), "access_level": 30})
    assert refused.value.response_code == 400 and "Maintainer" in str(refused.value)


def test_daily_job_removes_members_on_their_expiry_date(emulator: GitLabEmulator,
                                                        repo: str) -> None:
    emulator.add_member("acme", "carol", 30, "2099-01-02", kind="groups")
    emulator.add_member("acme", "dave", 30, "2099-01-03", kind="groups")
    emulator.add_member("acme", "erin", 30, None, kind="groups")
    today = datetime(2099, 1, 2, tzinfo=UTC).date()
    assert emulator.remove_expired_members(today) == ["carol"]
    assert set(emulator.members("acme", kind="groups")) == {"dave", "erin"}


# -- faults ---------------------------------------------------------------------------------------
def test_429_carries_retry_after_and_500_is_an_error(gl: Any, repo: str, seen: list[Seen],
                                                     emulator: GitLabEmulator) -> None:
    emulator.set_faults(Faults(script=["429"], retry_after=17))
    with pytest.raises(gitlab.GitlabGetError) as limited:
        gl.projects.get(repo, obey_rate_limit=False)
    assert limited.value.response_code == 429
    assert seen[-1].headers["Retry-After"] == "17"
    assert int(seen[-1].headers["RateLimit-Reset"]) > int(datetime.now(UTC).timestamp())
    assert seen[-1].body == b"Retry later\n"
    emulator.set_faults(Faults(script=["500"]))
    with pytest.raises(gitlab.GitlabGetError) as broken:
        gl.projects.get(repo)
    assert broken.value.response_code == 500
    # python-gitlab's own rate-limit handling understands the emulator's 429.
    emulator.set_faults(Faults(script=["429"], retry_after=0))
    emulator.reset_log()
    assert gl.projects.get(repo).path_with_namespace == repo
    assert [e.status for e in emulator.log] == [429, 200]


# -- the provider against the emulator ------------------------------------------------------------
ENV = "GITLAB_TEST_TOKEN"
AT = datetime(2099, 3, 1, 23, 30, tzinfo=UTC) + timedelta(hours=5)  # 2099-03-02T04:30Z


def _provider(emulator: GitLabEmulator, token: str | None = None) -> Any:
    instance = ProviderInstance("gitlab-main", "gitlab",
                                {"url": emulator.base_url, "token_env": ENV})
    return provider_module.create(instance, {ENV: token or emulator.token})


def _target(kind: str, ref: str, level: str = "developer") -> Target:
    return Target.build("gitlab-main", "gitlab", kind, {kind: ref, "access_level": level})


def _change(action: Action, target: Target, principal: str,
            expires_at: datetime | None = AT) -> Change:
    return Change(action, target, principal, "gitlab-dev", "test", "alice", expires_at)


def test_grant_sets_the_day_after_the_utc_expiry_date(repo: str, emulator: GitLabEmulator) -> None:
    provider = _provider(emulator)
    target = _target("group", "acme")
    local = datetime.fromisoformat("2099-03-01T23:30:00-05:00")  # 2099-03-02 in UTC
    outcome = provider.grant(_change(Action.GRANT, target, "Alice", local))
    assert outcome.status is Status.DONE and outcome.native_expiry_set
    member = emulator.members("acme", kind="groups")["alice"]
    assert (member.access_level, member.expires_at) == (30, "2099-03-03")
    assert provider.native_expiry(target) is True
    posted = [e for e in emulator.log if e.method == "POST"]
    assert len(posted) == 1 and b'"expires_at": "2099-03-03"' in posted[0].body


def test_grant_raises_a_lower_level_never_writes_an_expiry_and_never_lowers(
        repo: str, emulator: GitLabEmulator) -> None:
    """A membership the engine did not create (its own are seen by observe and never re-sent)
    keeps its expiry: the grant only raises the role, and says what was there before, so that
    the revoke puts it back (invariant 8: access the engine does not manage is not stretched,
    shortened or removed)."""
    provider = _provider(emulator)
    emulator.add_member("acme", "carol", 20, "2099-01-01", kind="groups")
    outcome = provider.grant(_change(Action.GRANT, _target("group", "acme", "maintainer"),
                                     "carol"))
    assert outcome.status is Status.DONE and not outcome.native_expiry_set
    assert outcome.previous == (("access_level", "20"),)
    held = emulator.members("acme", kind="groups")["carol"]
    assert (held.access_level, held.expires_at) == (40, "2099-01-01")
    # A lower role with an earlier date leaves the membership alone.
    again = provider.grant(_change(Action.GRANT, _target("group", "acme", "developer"), "carol",
                                   AT - timedelta(days=10)))
    assert again.status is Status.UNCHANGED
    held = emulator.members("acme", kind="groups")["carol"]
    assert (held.access_level, held.expires_at) == (40, "2099-01-01")
    # A standing membership without expiry at or above the level is not touched.
    emulator.add_member("acme", "dave", 50, None, kind="groups")
    standing = provider.grant(_change(Action.GRANT, _target("group", "acme"), "dave"))
    assert standing.status is Status.UNCHANGED and not standing.native_expiry_set
    assert emulator.members("acme", kind="groups")["dave"].expires_at is None
    assert emulator.count("PUT") == 1


def test_observe_counts_direct_members_at_or_above_the_level(repo: str,
                                                             emulator: GitLabEmulator) -> None:
    emulator.add_member("acme", "erin", 50, kind="groups")  # inherited by the project only
    emulator.add_member(repo, "carol", 40, kind="projects")
    emulator.add_member(repo, "dave", 20, kind="projects")
    project_id = emulator.project_id(repo)
    provider = _provider(emulator)
    by_path, by_id = _target("project", repo), _target("project", str(project_id), "30")
    observed = provider.observe([by_path, by_id, _target("project", repo, "reporter")])
    assert observed[by_path] == frozenset({"carol"}) == observed[by_id]
    assert observed[_target("project", repo, "reporter")] == frozenset({"carol", "dave"})
    assert emulator.count("GET", "/api/v4/projects/acme%2Faccess/members") == 2


def test_revoke_is_idempotent_and_missing_targets_are_not_found(
        repo: str, emulator: GitLabEmulator) -> None:
    provider = _provider(emulator)
    target = _target("project", repo)
    provider.grant(_change(Action.GRANT, target, "dave"))
    assert provider.revoke(_change(Action.REVOKE, target, "dave")).status is Status.DONE
    assert provider.revoke(_change(Action.REVOKE, target, "dave")).status is Status.UNCHANGED
    with pytest.raises(NotFound, match="acme/ghost"):
        provider.revoke(_change(Action.REVOKE, _target("project", "acme/ghost"), "dave"))
    with pytest.raises(NotFound, match="ghost-user"):
        provider.grant(_change(Action.GRANT, target, "ghost-user"))
    # One user look-up for dave in this provider, however many calls.
    assert emulator.count("GET", "/api/v4/users") == 2


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("503", 503)])
def test_transient_errors_are_retryable_without_sdk_retries(
        repo: str, emulator: GitLabEmulator, kind: str, status: int) -> None:
    provider = _provider(emulator)
    emulator.set_faults(Faults(script=[kind], retry_after=7))
    with pytest.raises(ProviderError) as raised:
        provider.observe([_target("group", "acme")])
    assert raised.value.retryable
    assert raised.value.retry_after == (7 if kind == "429" else None)
    assert [e.status for e in emulator.log] == [status]  # python-gitlab did not retry


def test_dropped_connection_is_retryable(repo: str, emulator: GitLabEmulator) -> None:
    emulator.set_faults(Faults(script=["drop"]))
    with pytest.raises(ProviderError) as raised:
        _provider(emulator).observe([_target("group", "acme")])
    assert raised.value.retryable


def test_client_errors_are_not_retryable(repo: str, emulator: GitLabEmulator) -> None:
    with pytest.raises(ProviderError) as rejected:
        _provider(emulator, token="wrong").observe([_target("group", "acme")])
    assert not rejected.value.retryable and ENV in str(rejected.value)
    emulator.add_member("acme", "carol", 40, kind="groups")
    with pytest.raises(ProviderError) as below:
        _provider(emulator).grant(_change(Action.GRANT, _target("project", repo), "carol"))
    assert not below.value.retryable and "inherited" in str(below.value)
    instance = ProviderInstance("gitlab-main", "gitlab", {"url": emulator.base_url})
    with pytest.raises(ProviderError, match="GITLAB_TOKEN"):
        provider_module.create(instance, {}).observe([_target("group", "acme")])
    with pytest.raises(ProviderError, match="access level"):
        _provider(emulator).observe([_target("group", "acme", "admin")])


def test_module_schemas_are_valid_json_schemas() -> None:
    jsonschema.Draft202012Validator.check_schema(provider_module.SETTINGS_SCHEMA)
    for kind, schema in provider_module.TARGET_SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        assert validator.is_valid({kind: "acme/platform", "access_level": "maintainer"})
        assert validator.is_valid({kind: 42, "access_level": 30})
        assert not validator.is_valid({kind: "acme/../x y", "access_level": "developer"})
        assert not validator.is_valid({kind: "acme", "access_level": "admin"})
