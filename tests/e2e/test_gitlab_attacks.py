"""Approval verification attacked end to end: GitLab emulator through python-gitlab, AWS on moto.

Each test starts from a proper request and applies one attack; the engine must deny it, say why
in words a person can act on, and grant nothing. Approvals are given through GitLab's approve
endpoint by each person's own token, so GitLab's own rules (author approval, reset on push) act
first and the engine's judgement is what is left to test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from accessctl.emulators.gitlab import GitLabEmulator
from gitlab.exceptions import GitlabAuthenticationError

from tests.cli_runner import invoke
from tests.e2e.gitlab_world import BOT, CODEOWNERS, ENGINE, PROJECT, World, hours, stamp
from tests.repo_fixture import request


@pytest.fixture
def world(tmp_path: Path, aws_endpoint: str) -> Iterator[World]:
    with GitLabEmulator() as emulator:
        assert isinstance(emulator, GitLabEmulator)
        yield World.build(emulator, aws_endpoint, tmp_path)


def denied(world: World, path: str, *reasons: str) -> str:
    result = world.apply()
    assert result.code == 1, result.err
    events = [e for e in result.events() if e["action"] == "deny"]
    assert [e["request"] for e in events] == [path], result.err
    for reason in reasons:
        assert reason in events[0]["error"], events[0]["error"]
    assert "Traceback" not in result.err
    assert not [e for e in result.events() if e["action"] == "grant"]
    assert world.members() == set()
    return str(events[0]["error"])


@pytest.mark.parametrize("method", ["merge", "squash", "fast-forward"])
def test_an_approved_request_is_granted_whatever_the_merge_method(world: World,
                                                                  method: str) -> None:
    _path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid, method)
    result = world.apply()
    assert result.code == 0, result.err
    assert [(e["action"], e["outcome"], e["principal"]) for e in result.events()] == [
        ("grant", "done", "alice")]
    assert world.members() == {"alice"}
    # The file path went to GitLab as a query parameter, walking first parents only.
    lists = [e for e in world.gitlab.log if e.path.endswith("/repository/commits")]
    assert lists and all("path=access-requests" in e.query and "first_parent" in e.query
                         for e in lists), [e.query for e in lists]


def test_self_approval_that_gitlab_allows_is_still_denied(world: World) -> None:
    with pytest.raises(GitlabAuthenticationError):
        world.approve(world.ask("bob")[1], "bob")  # GitLab's default: authors cannot approve
    world.gitlab.set_approval_settings(PROJECT, merge_requests_author_approval=True)
    path, iid = world.ask("alice")
    world.approve(iid, "alice")
    assert [a.user_id for a in world.gitlab.mr(PROJECT, iid).approvals] == [
        world.gitlab.user_id("alice")]
    world.merge(iid)
    denied(world, path, "alice: the requester cannot approve their own request")


def test_approval_by_a_member_of_the_parent_group_who_is_not_a_code_owner(world: World) -> None:
    # mallory belongs to acme, so she is an inherited member of acme/security: not a code owner.
    path, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    denied(world, path, "mallory: not a code owner")


def test_a_push_after_the_approval_resets_it(world: World) -> None:
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.gitlab.push_to_mr(PROJECT, iid, {path: request("alice", "prod-admin",
                                                         stamp(hours(3.5)))})
    world.merge(iid)
    denied(world, path, "needs 1 more approval")


def test_approvals_kept_across_pushes_count_for_nothing(world: World) -> None:
    # A maintainer turns the reset off through the API, as in the project's settings page.
    world.gitlab.add_token("glpat-root", "root")
    world.client("root").projects.get(PROJECT).approvals.update(
        new_data={"reset_approvals_on_push": False})
    settings = world.client(ENGINE).projects.get(PROJECT).approvals.get()
    assert settings.reset_approvals_on_push is False
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.gitlab.push_to_mr(PROJECT, iid, {path: request("alice", "prod-admin",
                                                         stamp(hours(3.5)))})
    assert world.gitlab.mr(PROJECT, iid).approvals  # GitLab kept carol's approval
    world.merge(iid)
    denied(world, path, "needs 1 more approval", "carol: approved at", "before the last push")


def test_without_the_reset_an_approval_of_the_final_commit_counts(world: World) -> None:
    # The project setting is not what ties an approval to a commit; its time is.
    world.gitlab.set_approval_settings(PROJECT, reset_approvals_on_push=False)
    _path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_direct_push_to_main(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    world.gitlab.push_direct(PROJECT, {path: request("alice", "prod-admin", stamp(hours(3)))},
                             author="alice")
    world.sync()
    denied(world, path, "direct push")


def test_merge_request_author_is_not_the_requester(world: World) -> None:
    path, iid = world.ask("alice", author="bob")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "opened by bob")


def test_merge_request_that_edits_policies_with_the_request(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    policy = (world.workspace / "policies/entitlements/prod-admin.yaml").read_text()
    iid = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        "policies/entitlements/prod-admin.yaml": policy.replace(
            'approvers: ["@acme/security"]', 'approvers: ["@acme/security", bob]'),
    })
    world.approve(iid, "bob")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "separate pull requests")


def test_merge_request_that_edits_gitlab_codeowners_with_the_request(world: World) -> None:
    path = "access-requests/prod-admin/alice-x.yaml"
    iid = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        CODEOWNERS: "* @alice\n",
    })
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "separate pull requests")


def two_approvals_section(world: World) -> None:
    owners = (world.workspace / CODEOWNERS).read_text()
    world.gitlab.push_direct(PROJECT, {CODEOWNERS: owners + "\n[Access][2]\n"
                                       "/access-requests/prod-admin/ @acme/security\n"},
                             author="dave")
    world.sync()


def test_a_codeowners_section_needing_two_approvals_with_one(world: World) -> None:
    two_approvals_section(world)
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s)")


def test_a_codeowners_section_needing_two_approvals_with_two(world: World) -> None:
    two_approvals_section(world)
    _path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.approve(iid, "dave")
    world.merge(iid)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_a_root_codeowners_is_the_one_gitlab_and_the_engine_judge_by(world: World) -> None:
    """GitLab reads the first of CODEOWNERS, docs/CODEOWNERS, .gitlab/CODEOWNERS. A root file
    asking two approvals for the directory outranks the generated one asking one: a merge with
    one approval (GitLab's rule bypassed by whoever merged) is denied, as GitLab would have."""
    owners = (world.workspace / CODEOWNERS).read_text()
    world.gitlab.push_direct(PROJECT, {"CODEOWNERS": owners + "\n[Access][2]\n"
                                       "/access-requests/prod-admin/ @acme/security\n"},
                             author="dave")
    world.sync()
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s)")


def test_a_bots_approval(world: World) -> None:
    # The bot sits in the approvers' group itself: only its being a bot can deny it.
    world.gitlab.add_member("acme/security", BOT, 30, kind="groups")
    path, iid = world.ask("alice")
    world.approve(iid, BOT)
    world.merge(iid)
    denied(world, path, f"{BOT}: bots do not approve")


def test_merge_request_validation_writes_one_note_and_updates_it(world: World,
                                                                 tmp_path: Path) -> None:
    path, iid = world.ask("alice")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"object_kind": "merge_request",
                                 "object_attributes": {"iid": iid}}))
    # Someone pastes the marker into a note of their own: it is not the engine's to edit.
    world.client("mallory").projects.get(PROJECT, lazy=True).mergerequests.get(
        iid, lazy=True).notes.create({"body": "<!-- accessctl:pull-request-review --> hi"})
    checkout = world.sync(f"change-{world.branches}")

    def validate() -> str:
        result = invoke("validate", "--repo", str(checkout), "--event", str(event),
                        "--vcs", "gitlab", environ=world.env, now=hours(0.1))
        assert result.code == 0, result.err
        mine = [n for n in world.gitlab.mr(PROJECT, iid).notes
                if n.author_id == world.gitlab.user_id(ENGINE)]
        assert len(mine) == 1 and "accessctl:pull-request-review" in mine[0].body
        return mine[0].body

    first = validate()
    assert "0 so far; needed from @acme/security" in first and path.rsplit("/", 1)[1] in first
    note_id = [n.id for n in world.gitlab.mr(PROJECT, iid).notes][-1]
    world.approve(iid, "carol")
    second = validate()
    assert second != first and "approved by @carol" in second
    assert [n.id for n in world.gitlab.mr(PROJECT, iid).notes][-1] == note_id
    assert len(world.gitlab.mr(PROJECT, iid).notes) == 2


# -- the base the merge found: never the requester's stale branch point -------------------------
PROD = "policies/entitlements/prod-admin.yaml"
ACCESS_TWO = "\n[Access][2]\n/access-requests/prod-admin/ @acme/security\n"


def text(world: World, path: str) -> str:
    return (world.workspace / path).read_text()


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_a_stale_branch_point_does_not_lower_the_approval_count(world: World,
                                                                method: str) -> None:
    """alice cuts her branch from before `approvals: 2`: GitLab's diff_refs.base_sha is that
    old commit, but the merge found the default branch asking two approvals."""
    old = world.head()
    world.on_main({PROD: text(world, PROD).replace("approvals: 1", "approvals: 2")})
    path, iid = world.ask("alice", start=old)
    world.approve(iid, "carol")
    world.merge(iid, method)
    denied(world, path, "needs 1 more approval")


def test_a_stale_branch_point_does_not_lower_a_codeowners_section(world: World) -> None:
    world.on_main({CODEOWNERS: text(world, CODEOWNERS) + ACCESS_TWO.replace("[2]", "")})
    old = world.head()
    world.on_main({CODEOWNERS: text(world, CODEOWNERS).replace("[Access]", "[Access][2]")})
    path, iid = world.ask("alice", start=old)
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s)")


def test_a_stale_branch_point_does_not_skip_a_codeowners_section(world: World) -> None:
    old = world.head()
    world.on_main({CODEOWNERS: text(world, CODEOWNERS) + ACCESS_TWO})
    path, iid = world.ask("alice", start=old)
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s)")


STATIC_SECURITY = '''teams:\n  "@acme/security": [{members}]\nadmins: ["@acme/admins"]'''


def test_a_stale_branch_point_does_not_keep_someone_removed_from_a_team(world: World) -> None:
    identities = "policies/identities.yaml"
    admins = 'admins: ["@acme/admins"]'
    world.on_main({identities: text(world, identities).replace(
        admins, STATIC_SECURITY.format(members="carol, dave"))})
    old = world.head()
    world.on_main({identities: text(world, identities).replace("[carol, dave]", "[dave]")})
    path, iid = world.ask("alice", start=old)
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "carol: not a code owner")


def test_a_fast_forward_of_several_commits_is_judged_by_the_commit_before_them(
        world: World) -> None:
    """The merge request's first commit makes bob an approver and a code owner, its second
    undoes it: its overall diff holds only the request, and its head's parent holds bob's
    rights. Judged by the commit before its commits, bob's approval is not a code owner's."""
    path = "access-requests/prod-admin/alice-x.yaml"
    policy, owners = text(world, PROD), text(world, CODEOWNERS)
    iid = world.propose("alice", {
        path: request("alice", "prod-admin", stamp(hours(3))),
        PROD: policy.replace('approvers: ["@acme/security"]', 'approvers: ["@acme/security", bob]'),
        CODEOWNERS: owners + "/access-requests/prod-admin/ @acme/security @bob\n",
    })
    world.gitlab.push_to_mr(PROJECT, iid, {PROD: policy, CODEOWNERS: owners})
    world.approve(iid, "bob")
    world.merge(iid, "fast-forward")
    denied(world, path, "bob: not a code owner")


# -- approvals of an earlier commit --------------------------------------------------------------
def test_an_approval_of_an_earlier_commit_is_not_saved_by_turning_the_reset_on(
        world: World) -> None:
    """carol approves, the reset is off, alice pushes a longer window, a maintainer turns the
    reset on before the merge: the setting read at apply time says nothing of the approval."""
    world.gitlab.set_approval_settings(PROJECT, reset_approvals_on_push=False)
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.gitlab.push_to_mr(PROJECT, iid, {path: request("alice", "prod-admin",
                                                         stamp(hours(4.4)))})
    assert world.gitlab.mr(PROJECT, iid).approvals  # GitLab kept carol's approval
    world.gitlab.set_approval_settings(PROJECT, reset_approvals_on_push=True)
    world.merge(iid)
    denied(world, path, "needs 1 more approval", "carol: approved at",
           "before the last push")


def test_an_approval_after_the_last_push_counts_whatever_the_setting(world: World) -> None:
    world.gitlab.set_approval_settings(PROJECT, reset_approvals_on_push=False)
    path, iid = world.ask("alice")
    world.gitlab.push_to_mr(PROJECT, iid, {path: request("alice", "prod-admin",
                                                         stamp(hours(3.5)))})
    world.approve(iid, "carol")
    world.merge(iid)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_an_approval_gitlab_does_not_date_counts_for_nothing(world: World) -> None:
    world.gitlab.approval_times = False  # an older GitLab: approved_by has no approved_at
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "needs 1 more approval", "carol: GitLab did not say when")


# -- CODEOWNERS as GitLab reads it ----------------------------------------------------------------
def test_the_lines_before_any_section_are_a_section_that_is_always_required(
        world: World) -> None:
    """Entitlement approvers: security and bob. CODEOWNERS: security before any section, bob
    in [Access]. bob alone satisfies [Access], never the unnamed section."""
    world.on_main({
        PROD: text(world, PROD).replace('approvers: ["@acme/security"]',
                                        'approvers: ["@acme/security", bob]'),
        CODEOWNERS: text(world, CODEOWNERS) + "\n[Access]\n/access-requests/prod-admin/ @bob\n",
    })
    path, iid = world.ask("alice")
    world.approve(iid, "bob")
    world.merge(iid)
    denied(world, path, "entries before the first section need 1 approval(s) from "
                        "@acme/security")


def role_section(world: World) -> None:
    for login in ("carol", "dave"):
        world.gitlab.add_member(PROJECT, login, 40, kind="projects")
    world.gitlab.add_member(PROJECT, "bob", 50, kind="projects")  # an Owner is no Maintainer
    world.on_main({CODEOWNERS: text(world, CODEOWNERS)
                   + "\n[Access][2]\n/access-requests/prod-admin/ @@maintainers\n"})


def test_a_section_of_role_owners_is_not_dropped(world: World) -> None:
    role_section(world)
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s) from @@maintainer")


def test_role_owners_are_the_projects_direct_members_with_that_role(world: World) -> None:
    role_section(world)
    _path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.approve(iid, "dave")
    world.merge(iid)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_a_section_whose_pattern_has_a_character_class_is_not_dropped(world: World) -> None:
    world.on_main({CODEOWNERS: text(world, CODEOWNERS)
                   + "\n[Access][2]\n/access-requests/prod-[a]dmin/ @acme/security\n"})
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    denied(world, path, "CODEOWNERS section [Access] needs 2 approval(s)")


def test_a_codeowners_line_the_engine_cannot_read_refuses_what_it_could_cover(
        world: World) -> None:
    world.on_main({CODEOWNERS: text(world, CODEOWNERS) + "\\\n"})
    lines = text(world, CODEOWNERS).splitlines()
    path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    error = denied(world, path, f"{CODEOWNERS} line {len(lines)} cannot be read")
    assert "fix" in error


# -- membership at the time of the approval -----------------------------------------------------
def test_joining_the_approver_group_after_a_denial_does_not_approve(world: World) -> None:
    path, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    denied(world, path, "mallory: not a code owner")
    world.gitlab.add_member("acme/security", "mallory", 30, kind="groups")
    error = denied(world, path, "denied at", "open a new merge request")
    assert f"!{iid}" in error


def test_a_new_merge_request_after_a_denial_is_judged_afresh(world: World) -> None:
    path, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    denied(world, path)
    again = world.propose("alice", {path: request("alice", "prod-admin", stamp(hours(3.5)))})
    world.approve(again, "carol")
    world.merge(again)
    result = world.apply()
    assert result.code == 0, result.err
    assert world.members() == {"alice"}


def test_a_dry_run_remembers_nothing(world: World) -> None:
    _path, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    assert world.apply(confirm=False).code == 1
    world.gitlab.add_member("acme/security", "mallory", 30, kind="groups")
    result = world.apply()
    assert result.code == 0, result.err  # judged once, with mallory an owner by then
    assert world.members() == {"alice"}


def test_a_corrupt_denial_memory_is_a_clear_error(world: World) -> None:
    _path, iid = world.ask("alice")
    world.approve(iid, "carol")
    world.merge(iid)
    memory = world.audit_file.with_suffix(".denials.json")
    memory.write_text("{not json")
    result = world.apply()
    assert result.code == 2, result.err
    assert str(memory) in result.err and "Traceback" not in result.err
    assert world.members() == set()


def test_static_teams_come_from_the_base_not_from_head(world: World) -> None:
    identities = "policies/identities.yaml"
    world.on_main({identities: text(world, identities).replace(
        'admins: ["@acme/admins"]', STATIC_SECURITY.format(members="carol, dave"))})
    path, iid = world.ask("alice")
    world.approve(iid, "mallory")
    world.merge(iid)
    world.on_main({identities: text(world, identities).replace("[carol, dave]",
                                                               "[carol, dave, mallory]")})
    denied(world, path, "mallory: not a code owner")
