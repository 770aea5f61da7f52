"""The GitHub provider's own behaviour beyond the conformance suite, through PyGithub to the
emulator: it never lowers a role, counts and cancels pending invitations, maps errors and rate
limits, and refuses logins that cannot exist before making a request."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from accessctl.change.retry import RetryPolicy, call_with_retry
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.emulators.github import GitHubEmulator
from accessctl.emulators.http import Faults
from accessctl.providers import github
from accessctl.providers.base import NotFound, ProviderError
from jsonschema import Draft202012Validator

ENV_NAME = "ACCESSCTL_GITHUB_TOKEN"
REPO = "acme/infra"


@pytest.fixture
def emulator() -> Iterator[GitHubEmulator]:
    server = GitHubEmulator()
    server.start()
    for login in ("Alice", "bob", "carol", "outsider"):
        server.add_user(login)
    server.add_org("acme", members=["Alice", "bob"])
    server.add_team("acme", "sre", maintainers=["bob"])
    server.add_repo("acme", "infra")
    yield server
    server.stop()


def make(emulator: GitHubEmulator, env: dict[str, str] | None = None, **settings: Any
         ) -> github.GitHubProvider:
    instance = ProviderInstance("github-acme", "github", {
        "base_url": emulator.api, "token_env": ENV_NAME, "write_interval": 0, **settings})
    return github.create(instance, {ENV_NAME: emulator.token} if env is None else env)


def team(slug: str = "sre") -> Target:
    return Target.build("github-acme", "github", "team", {"org": "acme", "team": slug})


def repository(permission: str = "push", repo: str = "infra") -> Target:
    return Target.build("github-acme", "github", "repository",
                        {"owner": "acme", "repo": repo, "permission": permission})


def change(action: Action, target: Target, login: str) -> Change:
    return Change(action, target, login, "github-infra", "test", "alice",
                  datetime.now(UTC) + timedelta(hours=2))


def test_schemas_are_valid_and_match_the_example_policies() -> None:
    Draft202012Validator.check_schema(dict(github.SETTINGS_SCHEMA))
    for schema in github.TARGET_SCHEMAS.values():
        Draft202012Validator.check_schema(dict(schema))
    properties = [*github.SETTINGS_SCHEMA["properties"].values(),
                  *(p for s in github.TARGET_SCHEMAS.values() for p in s["properties"].values())]
    assert all(p.get("description") and p.get("examples") for p in properties)
    settings = Draft202012Validator(dict(github.SETTINGS_SCHEMA))
    assert settings.is_valid({"base_url": "https://api.github.com",
                              "token_env": "ACCESSCTL_GITHUB_TOKEN"})
    assert not settings.is_valid({"token": "ghp_secret"})
    repo = Draft202012Validator(dict(github.TARGET_SCHEMAS["repository"]))
    assert repo.is_valid({"owner": "acme", "repo": "infra", "permission": "maintain"})
    assert not repo.is_valid({"owner": "acme", "repo": "..", "permission": "maintain"})
    assert not repo.is_valid({"owner": "acme", "repo": "infra", "permission": "owner"})
    teams = Draft202012Validator(dict(github.TARGET_SCHEMAS["team"]))
    assert not teams.is_valid({"org": "acme/../x", "team": "sre"})


def test_importing_the_module_does_not_import_pygithub() -> None:
    code = "import sys, accessctl.providers.github; sys.exit('github' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- teams ----------------------------------------------------------------------------------------
def test_team_grant_never_demotes_a_maintainer(emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    outcome = provider.grant(change(Action.GRANT, team(), "BOB"))
    assert outcome.status is Status.UNCHANGED and "maintainer" in outcome.detail
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer"}
    assert emulator.count("PUT") == 0
    assert not outcome.native_expiry_set and not provider.native_expiry(team())


def test_after_observe_a_grant_is_the_id_look_up_and_one_put_and_a_stranger_is_not_found(
        emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    provider.observe([team()])
    before = len(emulator.log)
    outcome = provider.grant(change(Action.GRANT, team(), "Alice"))
    assert outcome.status is Status.DONE
    # The account id the login names now is what the engine records (a login can be renamed
    # and re-used), so it is looked up; the observation spares the read-first.
    assert [(e.method, e.path) for e in emulator.log[before:]] == [
        ("GET", "/api/v3/users/Alice"),
        ("PUT", "/api/v3/orgs/acme/teams/sre/memberships/Alice")]
    assert outcome.principal_id == str(emulator.accounts["alice"].id)
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer", "Alice": "member"}
    # Someone a member list of this run showed needs no look-up: one PUT.
    emulator.add_team("acme", "ops")
    provider.observe([team("ops")])
    before = len(emulator.log)
    again = provider.grant(change(Action.GRANT, team("ops"), "bob"))
    assert [(e.method, e.path) for e in emulator.log[before:]] == [
        ("PUT", "/api/v3/orgs/acme/teams/ops/memberships/bob")]
    assert again.principal_id == str(emulator.accounts["bob"].id)
    for missing in ("no-such-user", "acme"):  # nobody, and an organization
        with pytest.raises(NotFound, match=f"GitHub user {missing} does not exist"):
            provider.grant(change(Action.GRANT, team(), missing))
    with pytest.raises(NotFound, match="not a valid login"):
        provider.grant(change(Action.GRANT, team(), "../../orgs/acme"))
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer", "Alice": "member"}


def test_after_observe_a_maintainer_is_left_alone_and_a_revoke_is_one_request(
        emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    assert provider.observe([team()])[team()] == frozenset({"bob"})
    reads = len(emulator.log)
    outcome = provider.grant(change(Action.GRANT, team(), "BOB"))
    assert outcome.status is Status.UNCHANGED
    assert emulator.log[reads:] == [], "the observation said it: no request at all"
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer"}

    reads = len(emulator.log)
    outcome = provider.revoke(change(Action.REVOKE, team(), "bob"))
    assert outcome.status is Status.DONE
    assert [(e.method, e.path) for e in emulator.log[reads:]] == [
        ("DELETE", "/api/v3/orgs/acme/teams/sre/memberships/bob")]
    assert emulator.team_members("acme", "sre") == {}
    again = provider.revoke(change(Action.REVOKE, team(), "bob"))
    assert again.status is Status.UNCHANGED


def test_team_grant_to_an_outsider_is_pending_counted_and_cancelled(
        emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    outcome = provider.grant(change(Action.GRANT, team(), "outsider"))
    assert outcome.status is Status.DONE and "invited" in outcome.detail
    assert emulator.team_pending("acme", "sre") == {"outsider": "member"}
    assert provider.observe([team()])[team()] == frozenset({"bob", "outsider"})
    assert provider.grant(change(Action.GRANT, team(), "outsider")).status is Status.UNCHANGED
    assert provider.revoke(change(Action.REVOKE, team(), "outsider")).status is Status.DONE
    assert emulator.team_pending("acme", "sre") == {}


def test_a_pending_team_invitee_who_renames_is_still_cancelled_by_id(
        emulator: GitHubEmulator) -> None:
    """An invitation lists the invitee's login only: observe looks their id up, so that an
    invitee who renames before accepting is still known, and cancelled at expiry."""
    granted = make(emulator).grant(change(Action.GRANT, team(), "outsider"))
    assert granted.principal_id == str(emulator.accounts["outsider"].id)
    emulator.rename_user("outsider", "insider-now")
    emulator.add_user("outsider")  # the old login, someone else's
    later = make(emulator)
    assert later.observe([team()])[team()] == frozenset({"bob", "insider-now"})
    assert later.member_ids(team())["insider-now"] == granted.principal_id
    revoke = Change(Action.REVOKE, team(), "outsider", "github-infra", "test",
                    principal_id=granted.principal_id)
    assert later.revoke(revoke).status is Status.DONE
    assert emulator.team_pending("acme", "sre") == {}


def test_team_grant_to_an_org_member_is_active(emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    outcome = provider.grant(change(Action.GRANT, team(), "alice"))
    assert (outcome.status, outcome.detail) == (Status.DONE, "added as member")
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer", "Alice": "member"}


def test_revoke_on_a_missing_team_is_not_found(emulator: GitHubEmulator) -> None:
    with pytest.raises(NotFound, match="acme/ghosts"):
        make(emulator).revoke(change(Action.REVOKE, team("ghosts"), "alice"))


# -- repositories ---------------------------------------------------------------------------------
def test_repository_grant_never_lowers_a_role(emulator: GitHubEmulator) -> None:
    emulator.add_collaborator(REPO, "carol", "admin")
    provider = make(emulator)
    outcome = provider.grant(change(Action.GRANT, repository("maintain"), "carol"))
    assert outcome.status is Status.UNCHANGED and "admin" in outcome.detail
    assert emulator.collaborators(REPO) == {"carol": "admin"}
    assert emulator.count("PUT") == 0


def test_repository_grant_raises_a_lower_role_and_observe_filters_by_role(
        emulator: GitHubEmulator) -> None:
    emulator.add_collaborator(REPO, "alice", "read")
    provider = make(emulator)
    assert provider.observe([repository("push")])[repository("push")] == frozenset()
    assert provider.observe([repository("pull")])[repository("pull")] == frozenset({"alice"})
    outcome = provider.grant(change(Action.GRANT, repository("push"), "alice"))
    assert outcome.status is Status.DONE and outcome.detail.startswith("raised from pull to push")
    assert outcome.previous == (("permission", "pull"),)
    assert emulator.collaborators(REPO) == {"Alice": "write"}


def test_repository_revoke_of_a_raise_puts_the_earlier_role_back(
        emulator: GitHubEmulator) -> None:
    """The engine raised a role alice already held (read -> write): ending the grant gives her
    read again; it never removes access the engine did not give (invariant 8)."""
    from dataclasses import replace

    emulator.add_collaborator(REPO, "alice", "read")
    provider = make(emulator)
    granted = provider.grant(change(Action.GRANT, repository("push"), "alice"))
    revoke = replace(change(Action.REVOKE, repository("push"), "alice"),
                     restore=granted.previous)
    outcome = provider.revoke(revoke)
    assert (outcome.status, outcome.detail) == (Status.DONE, "put back to pull")
    assert emulator.collaborators(REPO) == {"Alice": "read"}


def test_repository_invitation_is_counted_raised_and_cancelled(emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    first = provider.grant(change(Action.GRANT, repository("pull"), "outsider"))
    assert first.status is Status.DONE and "accept" in first.detail
    assert emulator.pending_invitations(REPO) == {"outsider": "read"}
    # A pending invitation for less than wanted is raised, not duplicated.
    provider.grant(change(Action.GRANT, repository("maintain"), "outsider"))
    assert emulator.pending_invitations(REPO) == {"outsider": "maintain"}
    assert provider.observe([repository("push")])[repository("push")] == frozenset({"outsider"})
    outcome = provider.revoke(change(Action.REVOKE, repository("push"), "outsider"))
    assert (outcome.status, outcome.detail) == (Status.DONE, "invitation cancelled")
    assert emulator.pending_invitations(REPO) == {}
    # Accepted invitations are plain collaborators.
    provider.grant(change(Action.GRANT, repository("push"), "outsider"))
    emulator.accept_invitation(REPO, "outsider")
    assert provider.observe([repository("push")])[repository("push")] == frozenset({"outsider"})
    assert provider.revoke(change(Action.REVOKE, repository("push"), "outsider")).detail == (
        "removed as collaborator")
    assert emulator.collaborators(REPO) == {}


# -- errors ---------------------------------------------------------------------------------------
def test_an_impossible_login_is_not_found_without_a_request(emulator: GitHubEmulator) -> None:
    with pytest.raises(NotFound, match="not a valid login"):
        make(emulator).grant(change(Action.GRANT, team(), "../orgs/acme"))
    assert emulator.count() == 0


def test_an_organization_is_not_a_principal(emulator: GitHubEmulator) -> None:
    with pytest.raises(NotFound, match="organization"):
        make(emulator).grant(change(Action.GRANT, team(), "acme"))


def test_token_problems_are_clear_and_not_retried(emulator: GitHubEmulator) -> None:
    with pytest.raises(ProviderError, match=ENV_NAME) as missing:
        make(emulator, env={}).observe([team()])
    assert not missing.value.retryable
    with pytest.raises(ProviderError, match=ENV_NAME) as rejected:
        make(emulator, env={ENV_NAME: "wrong"}).observe([team()])
    assert not rejected.value.retryable and "Bad credentials" in str(rejected.value)


def test_rate_limits_and_server_errors_are_retryable_with_the_wait(
        emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    emulator.set_faults(Faults(script=["429", "503"], retry_after=7))
    with pytest.raises(ProviderError) as limited:
        provider.observe([team()])
    assert limited.value.retryable and limited.value.retry_after == 7
    with pytest.raises(ProviderError) as unavailable:
        provider.observe([team()])
    assert unavailable.value.retryable and "503" in str(unavailable.value)
    # One request per failure: PyGithub's own retries are off. (Members are read with GraphQL,
    # immediate members only: see test_observe_counts_immediate_members_not_child_teams.)
    assert emulator.count("POST", "/api/graphql") == 2


def test_a_dropped_connection_is_retryable_and_the_engine_retry_converges(
        emulator: GitHubEmulator) -> None:
    provider = make(emulator)
    emulator.set_faults(Faults(script=["drop"]))
    with pytest.raises(ProviderError) as dropped:
        provider.observe([team()])
    assert dropped.value.retryable
    emulator.set_faults(Faults(script=["drop", "500", "429"], retry_after=0))
    fast = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02, max_retry_after=0.02)
    outcome = call_with_retry(lambda: provider.grant(change(Action.GRANT, team(), "alice")), fast)
    assert outcome.status is Status.DONE
    assert "Alice" in emulator.team_members("acme", "sre")


def test_an_unknown_target_kind_is_refused(emulator: GitHubEmulator) -> None:
    target = Target.build("github-acme", "github", "environment", {"name": "prod"})
    with pytest.raises(ProviderError, match="team or repository"):
        make(emulator).observe([target])


# -- nested and IdP-synchronized teams -------------------------------------------------------------
def nested(emulator: GitHubEmulator) -> None:
    """sre has a child team, sre-oncall, whose member carol is not a member of sre itself."""
    emulator.add_org_member("acme", "carol")
    emulator.add_team("acme", "sre-oncall", members=["carol"], parent="sre")


def test_observe_counts_immediate_members_not_child_teams(emulator: GitHubEmulator) -> None:
    nested(emulator)
    # GitHub's REST list includes the child team's members...
    rest = {m["login"] for m in emulator_json(emulator, "/orgs/acme/teams/sre/members")}
    assert rest == {"bob", "carol"}
    # ...observe does not: carol holds sre only through sre-oncall, not as the engine's grant.
    provider = make(emulator)
    assert provider.observe([team()])[team()] == frozenset({"bob"})


def test_a_child_team_member_is_granted_and_revoked_as_a_direct_member(
        emulator: GitHubEmulator) -> None:
    nested(emulator)
    provider = make(emulator)
    provider.observe([team()])
    assert provider.grant(change(Action.GRANT, team(), "carol")).status is Status.DONE
    assert "carol" in emulator.team_members("acme", "sre")
    assert provider.observe([team()])[team()] == frozenset({"bob", "carol"})
    assert provider.revoke(change(Action.REVOKE, team(), "carol")).status is Status.DONE
    assert "carol" not in emulator.team_members("acme", "sre")
    assert emulator.team_members("acme", "sre-oncall") == {"carol": "member"}


def test_immediate_members_are_read_past_one_page(emulator: GitHubEmulator) -> None:
    logins = [f"m{i:03}" for i in range(130)]
    for login in logins:
        emulator.add_user(login)
    emulator.add_team("acme", "big", members=logins)
    observed = make(emulator).observe([team("big")])[team("big")]
    assert observed == frozenset(logins)


def test_observe_of_a_missing_team_is_not_found(emulator: GitHubEmulator) -> None:
    with pytest.raises(NotFound, match="acme/nope"):
        make(emulator).observe([team("nope")])


@pytest.mark.parametrize("emu", [False, True], ids=["team-sync", "emu"])
def test_an_idp_synchronized_team_is_reported_as_such(emulator: GitHubEmulator,
                                                      emu: bool) -> None:
    emulator.sync_team_with_idp("acme", "sre", "okta-sre", emu=emu)
    provider = make(emulator)
    for action in (Action.GRANT, Action.REVOKE):
        login = "Alice" if action is Action.GRANT else "bob"
        with pytest.raises(ProviderError) as raised:
            (provider.grant if action is Action.GRANT else provider.revoke)(
                change(action, team(), login))
        text = str(raised.value)
        assert "synchronized with identity-provider group okta-sre" in text, text
        assert "IdP" in text and not raised.value.retryable
    assert emulator.team_members("acme", "sre") == {"bob": "maintainer"}


def test_a_plain_refusal_names_both_causes(emulator: GitHubEmulator) -> None:
    emulator.add_user("helper[bot]")
    emulator.add_token("ghs_no_write", "helper[bot]", permissions={"members": "read"})
    provider = make(emulator, env={ENV_NAME: "ghs_no_write"})
    with pytest.raises(ProviderError) as raised:
        provider.grant(change(Action.GRANT, team(), "Alice"))
    text = str(raised.value)
    assert "403" in text and "Members: write" in text and "identity provider" in text


def emulator_json(emulator: GitHubEmulator, path: str) -> Any:
    import json
    import urllib.request

    request = urllib.request.Request(f"{emulator.api}{path}",
                                     headers={"Authorization": f"token {emulator.token}"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)
