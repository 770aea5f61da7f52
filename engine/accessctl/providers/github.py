"""GitHub: team membership and repository collaborator permission, through PyGithub.

PyGithub is imported only when a GitHub entitlement is used. A principal is a GitHub login, and
the account's numeric id is what the engine keeps: anyone may change their login at any time (the
old one is then free for others to take), the id never changes. Observe reads each holder's id
with its login (member and collaborator lists carry it; a pending team invitee's is looked up), a
grant reports the id of the account the login named when it granted, and a revoke removes the
account with that id under whatever login it has by then (the API removes by login).

GitHub has no expiry on either grant: the revoke job removes them at `expires_at`.

Two GitHub behaviours shape this module:
- Adding an outside user as a repository collaborator sends an invitation (HTTP 201); access
  starts only when they accept. Putting someone who is not in the organization on a team invites
  them to the organization; the team membership stays pending until they join. A pending
  invitation counts as holding the target, so the revoke job cancels it at expiry (otherwise it
  could be accepted after the grant ended).
- Both PUT calls overwrite the role. Granting first reads the current role and never lowers it:
  a team maintainer stays a maintainer, an admin collaborator stays an admin.

Two team behaviours too: the REST list of a team's members includes its child teams' members,
so a team's holders are read with GraphQL's `members(membership: IMMEDIATE)` (someone who is
only in a child team holds nothing the engine could grant or revoke there); and a team
synchronized with an identity provider refuses membership changes through the API (403), which
the provider names with the IdP group, read from the team's group mappings.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers

PLATFORM = "github"

# Repository roles, weakest first, by the names the REST API takes (and their role_name).
PERMISSIONS_ORDER = ("pull", "triage", "push", "maintain", "admin")
_ROLE_NAMES = {"read": "pull", "triage": "triage", "write": "push", "maintain": "maintain",
               "admin": "admin", "pull": "pull", "push": "push"}
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
DEFAULT_WRITE_INTERVAL = 1.0

_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "base_url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "default": "https://api.github.com",
            "description": "The REST API root: https://api.github.com, or "
                           "https://HOST/api/v3 for GitHub Enterprise Server.",
            "examples": ["https://api.github.com", "https://github.example.com/api/v3"],
        },
        "token_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "default": "GITHUB_TOKEN",
            "description": "Name of the environment variable holding the token (a GitHub App "
                           "installation token or a fine-grained personal access token). The "
                           "workflow's own GITHUB_TOKEN cannot manage teams or collaborators.",
            "examples": ["GITHUB_TOKEN", "ACCESSCTL_GITHUB_TOKEN"],
        },
        "write_interval": {
            "type": "number",
            "minimum": 0,
            "maximum": 60,
            "default": DEFAULT_WRITE_INTERVAL,
            "description": "Seconds to wait between mutating requests. GitHub asks for at least "
                           "one second to stay clear of its secondary rate limits.",
            "examples": [1.0, 2.5],
        },
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "team": {
        "type": "object",
        "additionalProperties": False,
        "required": ["org", "team"],
        "properties": {
            "org": {
                "type": "string",
                "pattern": _NAME,
                "description": "The organization's login.",
                "examples": ["acme"],
            },
            "team": {
                "type": "string",
                "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
                "description": "The team's slug (as in its URL), not its display name. The "
                               "principal becomes a member (role `member`).",
                "examples": ["sre-oncall", "prod-deployers"],
            },
        },
    },
    "repository": {
        "type": "object",
        "additionalProperties": False,
        "required": ["owner", "repo", "permission"],
        "properties": {
            "owner": {
                "type": "string",
                "pattern": _NAME,
                "description": "The repository owner: an organization or user login.",
                "examples": ["acme"],
            },
            "repo": {
                "type": "string",
                "pattern": r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$",
                "description": "The repository name.",
                "examples": ["infra"],
            },
            "permission": {
                "type": "string",
                "enum": list(PERMISSIONS_ORDER),
                "description": "The collaborator permission granted. A principal holds the "
                               "target when they are a direct collaborator (or invitee) with at "
                               "least this permission.",
                "examples": ["push", "maintain"],
            },
        },
    },
}

PERMISSIONS = """\
A GitHub App installed on the organization (preferred: short-lived installation tokens, minted in
the workflow) or a fine-grained personal access token of an organization owner, kept in a CI
secret and exposed as `GITHUB_TOKEN` (or the variable named by `token_env`). The workflow's own
`GITHUB_TOKEN` cannot manage teams or collaborators.

| GitHub App / fine-grained permission | access | why |
| --- | --- | --- |
| Organization: Members | read and write | team memberships (`team` targets) |
| Repository: Administration | read and write | collaborators (`repository` targets) |
| Repository: Metadata | read | implied by the above |

Give the repository permissions on the managed repositories only. Calls made:

| call | why |
| --- | --- |
| `GET /users/{username}` | resolve a login to its account id (404: no such user) |
| `GET /user/{account_id}` | the login of an account the engine granted, when not observed |
| GraphQL `team.members(membership: IMMEDIATE)` | observe direct members (not child teams') |
| `GET /orgs/{org}/teams/{slug}/invitations` | observe invitees |
| `GET .../teams/{slug}/team-sync/group-mappings`, `.../external-groups` | after a 403: IdP? |
| `GET /orgs/{org}/teams/{slug}/memberships/{username}` | read a membership: never demote |
| `PUT`, `DELETE /orgs/{org}/teams/{slug}/memberships/{username}` | grant, revoke |
| `GET /repos/{owner}/{repo}/collaborators?affiliation=direct` | observe collaborators |
| `GET /repos/{owner}/{repo}/invitations` | observe pending invitees |
| `GET /repos/{owner}/{repo}/collaborators/{username}/permission` | read a role: never lower |
| `GET /repos/{owner}/{repo}/collaborators/{username}` | is a collaborator (revoke) |
| `PUT /repos/{owner}/{repo}/collaborators/{username}` | grant (invites outside users) |
| `DELETE /repos/{owner}/{repo}/collaborators/{username}` | revoke; cancels an invitation |
"""

T = TypeVar("T")

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


class _Forbidden(ProviderError):
    """A 403 that is not a rate limit: a missing permission, or a team an IdP manages."""


def required_permission(target: Target) -> str:
    permission = target.param("permission").strip().casefold()
    permission = _ROLE_NAMES.get(permission, permission)
    if permission not in PERMISSIONS_ORDER:
        raise ProviderError(f"{target.display}: unknown GitHub permission {permission!r}; use "
                            f"one of {', '.join(PERMISSIONS_ORDER)}")
    return permission


def _rank(role: str | None) -> int:
    """Position of a role in PERMISSIONS_ORDER; -1 for none or a role not known here."""
    name = _ROLE_NAMES.get((role or "").casefold())
    return PERMISSIONS_ORDER.index(name) if name else -1


class GitHubProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._client: Any = None
        self._users: dict[str, Any] = {}
        self._observed_teams = ObservedMembers()
        """Team -> its members' and invitees' principal keys -> their logins, as observe read
        them."""
        self._ids = ObservedMembers()
        """Team or repository -> its holders' principal keys -> their account ids."""
        self._logins = ObservedMembers()
        """Repository -> its holders' principal keys -> their logins."""
        self._known: dict[str, str] = {}
        """Principal key -> account id of every account a member list showed this run."""

    # -- client -----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return str(self.instance.settings.get("base_url") or "https://api.github.com").rstrip("/")

    @property
    def token_env(self) -> str:
        return str(self.instance.settings.get("token_env") or "GITHUB_TOKEN")

    @property
    def client(self) -> Any:
        if self._client is None:
            from github import Auth, Github

            token = self._environ.get(self.token_env)
            if not token:
                raise ProviderError(
                    f"GitHub token missing: set the environment variable {self.token_env}")
            interval = float(self.instance.settings.get("write_interval",
                                                        DEFAULT_WRITE_INTERVAL))
            # retry=None: the engine's retry loop is the only one, so attempts do not multiply
            # and a 429's Retry-After reaches it.
            self._client = Github(
                auth=Auth.Token(token), base_url=self.base_url, lazy=True, retry=None,
                per_page=100, timeout=30, seconds_between_requests=None,
                seconds_between_writes=interval or None,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, subject: str, call: Callable[[], T]) -> T:
        """Run one SDK call, mapping its failures to the engine's errors."""
        import requests
        from github import GithubException

        try:
            return call()
        except GithubException as error:
            raise self._map(subject, error) from None
        except requests.exceptions.RequestException as error:
            raise ProviderError(f"GitHub unreachable at {self.base_url}: {error}",
                                retryable=True) from None

    def _map(self, subject: str, error: Any) -> ProviderError:
        from github import RateLimitExceededException

        status = int(error.status or 0)
        data = error.data
        message = str(data.get("message") if isinstance(data, dict) else data or "").strip()
        details = data.get("errors") if isinstance(data, dict) else None
        if details:
            message = f"{message}: {details}"
        headers = {str(k).lower(): str(v) for k, v in (error.headers or {}).items()}
        limited = (isinstance(error, RateLimitExceededException) or status == 429
                   or (status == 403 and "rate limit" in message.lower()))
        if limited:
            return ProviderError(f"GitHub rate limit on {subject}: {message}", retryable=True,
                                 retry_after=_retry_after(headers))
        if status == 401:
            return ProviderError(f"GitHub rejected the token ({message}): check the token in "
                                 f"{self.token_env}")
        if status == 404:
            return NotFound(f"{subject}: not found on GitHub (or the token cannot see it)")
        if status == 403:
            return _Forbidden(f"GitHub 403 on {subject}: {message}")
        if status >= 500:
            return ProviderError(f"GitHub {status} on {subject}: {message}", retryable=True,
                                 retry_after=_retry_after(headers))
        return ProviderError(f"GitHub {status} on {subject}: {message}")

    # -- look-ups ---------------------------------------------------------------------------------
    def _login(self, principal: str) -> str:
        """The principal's login as GitHub spells it; NotFound when there is no such user."""
        return str(self._user(principal).login)

    def _user(self, principal: str) -> Any:
        """The principal's NamedUser (fetched once); NotFound when there is no such user."""
        key = principal_key(principal)
        if key not in self._users:
            if not _LOGIN.match(principal):
                raise NotFound(f"GitHub user {principal} does not exist (not a valid login)")
            try:
                user = self._call(f"GitHub user {principal}",
                                  lambda: self.client.get_user(principal))
            except NotFound:
                raise NotFound(f"GitHub user {principal} does not exist") from None
            if user.type == "Organization":
                raise NotFound(f"GitHub user {principal} does not exist (it is an organization)")
            self._users[key] = user
        return self._users[key]

    def _id(self, principal: str) -> str:
        """The account id of a login: from this run's member lists, else looked up."""
        known = self._known.get(principal_key(principal))
        return known if known is not None else str(self._user(principal).id)

    def _login_of_id(self, principal_id: str) -> str:
        """The login the account `principal_id` has now; NotFound when there is no such
        account (deleted: nothing left to hold anything)."""
        if not principal_id.isascii() or not principal_id.isdigit():
            raise NotFound(f"GitHub account id {principal_id!r} is not an account id")
        def fetch() -> tuple[Any, str]:
            user = self.client.get_user_by_id(int(principal_id))
            return user, str(user.login)  # the lazy object's first attribute makes the GET

        try:
            user, login = self._call(f"GitHub account {principal_id}", fetch)
        except NotFound:
            raise NotFound(f"GitHub account {principal_id} does not exist") from None
        self._users.setdefault(principal_key(login), user)
        self._known[principal_key(login)] = principal_id
        return login

    @staticmethod
    def _team_subject(target: Target) -> str:
        return f"team {target.param('org')}/{target.param('team')}"

    @staticmethod
    def _repo_subject(target: Target) -> str:
        return f"repository {target.param('owner')}/{target.param('repo')}"

    def _team(self, target: Target) -> tuple[str, Any]:
        org, slug = target.param("org"), target.param("team")
        # PyGithub quotes both; no request is made until the team is used (lazy client).
        return self._team_subject(target), \
            self.client.get_organization(org).get_team_by_slug(slug)

    def _repo(self, target: Target) -> tuple[str, Any]:
        owner, name = target.param("owner"), target.param("repo")
        # get_repo puts the full name into the path as given: quote each part.
        full = f"{quote(owner, safe='')}/{quote(name, safe='')}"
        return self._repo_subject(target), self.client.get_repo(full)

    # -- the provider interface -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result: dict[Target, frozenset[str]] = {}
        for target in targets:
            if target.kind == "team":
                result[target] = self._team_holders(target)
            elif target.kind == "repository":
                result[target] = self._repository_holders(target)
            else:
                raise _unknown_kind(target)
        return result

    def member_ids(self, target: Target) -> Mapping[str, str]:
        subject = self._team_subject(target) if target.kind == "team" else \
            self._repo_subject(target)
        return self._ids.held(subject)

    def grant(self, change: Change) -> Outcome:
        if change.target.kind == "team":
            return self._grant_team(change)
        if change.target.kind == "repository":
            return self._grant_repository(change)
        raise _unknown_kind(change.target)

    def revoke(self, change: Change) -> Outcome:
        if change.target.kind == "team":
            return self._revoke_team(change)
        if change.target.kind == "repository":
            return self._revoke_repository(change)
        raise _unknown_kind(change.target)

    # -- teams ------------------------------------------------------------------------------------
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
        except _Forbidden as error:
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

    def _holder(self, subject: str, change: Change) -> str | None:
        """The principal a revoke acts on: the holder of `change.principal_id` (under the
        login observe read, else the login the account has now), or `change.principal` when no
        id is given. None: this run's observation shows nobody with that id."""
        if change.principal_id is None:
            return change.principal
        observed, key = self._ids.key_of(subject, change.principal_id)
        if observed:
            return key
        return self._login_of_id(change.principal_id)

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
        except _Forbidden as error:
            target = change.target
            raise self._refused(subject, target.param("org"), target.param("team"),
                                error) from None
        self._forget(team_subject, principal)
        return Outcome(change, Status.DONE, "removed from the team")

    def _forget(self, subject: str, principal: str) -> None:
        self._observed_teams.note(subject, principal, None)
        self._ids.note(subject, principal, None)

    # -- repositories -----------------------------------------------------------------------------
    def _repository_holders(self, target: Target) -> frozenset[str]:
        wanted = PERMISSIONS_ORDER.index(required_permission(target))
        subject, repo = self._repo(target)
        holders: list[tuple[str, str]] = []
        for user in self._call(subject, lambda: list(repo.get_collaborators(
                affiliation="direct"))):
            if _collaborator_rank(user) >= wanted:
                holders.append((user.login, str(user.id)))
        for invitation in self._call(subject, lambda: list(repo.get_pending_invitations())):
            if invitation.invitee is not None and _rank(invitation.permissions) >= wanted:
                holders.append((invitation.invitee.login, str(invitation.invitee.id)))
        ids = {principal_key(login): number for login, number in holders}
        self._known.update(ids)
        self._ids.record(subject, ids)
        self._logins.record(subject, {principal_key(login): login for login, _ in holders})
        return frozenset(ids)

    def _pending(self, subject: str, repo: Any, login: str) -> Any:
        key = principal_key(login)
        for invitation in self._call(subject, lambda: list(repo.get_pending_invitations())):
            if invitation.invitee is not None and principal_key(invitation.invitee.login) == key:
                return invitation
        return None

    def _current_role(self, subject: str, repo: Any, login: str) -> str:
        """The user's role on the repository: direct, through teams or the organization."""
        role = str(self._call(subject, lambda: repo.get_collaborator_role_name(login)))
        if _rank(role) < 0 and role not in ("none", ""):
            # A custom repository role: fall back to the base permission it maps to.
            role = str(self._call(subject, lambda: repo.get_collaborator_permission(login)))
        return role

    def _grant_repository(self, change: Change) -> Outcome:
        permission = required_permission(change.target)
        wanted = PERMISSIONS_ORDER.index(permission)
        user = self._user(change.principal)
        login, principal_id = str(user.login), str(user.id)
        subject, repo = self._repo(change.target)
        subject = f"{login} on {subject}"
        role = self._current_role(subject, repo, login)
        if _rank(role) >= wanted:
            return Outcome(change, Status.UNCHANGED, f"already has {role}",
                           principal_id=principal_id)
        pending = self._pending(subject, repo, login)
        if pending is not None and _rank(pending.permissions) >= wanted:
            return Outcome(change, Status.UNCHANGED,
                           f"invitation for {pending.permissions} already pending",
                           principal_id=principal_id)
        # A direct collaborator with a lower role: the PUT overwrites it. That role is not the
        # engine's: the ledger keeps it, and the revoke puts it back instead of removing them.
        previous: tuple[tuple[str, str], ...] = ()
        if _rank(role) >= 0 and self._call(subject, lambda: repo.has_in_collaborators(login)):
            previous = (("permission", str(_ROLE_NAMES.get(role.casefold(), role))),)
        invitation = self._call(subject, lambda: repo.add_to_collaborators(login, permission))
        if invitation is not None:
            return Outcome(change, Status.DONE, f"invited as {permission}: access starts when "
                                                "they accept the invitation",
                           principal_id=principal_id)
        if previous:
            return Outcome(change, Status.DONE, f"raised from {previous[0][1]} to {permission}; "
                           f"the revoke puts {previous[0][1]} back", previous=previous,
                           principal_id=principal_id)
        return Outcome(change, Status.DONE, f"added as {permission}", principal_id=principal_id)

    def _revoke_repository(self, change: Change) -> Outcome:
        subject = self._repo_subject(change.target)
        try:
            principal = self._holder(subject, change)
        except NotFound as error:
            return Outcome(change, Status.UNCHANGED, str(error))
        if principal is None:
            return Outcome(change, Status.UNCHANGED, "not a collaborator")
        login = self._logins.lookup(subject, principal)[1] or self._login(principal)
        subject, repo = self._repo(change.target)
        subject = f"{login} on {subject}"
        direct = bool(self._call(subject, lambda: repo.has_in_collaborators(login)))
        if not direct and self._pending(subject, repo, login) is None:
            return Outcome(change, Status.UNCHANGED, "not a collaborator")
        earlier = dict(change.restore).get("permission")
        if direct and earlier:
            # The engine raised a role the person already held: put that role back.
            self._call(subject, lambda: repo.add_to_collaborators(login, earlier))
            return Outcome(change, Status.DONE, f"put back to {earlier}")
        # Removing a collaborator also cancels their pending invitation.
        self._call(subject, lambda: repo.remove_from_collaborators(login))
        return Outcome(change, Status.DONE, "removed as collaborator" if direct
                       else "invitation cancelled")


def _collaborator_rank(user: Any) -> int:
    rank = _rank(user.role_name)
    if rank >= 0:
        return rank
    permissions = user.permissions  # custom role: its base permissions
    flags = [bool(getattr(permissions, name, False)) for name in PERMISSIONS_ORDER]
    return max((i for i, flag in enumerate(flags) if flag), default=-1)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: Retry-After, else the primary limit's reset when nothing remains."""
    try:
        if headers.get("retry-after"):
            return max(0.0, float(headers["retry-after"]))
        if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
    except ValueError:
        return None
    return None


def _unknown_kind(target: Target) -> ProviderError:
    return ProviderError(f"GitHub has no target kind {target.kind!r}; use team or repository")


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> GitHubProvider:
    return GitHubProvider(instance, environ)
