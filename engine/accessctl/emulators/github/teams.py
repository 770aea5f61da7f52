"""Teams: nested teams, their members and pending memberships, and teams an identity provider
manages (team synchronization, Enterprise Managed Users external groups)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from accessctl.emulators.github.accounts import Accounts
from accessctl.emulators.github.state import Team
from accessctl.emulators.github.wire import (
    DEFAULT_LOGIN,
    Routes,
    github_error,
    invalid,
    login_key,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Teams(Accounts):
    def _team_routes(self) -> Routes:
        team = "/orgs/{org}/teams/{team_slug}"
        legacy = "/organizations/{org_id}/team/{team_id}"
        return [
            ("GET", "/orgs/{org}/teams", self._list_teams),
            ("GET", team, self._get_team),
            ("GET", f"{team}/members", self._team_members),
            ("GET", f"{team}/invitations", self._team_invitations),
            ("GET", f"{team}/memberships/{{username}}", self._get_membership),
            ("PUT", f"{team}/memberships/{{username}}", self._put_membership),
            ("DELETE", f"{team}/memberships/{{username}}", self._delete_membership),
            ("GET", f"{team}/team-sync/group-mappings", self._team_sync_groups),
            ("GET", f"{team}/external-groups", self._team_external_groups),
            # The `url` GitHub gives a team is this legacy form; PyGithub follows it.
            ("GET", legacy, self._get_team),
            ("GET", f"{legacy}/members", self._team_members),
            ("GET", f"{legacy}/invitations", self._team_invitations),
            ("GET", f"{legacy}/memberships/{{username}}", self._get_membership),
            ("PUT", f"{legacy}/memberships/{{username}}", self._put_membership),
            ("DELETE", f"{legacy}/memberships/{{username}}", self._delete_membership),
        ]

    # -- JSON shapes and look-ups -----------------------------------------------------------------
    def _team_json(self, team: Team, full: bool = False) -> JSON:
        org = self.orgs[team.org]
        url = f"{self.api}/organizations/{org.account.id}/team/{team.id}"
        body: dict[str, Any] = {
            "id": team.id, "node_id": node_id("T", team.id), "url": url,
            "html_url": f"{self.web}/orgs/{org.account.login}/teams/{team.slug}",
            "name": team.name, "slug": team.slug, "description": team.description,
            "privacy": "closed", "notification_setting": "notifications_enabled",
            "permission": "pull", "members_url": f"{url}/members{{/member}}",
            "repositories_url": f"{url}/repos",
            "parent": self._team_json(self._team_by_id(team.parent)) if team.parent else None,
            "type": "organization",
            "organization_id": org.account.id,
        }
        if full:
            body.update({
                "members_count": len(team.members), "repos_count": 0,
                "created_at": stamp(team.created_at), "updated_at": stamp(team.created_at),
                "organization": self._org_full_json(org),
            })
        return body

    def _membership_json(self, team: Team, login: str, role: str, state: str) -> JSON:
        org = self.orgs[team.org]
        return {"url": f"{self.api}/organizations/{org.account.id}/team/{team.id}"
                       f"/memberships/{login}", "role": role, "state": state}

    def _team(self, request: Request) -> Team:
        params = request.params
        if "team_slug" in params:
            team = self.teams.get((login_key(params["org"]), params["team_slug"].casefold()))
        else:
            team = next((t for t in self.teams.values()
                         if str(t.id) == params["team_id"]
                         and str(self.orgs[t.org].account.id) == params["org_id"]), None)
        if team is None:
            raise not_found()
        return team

    def _team_by_id(self, team_id: int) -> Team:
        return next(t for t in self.teams.values() if t.id == team_id)

    def _descendants(self, team: Team) -> list[Team]:
        """The team's child teams, their children, and so on."""
        found: list[Team] = []
        todo = [team.id]
        while todo:
            parent = todo.pop()
            children = [t for t in self.teams.values() if t.parent == parent]
            found.extend(children)
            todo.extend(c.id for c in children)
        return found

    def _all_members(self, team: Team) -> dict[str, str]:
        """Members as the REST API lists them: the team's own, then its child teams'."""
        members = dict(team.members)
        for child in self._descendants(team):
            for key, role in child.members.items():
                members.setdefault(key, role)
        return members

    def _synced(self, team: Team) -> None:
        """GitHub refuses API changes to the membership of a team its IdP manages."""
        if team.idp_groups or team.external_groups:
            raise github_error(403, "This team's membership is managed by an identity provider "
                                    "and cannot be changed through the API.")

    # -- handlers ----------------------------------------------------------------------------------
    def _list_teams(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            mine = login_key(org.account.login)
            teams = sorted((t for t in self.teams.values() if t.org == mine),
                           key=lambda t: t.slug)
            return self._paginate(request, [self._team_json(t) for t in teams])

    def _get_team(self, request: Request) -> JSON:
        with self.lock:
            return self._team_json(self._team(request), full=True)

    def _team_members(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            role = request.arg("role", "all")
            if role not in ("all", "member", "maintainer"):
                raise invalid("role must be all, member or maintainer", "Team", "role")
            # "Team members will include the members of child teams." (GitHub's REST docs)
            keys = [k for k, r in self._all_members(team).items() if role in ("all", r)]
            listed = self.listing_lag.listed(team.id, ((k, k) for k in keys))
            return self._paginate(request, self._users_sorted(listed))

    def _team_sync_groups(self, request: Request) -> JSON:
        with self.lock:
            return {"groups": list(self._team(request).idp_groups)}

    def _team_external_groups(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            if not team.external_groups:
                raise not_found()
            return {"groups": list(team.external_groups)}

    def _team_invitations(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            org = self.orgs[team.org]
            items = []
            for key, role in sorted(team.pending.items()):
                account = self.accounts[key]
                items.append({
                    "id": account.id * 1000 + team.id, "node_id": node_id("OI", account.id),
                    "login": account.login, "email": account.email,
                    "role": "direct_member" if role == "member" else role,
                    "created_at": stamp(team.created_at), "failed_at": None,
                    "failed_reason": None, "inviter": self._user_json(DEFAULT_LOGIN),
                    "team_count": 1, "invitation_source": "member",
                    "invitation_teams_url": f"{self.api}/organizations/{org.account.id}"
                                            f"/invitations/{account.id}/teams",
                })
            return self._paginate(request, items)

    def _get_membership(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            account = self._user(request.params["username"])
            key = login_key(account.login)
            everyone = self._all_members(team)  # child teams' members included, as on GitHub
            if key in everyone:
                return self._membership_json(team, account.login, everyone[key], "active")
            if key in team.pending:
                return self._membership_json(team, account.login, team.pending[key], "pending")
            raise not_found()

    def _put_membership(self, request: Request) -> JSON:
        with self.lock:
            team = self._team(request)
            self._synced(team)
            account = self._user(request.params["username"])
            role = (request.json() or {}).get("role", "member")
            if role not in ("member", "maintainer"):
                raise invalid("role must be member or maintainer", "TeamMember", "role")
            key = login_key(account.login)
            if key in self.orgs[team.org].members:
                if key not in team.members:
                    self.listing_lag.wrote(team.id, key, True)
                team.members[key] = role
                team.pending.pop(key, None)
                return self._membership_json(team, account.login, role, "active")
            # Not in the organization: GitHub invites them; the membership waits for them.
            team.pending[key] = role
            return self._membership_json(team, account.login, role, "pending")

    def _delete_membership(self, request: Request) -> Response:
        with self.lock:
            team = self._team(request)
            self._synced(team)
            account = self._user(request.params["username"])
            key = login_key(account.login)
            if key not in team.members and key not in team.pending:
                raise not_found()
            if key in team.members:
                self.listing_lag.wrote(team.id, key, False, key)
            team.members.pop(key, None)
            team.pending.pop(key, None)
            return Response(204)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_team(self, org: str, slug: str, members: Iterable[str] = (),
                 maintainers: Iterable[str] = (), name: str | None = None,
                 parent: str | None = None) -> int:
        """A team in `org` (a child of the team `parent`, by slug); its members join the
        organization too."""
        with self.lock:
            owner = self.orgs[login_key(org)]
            team = Team(next(self._ids), login_key(org), slug.casefold(), name or slug, None)
            if parent is not None:
                team.parent = self.teams[(login_key(org), parent.casefold())].id
            self.teams[(login_key(org), slug.casefold())] = team
            for login, role in [(m, "member") for m in members] + [
                    (m, "maintainer") for m in maintainers]:
                key = login_key(self._existing(login).login)
                owner.members.setdefault(key, "member")
                team.members[key] = role
            return team.id

    def sync_team_with_idp(self, org: str, slug: str, group_name: str,
                           emu: bool = False) -> None:
        """Connect the team to an identity-provider group (team synchronization, or with
        `emu` an Enterprise Managed Users external group): its membership is the IdP's now."""
        with self.lock:
            team = self.teams[(login_key(org), slug.casefold())]
            if emu:
                team.external_groups.append({"group_id": team.id, "group_name": group_name,
                                             "updated_at": stamp(self.clock())})
            else:
                team.idp_groups.append({"group_id": f"{team.id:08x}-idp", "group_name": group_name,
                                        "group_description": f"{group_name} (IdP group)"})

    def team_members(self, org: str, slug: str) -> dict[str, str]:
        """Active members: login (with its case) -> role."""
        with self.lock:
            team = self.teams[(login_key(org), slug.casefold())]
            return {self.accounts[k].login: r for k, r in team.members.items()}

    def team_pending(self, org: str, slug: str) -> dict[str, str]:
        with self.lock:
            team = self.teams[(login_key(org), slug.casefold())]
            return {self.accounts[k].login: r for k, r in team.pending.items()}

    def set_team_member(self, org: str, slug: str, login: str, role: str | None = "member"
                        ) -> None:
        """Add (or, with role None, remove) a team member without going through the API."""
        with self.lock:
            team = self.teams[(login_key(org), slug.casefold())]
            key = login_key(self._existing(login).login)
            if role is None:
                team.members.pop(key, None)
                team.pending.pop(key, None)
            else:
                self.orgs[team.org].members.setdefault(key, "member")
                team.members[key] = role
