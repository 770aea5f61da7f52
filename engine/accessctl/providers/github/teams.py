"""GitHub target kind `team`: membership (role `member`) of a team, pending organization
invitations included.

The REST list of a team's members includes its child teams' members, so a team's holders are
read with GraphQL's `members(membership: IMMEDIATE)` (someone who is only in a child team holds
nothing the engine could grant or revoke there); and a team synchronized with an identity
provider refuses membership changes through the API (403), which the provider names with the
IdP group, read from the team's group mappings. Putting someone who is not in the organization
on a team invites them to the organization; the membership stays pending until they join, and
the pending invitation counts as holding the team (the revoke job cancels it at expiry). The PUT
overwrites the role, so a grant reads it first and never turns a maintainer into a member."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.github.client import Forbidden, GitHubClient
from accessctl.providers.observed import ObservedMembers

IMMEDIATE_MEMBERS = """\
query($org: String!, $team: String!, $after: String) {
  organization(login: $org) {
    team(slug: $team) {
      members(first: 100, after: $after, membership: IMMEDIATE) {
        nodes { login databaseId }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""
"""A team's own members: `membership: IMMEDIATE` leaves out its child teams' members, which
the REST list (`GET /orgs/{org}/teams/{slug}/members`) includes."""


class TeamMembership(GitHubClient):
    """Observe, grant and revoke members of a team."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        self._observed_teams = ObservedMembers()
        """Team -> its members' and invitees' principal keys -> their logins, as observe read
        them."""

    @staticmethod
    def _team_subject(target: Target) -> str:
        return f"team {target.param('org')}/{target.param('team')}"

    def _team(self, target: Target) -> tuple[str, Any]:
        org, slug = target.param("org"), target.param("team")
        # PyGithub quotes both; no request is made until the team is used (lazy client).
        return self._team_subject(target), \
            self.client.get_organization(org).get_team_by_slug(slug)

    def _team_holders(self, target: Target) -> frozenset[str]:
        subject, team = self._team(target)
        members = self._immediate_members(subject, target.param("org"), target.param("team"))
        pending = self._call(subject, lambda: [i.login for i in team.invitations() if i.login])
        ids = {principal_key(login): str(number) for login, number in members}
        self._known.update(ids)
        # An invitation names the invitee's login only: their id is looked up (one request per
        # pending invitee), so that an invitee who renames is still cancelled at expiry.
        for login in pending:
            # No account by that login (any more): known by the login alone.
            with contextlib.suppress(NotFound):
                ids.setdefault(principal_key(login), self._id(login))
        holders = {principal_key(login): str(login)
                   for login in [*(m for m, _ in members), *pending]}
        self._observed_teams.record(subject, holders)
        self._ids.record(subject, ids)
        return frozenset(holders)

    def _immediate_members(self, subject: str, org: str, slug: str) -> list[tuple[str, int]]:
        """The team's own members, not its child teams' (GraphQL, 100 a page), with each
        account's immutable id (`databaseId`, the REST id)."""
        logins: list[tuple[str, int]] = []
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"org": org, "team": slug, "after": after}
            query = partial(self.client.requester.graphql_query, IMMEDIATE_MEMBERS, variables)
            try:
                _, answer = self._call(subject, query)
            except ProviderError as error:
                if "Could not resolve to an Organization" in str(error):
                    raise NotFound(f"{subject}: not found on GitHub (or the token cannot see "
                                   "it)") from None
                raise
            found = ((answer.get("data") or {}).get("organization") or {}).get("team")
            if found is None:
                raise NotFound(f"{subject}: not found on GitHub (or the token cannot see it)")
            members = found["members"]
            logins.extend((str(node["login"]), int(node["databaseId"]))
                          for node in members["nodes"] if node)
            if not members["pageInfo"]["hasNextPage"]:
                return logins
            after = members["pageInfo"]["endCursor"]

    def _refused(self, subject: str, org: str, slug: str, error: ProviderError
                 ) -> ProviderError:
        """A 403 on a team membership change, explained: a team synchronized with an identity
        provider (team synchronization, or Enterprise Managed Users) takes its membership only
        from the IdP, which GitHub documents as an error without saying which."""
        groups: list[str] = []
        team = f"{self.base_url}/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}"
        for path in ("team-sync/group-mappings", "external-groups"):
            read = partial(self.client.requester.requestJsonAndCheck, "GET", f"{team}/{path}")
            try:
                _, answer = self._call(subject, read)
            except ProviderError:
                continue  # not synchronized that way, or not on this plan: try the other
            groups += [str(g.get("group_name")) for g in (answer or {}).get("groups") or []
                       if isinstance(g, dict) and g.get("group_name")]
        if groups:
            return ProviderError(
                f"{error}; team {org}/{slug} is synchronized with identity-provider group "
                f"{', '.join(groups)}, and GitHub takes its membership only from the IdP: "
                "grant that IdP group instead (an entitlement on it with the IdP's provider, "
                "e.g. entra or okta), or point this entitlement at a team that is not "
                "synchronized")
        return ProviderError(
            f"{error}; either the token lacks Organization: Members: write, or team {org}/{slug} "
            "is synchronized with an identity provider (team synchronization or Enterprise "
            "Managed Users), whose membership GitHub takes only from the IdP")

    def _membership(self, subject: str, team: Any, login: str) -> tuple[str, str] | None:
        """(state, role) of the login's membership, or None when there is none."""
        try:
            found = self._call(subject, lambda: team.get_team_membership(login))
        except NotFound:
            return None
        return str(found.state), str(found.role)

    def _grant_team(self, change: Change) -> Outcome:
        team_subject, team = self._team(change.target)
        observed, holder = self._observed_teams.lookup(team_subject, change.principal)
        if observed and holder is not None:
            return Outcome(change, Status.UNCHANGED, "already a member or invited",
                           principal_id=self._ids.lookup(team_subject, change.principal)[1])
        # The account the login names now: its id is what the engine records (a look-up, unless
        # a member list of this run showed it).
        principal_id = self._id(change.principal)
        if observed:
            # This run's observe read the team (it exists) and the person is not on it: no
            # read-first before the PUT.
            login = change.principal
        else:
            login = self._login(change.principal)
            # The PUT would also turn a maintainer into a member: never write over a holder.
            held = self._membership(f"{login} in {team_subject}", team, login)
            if held is not None:
                state, role = held
                return Outcome(change, Status.UNCHANGED, f"already a {role} ({state})",
                               principal_id=principal_id)
        subject = f"{login} in {team_subject}"
        # PyGithub's add_membership drops the answer, which says whether the membership is
        # active or waits for an invitation: send the same PUT through its requester.
        try:
            _, answer = self._call(subject, lambda: team.requester.requestJsonAndCheck(
                "PUT", f"{team.url}/memberships/{quote(login, safe='')}",
                input={"role": "member"}))
        except NotFound:
            raise NotFound(f"GitHub user {change.principal} does not exist (or the token "
                           f"cannot see {team_subject})") from None
        except Forbidden as error:
            target = change.target
            raise self._refused(subject, target.param("org"), target.param("team"),
                                error) from None
        self._observed_teams.note(team_subject, change.principal, login)
        self._ids.note(team_subject, change.principal, principal_id)
        if isinstance(answer, dict) and answer.get("state") == "pending":
            return Outcome(change, Status.DONE, "invited: the membership starts when they "
                                                "accept the invitation to the organization",
                           principal_id=principal_id)
        return Outcome(change, Status.DONE, "added as member", principal_id=principal_id)

    def _revoke_team(self, change: Change) -> Outcome:
        team_subject, team = self._team(change.target)
        try:
            principal = self._holder(team_subject, change)
        except NotFound as error:
            return Outcome(change, Status.UNCHANGED, str(error))
        if principal is None:
            return Outcome(change, Status.UNCHANGED, "not a member")
        observed, login = self._observed_teams.lookup(team_subject, principal)
        if observed and login is None:
            return Outcome(change, Status.UNCHANGED, "not a member")
        if login is None:
            login = self._login(principal)
            subject = f"{login} in {team_subject}"
            if self._membership(subject, team, login) is None:
                self._call(subject, lambda: team.id)  # a missing team is NotFound, not UNCHANGED
                return Outcome(change, Status.UNCHANGED, "not a member")
        subject = f"{login} in {team_subject}"
        # The login as observe listed it: a lazy user object, no look-up request.
        user = self.client.get_user(login, lazy=True)
        try:
            self._call(subject, lambda: team.remove_membership(user))
        except NotFound:
            self._forget(team_subject, principal)
            return Outcome(change, Status.UNCHANGED, "not a member")
        except Forbidden as error:
            target = change.target
            raise self._refused(subject, target.param("org"), target.param("team"),
                                error) from None
        self._forget(team_subject, principal)
        return Outcome(change, Status.DONE, "removed from the team")

    def _forget(self, subject: str, principal: str) -> None:
        self._observed_teams.note(subject, principal, None)
        self._ids.note(subject, principal, None)

