"""Accounts: users, bots and organizations (their members), tokens and renames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from accessctl.emulators.github.server import GitHubServer
from accessctl.emulators.github.state import Account, Org
from accessctl.emulators.github.wire import (
    Routes,
    github_error,
    int_param,
    invalid,
    login_key,
    node_id,
    not_found,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Accounts(GitHubServer):
    def _account_routes(self) -> Routes:
        return [
            ("GET", "/user", self._get_self),
            ("GET", "/users/{username}", self._get_user),
            ("GET", "/user/{account_id}", self._get_user_by_id),
            ("GET", "/orgs/{org}", self._get_org),
            ("GET", "/orgs/{org}/members", self._org_members),
            ("GET", "/orgs/{org}/members/{username}", self._org_member),
        ]

    # -- JSON shapes and look-ups -----------------------------------------------------------------
    def _user_json(self, login: str | None) -> JSON:
        """A `simple-user`; for a login that no longer exists, GitHub's ghost."""
        if login is None:
            return None
        account = self.accounts.get(login_key(login)) or Account(10137, "ghost", "User")
        base = f"{self.api}/users/{account.login}"
        return {
            "login": account.login,
            "id": account.id,
            "node_id": node_id("U", account.id),
            "avatar_url": f"{self.web}/avatars/u/{account.id}",
            "gravatar_id": "",
            "url": base,
            "html_url": f"{self.web}/{account.login}",
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": account.type,
            "site_admin": False,
            "user_view_type": "public",
        }

    def _public_user_json(self, account: Account) -> JSON:
        return {
            **self._user_json(account.login),
            "name": account.name, "company": None, "blog": "", "location": None,
            "email": account.email, "hireable": None, "bio": None, "twitter_username": None,
            "public_repos": sum(1 for r in self.repos.values() if login_key(r.owner) == login_key(
                account.login)),
            "public_gists": 0, "followers": 0, "following": 0,
            "created_at": stamp(account.created_at), "updated_at": stamp(account.created_at),
        }

    def _org_json(self, org: Org) -> JSON:
        login = org.account.login
        url = f"{self.api}/orgs/{login}"
        return {
            "login": login, "id": org.account.id, "node_id": node_id("O", org.account.id),
            "url": url, "repos_url": f"{url}/repos", "events_url": f"{url}/events",
            "hooks_url": f"{url}/hooks", "issues_url": f"{url}/issues",
            "members_url": f"{url}/members{{/member}}",
            "public_members_url": f"{url}/public_members{{/member}}",
            "avatar_url": f"{self.web}/avatars/u/{org.account.id}", "description": None,
        }

    def _org_full_json(self, org: Org) -> JSON:
        return {
            **self._org_json(org), "name": org.account.name, "is_verified": False,
            "has_organization_projects": True, "has_repository_projects": True,
            "public_repos": sum(1 for r in self.repos.values()
                                if login_key(r.owner) == login_key(org.account.login)),
            "public_gists": 0, "followers": 0, "following": 0,
            "html_url": f"{self.web}/{org.account.login}", "type": "Organization",
            "created_at": stamp(org.account.created_at),
            "updated_at": stamp(org.account.created_at), "archived_at": None,
        }

    def _users_sorted(self, keys: Iterable[str]) -> list[JSON]:
        accounts = sorted((self.accounts[k] for k in keys), key=lambda a: a.id)
        return [self._user_json(a.login) for a in accounts]

    def _account(self, login: str) -> Account:
        account = self.accounts.get(login_key(login))
        if account is None:
            raise not_found()
        return account

    def _user(self, login: str) -> Account:
        account = self._account(login)
        if account.type == "Organization":
            raise not_found()
        return account

    def _org(self, login: str) -> Org:
        org = self.orgs.get(login_key(login))
        if org is None:
            raise not_found()
        return org

    def _existing(self, login: str) -> Account:
        account = self.accounts.get(login_key(login))
        if account is None:
            raise KeyError(f"no account {login!r}")
        return account

    # -- handlers ----------------------------------------------------------------------------------
    def _get_self(self, request: Request) -> JSON:
        account = self._actor(request)
        return {**self._public_user_json(account), "user_view_type": "private",
                "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0,
                "disk_usage": 0, "collaborators": 0, "two_factor_authentication": True,
                "plan": {"name": "free", "space": 976562499, "private_repos": 10000,
                         "collaborators": 0}}

    def _get_user(self, request: Request) -> JSON:
        with self.lock:
            account = self._account(request.params["username"])
            return self._public_user_json(account)  # its `type` says User or Organization

    def _get_user_by_id(self, request: Request) -> JSON:
        """`GET /user/{account_id}`: the account with that id, under its login of today."""
        with self.lock:
            number = int_param(request, "account_id")
            account = next((a for a in self.accounts.values() if a.id == number), None)
            if account is None:
                raise not_found()
            return self._public_user_json(account)  # its `type` says User or Organization

    def _get_org(self, request: Request) -> JSON:
        with self.lock:
            return self._org_full_json(self._org(request.params["org"]))

    def _org_members(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            role = request.arg("role", "all")
            if role not in ("all", "admin", "member"):
                raise invalid("role must be all, admin or member", "Organization", "role")
            keys = [k for k, r in org.members.items() if role in ("all", r)]
            return self._paginate(request, self._users_sorted(keys))

    def _org_member(self, request: Request) -> Response:
        with self.lock:
            org = self._org(request.params["org"])
            if login_key(request.params["username"]) in org.members:
                return Response(204)
            raise github_error(404, "User does not exist or is not a member of the organization")

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_token(self, token: str, login: str,
                  permissions: Mapping[str, str] | None = None) -> None:
        """A token for `login`; with `permissions`, only those (a GitHub App installation token
        or a fine-grained token: {"contents": "read", "pull_requests": "write", ...})."""
        with self.lock:
            self.tokens[token] = self.accounts[login_key(login)].login
            if permissions is not None:
                self.token_permissions[token] = dict(permissions)

    def add_user(self, login: str, name: str | None = None, email: str | None = None) -> int:
        return self._add_account(login, "User", name, email)

    def add_bot(self, login: str) -> int:
        """A GitHub App's bot account, e.g. "renovate[bot]" (type Bot)."""
        return self._add_account(login, "Bot", None, None)

    def _add_account(self, login: str, kind: str, name: str | None, email: str | None) -> int:
        with self.lock:
            key = login_key(login)
            if key in self.accounts:
                raise ValueError(f"login {login!r} is taken")
            account = Account(next(self._ids), login, kind, name, email, self.clock())
            self.accounts[key] = account
            return account.id

    def add_org(self, login: str, members: Iterable[str] = (), admins: Iterable[str] = ()
                ) -> int:
        with self.lock:
            org_id = self._add_account(login, "Organization", login, None)
            org = Org(self.accounts[login_key(login)])
            self.orgs[login_key(login)] = org
            for member in members:
                org.members[login_key(self._existing(member).login)] = "member"
            for admin in admins:
                org.members[login_key(self._existing(admin).login)] = "admin"
            return org_id

    def add_org_member(self, org: str, login: str, role: str = "member") -> None:
        with self.lock:
            key = login_key(self._existing(login).login)
            self.orgs[login_key(org)].members[key] = role
            # Joining the organization activates team memberships that waited for it.
            for team in self.teams.values():
                if team.org == login_key(org) and key in team.pending:
                    team.members[key] = team.pending.pop(key)

    def rename_user(self, login: str, new_login: str) -> None:
        """The user changes their login, as GitHub lets anyone do. The account keeps its id, and
        everything that refers to it follows: organization and team memberships, pending
        invitations, collaborators, pull requests, reviews, comments, commits, tokens. The old
        login is free at once for anyone to take."""
        with self.lock:
            account = self._existing(login)
            old, new = login_key(account.login), login_key(new_login)
            if account.type == "Organization":
                raise ValueError(f"{login!r} is an organization")
            if new in self.accounts and new != old:
                raise ValueError(f"login {new_login!r} is taken")

            def key(value: str) -> str:
                return new if value == old else value

            def name(value: str) -> str:
                return new_login if login_key(value) == old else value

            del self.accounts[old]
            account.login = new_login
            self.accounts[new] = account
            for org in self.orgs.values():
                org.members = {key(k): role for k, role in org.members.items()}
            for team in self.teams.values():
                team.members = {key(k): role for k, role in team.members.items()}
                team.pending = {key(k): role for k, role in team.pending.items()}
            for repo in self.repos.values():
                repo.collaborators = {key(k): role for k, role in repo.collaborators.items()}
                for invitation in repo.invitations.values():
                    invitation.invitee = key(invitation.invitee)
                    invitation.inviter = name(invitation.inviter)
                for commit in repo.commits.values():
                    commit.author = name(commit.author)
                for comment in repo.comments.values():
                    comment.user = name(comment.user)
                for pull in repo.pulls.values():
                    pull.user = name(pull.user)
                    pull.merged_by = name(pull.merged_by) if pull.merged_by else None
                    pull.requested_users = [key(k) for k in pull.requested_users]
                    for review in pull.reviews:
                        review.user = name(review.user)
            self.tokens = {token: name(holder) for token, holder in self.tokens.items()}
