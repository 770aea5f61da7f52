"""The GitHub emulator, driven through PyGithub over HTTP, and checked against GitHub's contract.

Every JSON response the emulator gives during these tests is validated, when each test ends,
against the response schema in tests/contracts/github-rest-subset.json for its path, method and
status (errors the contract does not list against `basic-error`, and every error must carry
`message` and `documentation_url` as GitHub's do). The last tests prove that check bites.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accessctl.emulators.github import API, GitHubEmulator, LoggedResponse
from accessctl.emulators.http import Faults

from tests.contracts.openapi import prepared

CONTRACT_FILE = Path(__file__).parents[1] / "contracts" / "github-rest-subset.json"
REPO = "acme/access"
REQUEST = "access-requests/prod-admin/alice-inc-1.yaml"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

# Routes the emulator serves under another spelling of a contract path.
ALIASES = {
    "/organizations/{org_id}/team/{team_id}": "/orgs/{org}/teams/{team_slug}",
    "/repos/{owner}/{repo}/contents/": "/repos/{owner}/{repo}/contents/{path}",
    # "Get a user using their ID" answers what "Get a user" does.
    "/user/{account_id}": "/users/{username}",
}
ERROR_REQUIRED = {"type": "object", "required": ["message", "documentation_url"],
                  "properties": {"message": {"type": "string"},
                                 "documentation_url": {"type": "string"}}}


class Contract:
    """GitHub's published response schemas, checked with openapi-schema-validator (OpenAPI 3.0
    semantics: `nullable`, `$ref` into components)."""

    def __init__(self) -> None:
        # openapi-schema-validator applies a `discriminator` only to objects, but GitHub maps
        # the contents listing (an array) through one; `oneOf` alone decides the same thing.
        self.spec: dict[str, Any] = prepared(json.loads(CONTRACT_FILE.read_text()))
        self.checked: set[tuple[str, str, int]] = set()
        self.unchecked: set[tuple[str, str, int]] = set()

    def validator(self, schema: dict[str, Any]) -> Any:
        from openapi_schema_validator import OAS30Validator

        return OAS30Validator({**schema, "components": self.spec["components"]})

    def response_schema(self, method: str, route: str, status: int
                        ) -> tuple[bool, dict[str, Any] | None]:
        """(declared, JSON schema) for a response; declared False when the contract has no such
        response."""
        for alias, contract_path in ALIASES.items():
            if route.startswith(alias):
                route = contract_path + route[len(alias):]
        route = route.replace(":path}", "}")
        operation = self.spec["paths"].get(route, {}).get(method.lower())
        if operation is None or str(status) not in operation["responses"]:
            return False, None
        declared = operation["responses"][str(status)]
        if "$ref" in declared:
            declared = self.spec["components"]["responses"][declared["$ref"].split("/")[-1]]
        content = declared.get("content", {}).get("application/json")
        return True, content["schema"] if content else None

    def violations(self, response: LoggedResponse) -> list[str]:
        where = f"{response.method} {response.path} -> {response.status}"
        problems: list[str] = []
        if response.status >= 400:
            problems += [f"{where}: {e.message}"
                         for e in self.validator(ERROR_REQUIRED).iter_errors(response.body)]
        if response.route is None:
            if response.status < 400:
                problems.append(f"{where}: a success from no route")
            return problems
        declared, schema = self.response_schema(response.method, response.route,
                                                response.status)
        key = (response.method, response.route, response.status)
        if not declared:
            if response.status >= 400:
                schema = {"$ref": "#/components/schemas/basic-error"}
            else:
                self.unchecked.add(key)
                return problems
        self.checked.add(key)
        if schema is None and response.status >= 400:
            # GitHub sends its error body even where the description lists no content.
            schema = {"$ref": "#/components/schemas/basic-error"}
        if schema is None:
            if response.body is not None:
                problems.append(f"{where}: the contract declares no body")
            return problems
        for error in self.validator(schema).iter_errors(response.body):
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where}: at {path or '(root)'}: {error.message[:200]}")
        return problems


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract()


@pytest.fixture
def emulator(contract: Contract) -> Iterator[GitHubEmulator]:
    server = GitHubEmulator()
    server.start()
    server.clock = lambda: T0
    seed(server)
    try:
        yield server
        problems = [p for r in server.responses for p in contract.violations(r)]
        assert not problems, "\n".join(problems[:20])
        assert server.responses, "the test made no request"
    finally:
        server.stop()


def seed(server: GitHubEmulator) -> None:
    for login in ("alice", "Carol", "dave", "erin", "outsider"):
        server.add_user(login, name=login.title(), email=f"{login.lower()}@acme.example")
    server.add_bot("renovate[bot]")
    server.add_org("acme", members=["alice", "dave"], admins=["accessctl-admin"])
    server.add_team("acme", "security", members=["carol", "dave"])
    server.add_repo("acme", "access", files={
        ".github/CODEOWNERS": "* @acme/security\n",
        "policies/entitlements/prod-admin.yaml": "name: prod-admin\n",
    })
    for login in ("alice", "carol", "dave", "erin", "outsider"):
        server.add_token(f"token-{login.lower()}", login)


def client(server: GitHubEmulator, token: str | None = None, per_page: int = 30) -> Any:
    from github import Auth, Github

    return Github(auth=Auth.Token(token or server.token), base_url=server.api, lazy=True,
                  retry=None, per_page=per_page, seconds_between_requests=None,
                  seconds_between_writes=None)


def raw_get(server: GitHubEmulator, path: str, token: str | None = None
            ) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(server.api + path, headers={
        "Authorization": f"token {token or server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            return answer.status, dict(answer.headers), json.loads(body) if body else None
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def raw_put(server: GitHubEmulator, path: str, data: Any) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(server.api + path, data=json.dumps(data).encode(),
                                     method="PUT", headers={
                                         "Authorization": f"token {server.token}",
                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
            return answer.status, dict(answer.headers), json.loads(body) if body else None
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def open_request(server: GitHubEmulator, branch: str = "alice-inc-1") -> int:
    return server.open_pull(REPO, "alice", branch, {REQUEST: "requester: alice\n"},
                            title="Request prod-admin")


# -- pull requests, reviews, files ----------------------------------------------------------------
def test_pull_request_facts_read_through_pygithub(emulator: GitHubEmulator) -> None:
    number = open_request(emulator)
    head = emulator.repo(REPO).pulls[number].head_sha
    base = emulator.ref(REPO, "refs/heads/main")
    emulator.submit_review(REPO, number, "carol", "APPROVED")

    repo = client(emulator).get_repo(REPO)
    pull = repo.get_pull(number)
    assert (pull.user.login, pull.user.type, pull.state, pull.merged) == (
        "alice", "User", "open", False)
    assert (pull.head.sha, pull.base.ref, pull.base.sha) == (head, "main", base)
    assert pull.html_url == f"{emulator.base_url}/{REPO}/pull/{number}"
    assert pull.merged_at is None and pull.merge_commit_sha is None
    assert [f.filename for f in pull.get_files()] == [REQUEST]
    assert [f.status for f in pull.get_files()] == ["added"]
    assert [c.sha for c in pull.get_commits()] == [head]
    [review] = list(pull.get_reviews())
    assert (review.user.login, review.state, review.commit_id) == ("Carol", "APPROVED", head)
    assert review.submitted_at == T0
    assert repo.get_pulls(state="open")[0].number == number
    assert repo.default_branch == "main"


def test_reviews_through_the_api_self_approval_dismissal_and_older_commits(
        emulator: GitHubEmulator) -> None:
    from github import GithubException

    number = open_request(emulator)
    first_head = emulator.repo(REPO).pulls[number].head_sha
    as_carol = client(emulator, "token-carol").get_repo(REPO).get_pull(number)
    approval = as_carol.create_review(event="APPROVE")
    assert (approval.state, approval.commit_id) == ("APPROVED", first_head)

    as_alice = client(emulator, "token-alice").get_repo(REPO).get_pull(number)
    with pytest.raises(GithubException) as raised:
        as_alice.create_review(event="APPROVE")
    assert raised.value.status == 422

    # A later push leaves the approval on the older commit.
    new_head = emulator.push_to_pull(REPO, number, {REQUEST: "requester: alice\n# more\n"})
    pull = client(emulator).get_repo(REPO).get_pull(number)
    assert pull.head.sha == new_head
    assert [r.commit_id for r in pull.get_reviews()] == [first_head]
    assert pull.commits == 2

    pull.get_review(approval.id).dismiss("stale")
    emulator.submit_review(REPO, number, "dave", "CHANGES_REQUESTED")
    states = [(r.user.login, r.state) for r in pull.get_reviews()]
    assert states == [("Carol", "DISMISSED"), ("dave", "CHANGES_REQUESTED")]


def test_review_requests_on_a_merged_pull_request(emulator: GitHubEmulator) -> None:
    from github import GithubException

    number = open_request(emulator)
    emulator.merge_pull(REPO, number, "squash", merged_by="dave")
    pull = client(emulator).get_repo(REPO).get_pull(number)
    pull.create_review_request(reviewers=["dave"], team_reviewers=["security"])
    users, teams = pull.get_review_requests()
    assert [u.login for u in users] == ["dave"] and [t.slug for t in teams] == ["security"]
    fresh = client(emulator).get_repo(REPO).get_pull(number)
    assert [u.login for u in fresh.requested_reviewers] == ["dave"]
    assert [t.slug for t in fresh.requested_teams] == ["security"]
    # The contract: 422 for someone without access; GitHub also refuses the author.
    for reviewer in ("outsider", "alice"):
        with pytest.raises(GithubException) as raised:
            pull.create_review_request(reviewers=[reviewer])
        assert raised.value.status == 422
    with pytest.raises(GithubException) as raised:
        pull.create_review_request(team_reviewers=["no-such-team"])
    assert raised.value.status == 422
    # A requested reviewer who reviews is no longer requested.
    emulator.submit_review(REPO, number, "dave", "APPROVED")
    assert emulator.requested_reviewers(REPO, number) == ([], ["security"])


def test_pull_files_are_paginated(emulator: GitHubEmulator) -> None:
    files = {f"docs/page-{i:03d}.md": f"page {i}\n" for i in range(45)}
    number = emulator.open_pull(REPO, "alice", "docs", files)
    emulator.reset_log()
    pull = client(emulator).get_repo(REPO).get_pull(number)
    listed = [f.filename for f in pull.get_files()]
    assert listed == sorted(files)
    assert emulator.count("GET", f"{API}/repos/{REPO}/pulls/{number}/files") == 2
    assert pull.changed_files == 45 and pull.additions == 45


# -- merge methods and commit -> pulls ------------------------------------------------------------
@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_commit_to_pulls_finds_the_pull_for_every_merge_method(
        emulator: GitHubEmulator, method: str) -> None:
    number = open_request(emulator)
    first = emulator.repo(REPO).pulls[number].head_sha
    second = emulator.push_to_pull(REPO, number, {REQUEST: "requester: alice\nreason: x\n"})
    pr_commits = [first, second]
    base = emulator.ref(REPO, "refs/heads/main")
    merged_at = T0 + timedelta(hours=1)
    head = emulator.merge_pull(REPO, number, method, merged_by="dave", at=merged_at)

    repo = client(emulator).get_repo(REPO)
    pull = repo.get_pull(number)
    assert (pull.merged, pull.state, pull.merged_at) == (True, "closed", merged_at)
    assert pull.merge_commit_sha == head
    assert pull.merged_by.login == "dave"
    tip = repo.get_commit(head)
    if method == "merge":
        assert [p.sha for p in tip.parents] == [base, pull.head.sha]
    elif method == "squash":
        assert [p.sha for p in tip.parents] == [base]
    else:
        parent = tip.parents[0]
        assert len(tip.parents) == 1 and parent.sha not in pr_commits
        assert repo.get_commit(parent.sha).parents[0].sha == base
    assert repo.get_contents(REQUEST, ref=head).decoded_content == b"requester: alice\nreason: x\n"

    # What approval verification does: the newest commit on main touching the file, then the
    # merged pull request behind it.
    newest = repo.get_commits(sha="main", path=REQUEST)[0]
    # After a merge commit that is the pull request's own last commit (the merge commit took
    # the file unchanged from it); after squash or rebase, the new commit on main.
    assert newest.sha == (second if method == "merge" else head)
    assert [p.number for p in repo.get_commit(newest.sha).get_pulls()] == [number]
    assert [p.number for p in repo.get_commit(head).get_pulls()] == [number]


def test_a_direct_push_has_no_pull_and_open_pulls_show_off_the_default_branch(
        emulator: GitHubEmulator) -> None:
    pushed = emulator.push_direct(REPO, {REQUEST: "requester: alice\n"}, author="alice")
    number = emulator.open_pull(REPO, "dave", "dave-x", {"access-requests/x/dave.yaml": "x\n"})
    head = emulator.repo(REPO).pulls[number].head_sha
    repo = client(emulator).get_repo(REPO)
    assert list(repo.get_commit(pushed).get_pulls()) == []
    assert [c.sha for c in repo.get_commits(sha="main", path=REQUEST)] == [pushed]
    assert [p.number for p in repo.get_commit(head).get_pulls()] == [number]
    comparison = repo.compare("main", "dave-x")
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("ahead", 1, 0)
    assert [f.filename for f in comparison.files] == ["access-requests/x/dave.yaml"]


# -- contents, refs, branches ---------------------------------------------------------------------
def test_contents_at_a_ref_and_directories(emulator: GitHubEmulator) -> None:
    from github import UnknownObjectException

    base = emulator.ref(REPO, "refs/heads/main")
    number = open_request(emulator)
    head = emulator.repo(REPO).pulls[number].head_sha
    repo = client(emulator).get_repo(REPO)
    content = repo.get_contents(REQUEST, ref=head)
    assert content.decoded_content == b"requester: alice\n" and content.type == "file"
    with pytest.raises(UnknownObjectException):
        repo.get_contents(REQUEST, ref=base)
    top = repo.get_contents("", ref=head)
    assert sorted((e.path, e.type) for e in top) == [
        (".github", "dir"), ("access-requests", "dir"), ("policies", "dir")]
    assert [e.path for e in repo.get_contents("policies/entitlements", ref=base)] == [
        "policies/entitlements/prod-admin.yaml"]
    codeowners = repo.get_contents(".github/CODEOWNERS", ref="main")
    assert base64.b64decode(codeowners.content) == b"* @acme/security\n"


def test_refs_create_read_and_move(emulator: GitHubEmulator) -> None:
    from github import GithubException

    first = emulator.ref(REPO, "refs/heads/main")
    repo = client(emulator).get_repo(REPO)
    made = repo.create_git_ref("refs/accessctl/last-applied", first)
    assert (made.ref, made.object.sha) == ("refs/accessctl/last-applied", first)
    second = emulator.push_direct(REPO, {"README.md": "changed\n"})
    ref = repo.get_git_ref("accessctl/last-applied")
    # A lazy GitRef keeps the singular /git/ref/ URL it was built from; reading it first takes
    # the /git/refs/ URL from GitHub's answer, the one PATCH goes to.
    assert ref.object.sha == first
    ref.edit(second)
    assert emulator.ref(REPO, "refs/accessctl/last-applied") == second
    assert repo.get_git_ref("accessctl/last-applied").object.sha == second
    with pytest.raises(GithubException) as raised:
        ref.edit(first)  # backwards without force
    assert raised.value.status == 422
    with pytest.raises(GithubException) as raised:
        repo.create_git_ref("refs/accessctl/last-applied", first)
    assert raised.value.status == 422
    assert repo.get_branch("main").commit.sha == second


# -- teams and org members ------------------------------------------------------------------------
def test_team_members_follow_link_pagination(emulator: GitHubEmulator) -> None:
    logins = [f"Member-{i:03d}" for i in range(130)]
    for login in logins:
        emulator.add_user(login)
    emulator.add_team("acme", "big", members=logins)
    emulator.reset_log()
    gh = client(emulator)
    members = [m.login for m in gh.get_organization("acme").get_team_by_slug("big").get_members()]
    assert members == logins
    assert emulator.count("GET", f"{API}/orgs/acme/teams/big/members") == 5  # 30 per page

    status, headers, body = raw_get(emulator, "/orgs/acme/teams/big/members?per_page=100")
    assert status == 200 and len(body) == 100
    assert 'rel="next"' in headers["Link"] and "page=2" in headers["Link"]
    assert 'rel="last"' in headers["Link"]
    _, headers, body = raw_get(emulator, "/orgs/acme/teams/big/members?per_page=500&page=2")
    assert len(body) == 30 and 'rel="prev"' in headers["Link"] and "next" not in headers["Link"]
    team = client(emulator, per_page=100).get_organization("acme").get_team_by_slug("big")
    assert team.get_members().totalCount == 130
    assert team.members_count == 130 and team.slug == "big"


def test_team_memberships_put_get_delete(emulator: GitHubEmulator) -> None:
    from github import UnknownObjectException

    gh = client(emulator)
    team = gh.get_organization("acme").get_team_by_slug("security")
    alice = gh.get_user("ALICE")
    assert alice.login == "alice"  # case-insensitive lookup, canonical case kept
    team.add_membership(alice, "member")
    assert team.get_team_membership("alice").state == "active"
    assert "alice" in emulator.team_members("acme", "security")

    outsider = gh.get_user("outsider")
    team.add_membership(outsider, "member")
    assert team.get_team_membership(outsider).state == "pending"
    assert "outsider" not in [m.login for m in team.get_members()]
    assert [i.login for i in team.invitations()] == ["outsider"]

    team.remove_membership(alice)
    team.remove_membership(outsider)
    assert "alice" not in emulator.team_members("acme", "security")
    assert emulator.team_pending("acme", "security") == {}
    with pytest.raises(UnknownObjectException):
        team.get_team_membership("alice")
    with emulator.lax():  # a role the contract does not allow, to see GitHub's refusal
        status, _, body = raw_put(emulator, "/orgs/acme/teams/security/memberships/dave",
                                  {"role": "owner"})
    assert status == 422 and body["errors"][0]["field"] == "role"
    with pytest.raises(UnknownObjectException):
        gh.get_user("no-such-person")
    with pytest.raises(UnknownObjectException):
        gh.get_organization("acme").get_team_by_slug("nope").get_members().totalCount  # noqa: B018

    org_members = {m.login for m in gh.get_organization("acme").get_members()}
    assert {"alice", "dave", "Carol", "accessctl-admin"} <= org_members


# -- comments -------------------------------------------------------------------------------------
def test_issue_comments_create_list_and_edit(emulator: GitHubEmulator) -> None:
    from github import GithubException

    number = open_request(emulator)
    issue = client(emulator).get_repo(REPO).get_issue(number)
    assert issue.title == "Request prod-admin" and issue.pull_request is not None
    created = issue.create_comment("<!-- accessctl -->\nfirst")
    assert created.user.login == "accessctl-admin"
    created.edit("<!-- accessctl -->\nsecond")
    assert [c.body for c in issue.get_comments()] == ["<!-- accessctl -->\nsecond"]
    assert emulator.comments(REPO, number) == ["<!-- accessctl -->\nsecond"]
    with pytest.raises(GithubException) as raised:
        client(emulator).get_repo(REPO).get_issue(999).create_comment("x")
    assert raised.value.status == 404


def test_issues_open_read_edit_close_and_reopen(emulator: GitHubEmulator) -> None:
    from github import GithubException

    # Labels at creation are kept for a user with push access only (GitHub drops the others').
    as_alice = client(emulator, "token-alice").get_repo(REPO)
    opened = as_alice.create_issue("Access please", body="### Entitlement\n\nprod-admin",
                                   labels=["access-request"])
    assert (opened.user.login, opened.state, opened.labels) == ("alice", "open", [])
    assert opened.pull_request is None
    admin = client(emulator).get_repo(REPO)
    labelled = admin.create_issue("By the owner", labels=["access-request"])
    assert [label.name for label in labelled.labels] == ["access-request"]
    # Issues and pull requests share one sequence of numbers.
    pull = open_request(emulator)
    assert (opened.number, labelled.number, pull) == (1, 2, 3)
    # Its author edits it; someone else without push access may not.
    as_alice.get_issue(opened.number).edit(body="### Entitlement\n\nbreak-glass")
    assert emulator.issue(REPO, opened.number).body == "### Entitlement\n\nbreak-glass"
    with pytest.raises(GithubException) as refused:
        client(emulator, "token-erin").get_repo(REPO).get_issue(opened.number).edit(body="x")
    assert refused.value.status == 403
    # Closed with a reason, reopened.
    issue = admin.get_issue(opened.number)
    issue.edit(state="closed", state_reason="not_planned")
    closed = admin.get_issue(opened.number)
    assert (closed.state, closed.state_reason, closed.closed_by.login) == (
        "closed", "not_planned", "accessctl-admin")
    closed.edit(state="open")
    assert admin.get_issue(opened.number).state_reason == "reopened"
    # A pull request is an issue too; an unknown number is not.
    assert admin.get_issue(pull).pull_request is not None
    with pytest.raises(GithubException) as missing:
        admin.get_issue(99).edit(body="x")
    assert missing.value.status == 404
    assert emulator.repo(REPO).issues[opened.number].user == "alice"


def test_an_app_token_reaches_issues_with_the_issues_permission(emulator: GitHubEmulator) -> None:
    from github import GithubException

    emulator.add_bot("requests[bot]")
    emulator.add_token("token-app", "requests[bot]", {"pull_requests": "write"})
    issue = emulator.open_issue(REPO, "alice", "Access please")
    pull = open_request(emulator)
    repo = client(emulator, "token-app").get_repo(REPO)
    # Pull requests reaches a pull request seen as an issue, not an issue.
    repo.get_issue(pull).create_comment("on the pull request")
    with pytest.raises(GithubException) as refused:
        repo.get_issue(issue).create_comment("on the issue")
    assert refused.value.status == 403
    assert refused.value.headers["x-accepted-github-permissions"] == "issues=write"
    emulator.add_token("token-app2", "requests[bot]", {"issues": "write"})
    client(emulator, "token-app2").get_repo(REPO).get_issue(issue).create_comment("now")
    assert emulator.comments(REPO, issue) == ["now"]


def test_contents_put_creates_then_updates_a_file_on_a_branch(emulator: GitHubEmulator) -> None:
    from github import GithubException

    repo = client(emulator).get_repo(REPO)
    main = emulator.ref(REPO, "refs/heads/main")
    assert main is not None
    repo.create_git_ref("refs/heads/ask", main)
    created = repo.create_file("access-requests/prod-admin/alice-x.yaml", "Ask",
                               "requester: alice\n", branch="ask")
    sha = created["commit"].sha
    assert emulator.ref(REPO, "refs/heads/ask") == sha
    assert emulator.file_at(REPO, sha, "access-requests/prod-admin/alice-x.yaml") == (
        b"requester: alice\n")
    assert emulator.repo(REPO).commits[sha].author == "accessctl-admin"
    assert emulator.ref(REPO, "refs/heads/main") == main  # only the named branch moves
    # The description's 409 is oneOf two error schemas that both take a plain error body, so
    # no answer can match exactly one: checked here with strict contract mode off.
    with emulator.lax(), pytest.raises(GithubException) as conflict:
        repo.update_file("access-requests/prod-admin/alice-x.yaml", "Edit", "x\n", "0" * 40,
                         branch="ask")
    assert conflict.value.status == 409
    blob = created["content"].sha
    repo.update_file("access-requests/prod-admin/alice-x.yaml", "Edit", "x\n", blob,
                     branch="ask")
    assert emulator.file_at(REPO, "refs/heads/ask",
                            "access-requests/prod-admin/alice-x.yaml") == b"x\n"
    with pytest.raises(GithubException) as missing:
        repo.create_file("y.txt", "m", "y", branch="nowhere")
    assert missing.value.status == 404


# -- collaborators --------------------------------------------------------------------------------
def test_collaborators_invitations_and_permissions(emulator: GitHubEmulator) -> None:
    from github import GithubException

    repo = client(emulator).get_repo(REPO)
    # An organization member is added at once: 204, no invitation.
    assert repo.add_to_collaborators("dave", "maintain") is None
    assert emulator.collaborators(REPO) == {"dave": "maintain"}
    assert repo.get_collaborator_permission("dave") == "write"  # legacy name for maintain
    # An outside user gets an invitation (201) and no access until it is accepted.
    invitation = repo.add_to_collaborators("outsider", "push")
    assert invitation is not None and invitation.invitee.login == "outsider"
    assert invitation.permissions == "write"
    assert repo.add_to_collaborators("outsider", "push") is not None  # still pending: 201 again
    assert not repo.has_in_collaborators("outsider")
    assert [i.invitee.login for i in repo.get_pending_invitations()] == ["outsider"]
    emulator.accept_invitation(REPO, "outsider")
    assert repo.has_in_collaborators("outsider")
    assert repo.add_to_collaborators("outsider", "push") is None  # already there: 204
    listed = {c.login: c.role_name for c in repo.get_collaborators(affiliation="direct")}
    assert listed == {"dave": "maintain", "outsider": "write"}
    assert [c.login for c in repo.get_collaborators(affiliation="outside")] == ["outsider"]
    # Removing also cancels a pending invitation.
    repo.add_to_collaborators("erin", "pull")
    repo.remove_from_collaborators("erin")
    repo.remove_from_collaborators("outsider")
    assert emulator.pending_invitations(REPO) == {}
    assert set(emulator.collaborators(REPO)) == {"dave"}
    with pytest.raises(GithubException) as raised:
        repo.add_to_collaborators("erin", "superuser")
    assert raised.value.status == 422


def test_collaborators_are_paginated(emulator: GitHubEmulator) -> None:
    for i in range(35):
        emulator.add_user(f"c{i:02d}")
        emulator.add_collaborator(REPO, f"c{i:02d}", "triage")
    emulator.reset_log()
    logins = [c.login for c in client(emulator).get_repo(REPO).get_collaborators()]
    assert logins == [f"c{i:02d}" for i in range(35)]
    assert emulator.count("GET", f"{API}/repos/{REPO}/collaborators") == 2


# -- users, rate limit, statuses, check runs ------------------------------------------------------
def test_users_bots_and_rate_limit(emulator: GitHubEmulator) -> None:
    gh = client(emulator, "token-carol")
    assert gh.get_user().login == "Carol"
    assert gh.get_user("renovate[bot]").type == "Bot"
    assert gh.get_user("carol").name == "Carol"
    limit = gh.get_rate_limit()
    assert limit.resources.core.limit == 5000


def test_a_renamed_user_keeps_the_id_and_memberships_and_frees_the_login(
        emulator: GitHubEmulator) -> None:
    from github import UnknownObjectException

    gh = client(emulator)
    number = open_request(emulator)
    alice_id = gh.get_user("alice").id
    emulator.set_team_member("acme", "security", "alice")
    emulator.rename_user("alice", "Alice-Renamed")
    renamed = gh.get_user_by_id(alice_id)
    assert renamed.login == "Alice-Renamed"
    team = gh.get_organization("acme").get_team_by_slug("security")
    assert {(m.login, m.id) for m in team.get_members()} >= {("Alice-Renamed", alice_id)}
    assert gh.get_repo(REPO).get_pull(number).user.login == "Alice-Renamed"
    assert client(emulator, "token-alice").get_user().login == "Alice-Renamed"
    with pytest.raises(UnknownObjectException):
        gh.get_user("alice")
    emulator.rename_user("erin", "alice")  # the old login is anyone's to take
    assert gh.get_user("alice").id != alice_id
    assert "alice" not in {m.login for m in team.get_members()}
    with pytest.raises(UnknownObjectException):
        gh.get_user_by_id(999_999).login  # noqa: B018
    with pytest.raises(ValueError, match="taken"):
        emulator.rename_user("dave", "alice-renamed")


def test_statuses_and_check_runs(emulator: GitHubEmulator) -> None:
    sha = emulator.ref(REPO, "refs/heads/main")
    assert sha is not None
    repo = client(emulator).get_repo(REPO)
    status = repo.get_commit(sha).create_status("success", description="approved",
                                                context="accessctl/approval")
    assert (status.state, status.context) == ("success", "accessctl/approval")
    run = repo.create_check_run("accessctl", sha, status="in_progress")
    run.edit(status="completed", conclusion="success",
             output={"title": "ok", "summary": "all approved"})
    fetched = repo.get_check_run(run.id)
    assert (fetched.status, fetched.conclusion, fetched.output.title) == (
        "completed", "success", "ok")


# -- errors and faults ----------------------------------------------------------------------------
def test_errors_have_github_bodies(emulator: GitHubEmulator) -> None:
    from github import BadCredentialsException, UnknownObjectException

    with pytest.raises(UnknownObjectException) as missing:
        assert client(emulator).get_repo("acme/nothing-here").id
    assert missing.value.data["message"] == "Not Found"
    assert missing.value.data["documentation_url"].startswith("https://docs.github.com/")
    with pytest.raises(BadCredentialsException):
        assert client(emulator, "wrong-token").get_repo(REPO).id
    with emulator.lax():  # a state the contract does not allow, to see GitHub's refusal
        status, _, body = raw_get(emulator, f"/repos/{REPO}/pulls?state=weird")
    assert status == 422 and body["message"] == "Validation Failed"


def test_injected_faults_are_answered_like_github(emulator: GitHubEmulator) -> None:
    from github import GithubException

    emulator.set_faults(Faults(script=["429", "500"], retry_after=7))
    repo = client(emulator).get_repo(REPO)
    with pytest.raises(GithubException) as limited:
        repo.get_collaborator_permission("dave")
    assert limited.value.status == 429
    assert limited.value.headers is not None and limited.value.headers["retry-after"] == "7"
    assert limited.value.headers["x-ratelimit-remaining"] == "0"
    with pytest.raises(GithubException) as broken:
        repo.get_collaborator_permission("dave")
    assert broken.value.status == 500 and broken.value.data["message"] == "Server Error"
    assert repo.get_collaborator_permission("dave") == "none"  # faults used up


# -- the contract check itself --------------------------------------------------------------------
def test_the_contract_check_covers_the_endpoints_used(emulator: GitHubEmulator,
                                                      contract: Contract) -> None:
    number = open_request(emulator)
    repo = client(emulator).get_repo(REPO)
    pull = repo.get_pull(number)
    # The lazy client asks for the pull request only for a field it does not hold yet.
    assert pull.number == number and pull.title == "Request prod-admin"
    list(pull.get_files())
    for response in emulator.responses:
        assert contract.violations(response) == []
    assert ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", 200) in contract.checked


def test_the_contract_check_catches_a_missing_required_field(emulator: GitHubEmulator,
                                                             contract: Contract) -> None:
    number = open_request(emulator)
    emulator.submit_review(REPO, number, "carol")
    pull = client(emulator).get_repo(REPO).get_pull(number)
    assert pull.title and list(pull.get_reviews())
    by_route = {(r.method, r.route): r for r in emulator.responses}
    good_pull = by_route[("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")]
    good_reviews = by_route[("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews")]
    assert contract.violations(good_pull) == [] and contract.violations(good_reviews) == []

    broken = {k: v for k, v in good_pull.body.items() if k != "merged_at"}
    problems = contract.violations(LoggedResponse(good_pull.method, good_pull.path,
                                                  good_pull.route, 200, broken, {}))
    assert any("'merged_at' is a required property" in p for p in problems)

    review = {k: v for k, v in good_reviews.body[0].items() if k != "commit_id"}
    review["user"] = {k: v for k, v in review["user"].items() if k != "type"}
    problems = contract.violations(LoggedResponse("GET", good_reviews.path, good_reviews.route,
                                                  200, [review], {}))
    assert any("'commit_id' is a required property" in p for p in problems)
    assert any("'type' is a required property" in p for p in problems)

    bare_error = LoggedResponse("GET", "/repos/a/b", "/repos/{owner}/{repo}", 404,
                                {"message": "Not Found"}, {})
    assert any("documentation_url" in p for p in contract.violations(bare_error))
