"""GitHub: team membership and repository collaborator permission, through PyGithub.

PyGithub is imported only when a GitHub entitlement is used. A principal is a GitHub login.

GitHub has no expiry on either grant: the revoke job removes them at `expires_at`.

Two GitHub behaviours shape this module:
- Adding an outside user as a repository collaborator sends an invitation (HTTP 201); access
  starts only when they accept. Putting someone who is not in the organization on a team invites
  them to the organization; the team membership stays pending until they join. A pending
  invitation counts as holding the target, so the revoke job cancels it at expiry (otherwise it
  could be accepted after the grant ended).
- Both PUT calls overwrite the role. Granting first reads the current role and never lowers it:
  a team maintainer stays a maintainer, an admin collaborator stays an admin.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
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
| `GET /users/{username}` | resolve a login (404: no such user) |
| `GET /orgs/{org}/teams/{slug}/members` and `/invitations` | observe members and invitees |
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
        # A rate limit answers 429 or 403 (docs: "Rate limits for the REST API"); a 403 is one
        # when it says so, when it carries retry-after, or when no requests remain.
        limited = (isinstance(error, RateLimitExceededException) or status == 429
                   or (status == 403 and ("rate limit" in message.lower()
                                          or "retry-after" in headers
                                          or headers.get("x-ratelimit-remaining") == "0")))
        if limited:
            return ProviderError(f"GitHub rate limit on {subject}: {message}", retryable=True,
                                 retry_after=_retry_after(headers))
        if status == 401:
            return ProviderError(f"GitHub rejected the token ({message}): check the token in "
                                 f"{self.token_env}")
        if status == 404:
            return NotFound(f"{subject}: not found on GitHub (or the token cannot see it)")
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

    def _team(self, target: Target) -> tuple[str, Any]:
        org, slug = target.param("org"), target.param("team")
        # PyGithub quotes both; no request is made until the team is used (lazy client).
        return f"team {org}/{slug}", self.client.get_organization(org).get_team_by_slug(slug)

    def _repo(self, target: Target) -> tuple[str, Any]:
        owner, name = target.param("owner"), target.param("repo")
        # get_repo puts the full name into the path as given: quote each part.
        full = f"{quote(owner, safe='')}/{quote(name, safe='')}"
        return f"repository {owner}/{name}", self.client.get_repo(full)

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
        members = self._call(subject, lambda: [m.login for m in team.get_members()])
        pending = self._call(subject, lambda: [i.login for i in team.invitations() if i.login])
        holders = {principal_key(login): str(login) for login in [*members, *pending]}
        self._observed_teams.record(subject, holders)
        return frozenset(holders)

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
            return Outcome(change, Status.UNCHANGED, "already a member or invited")
        if observed:
            # This run's observe read the team (it exists) and the person is not on it: the PUT
            # alone says whether the login is a user (404 otherwise). No look-up, no read-first.
            if not _LOGIN.match(change.principal):
                raise NotFound(f"GitHub user {change.principal} does not exist (not a valid "
                               "login)")
            login = change.principal
        else:
            login = self._login(change.principal)
            # The PUT would also turn a maintainer into a member: never write over a holder.
            held = self._membership(f"{login} in {team_subject}", team, login)
            if held is not None:
                state, role = held
                return Outcome(change, Status.UNCHANGED, f"already a {role} ({state})")
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
        self._observed_teams.note(team_subject, change.principal, login)
        if isinstance(answer, dict) and answer.get("state") == "pending":
            return Outcome(change, Status.DONE, "invited: the membership starts when they "
                                                "accept the invitation to the organization")
        return Outcome(change, Status.DONE, "added as member")

    def _revoke_team(self, change: Change) -> Outcome:
        team_subject, team = self._team(change.target)
        observed, login = self._observed_teams.lookup(team_subject, change.principal)
        if observed and login is None:
            return Outcome(change, Status.UNCHANGED, "not a member")
        if login is None:
            login = self._login(change.principal)
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
            self._observed_teams.note(team_subject, change.principal, None)
            return Outcome(change, Status.UNCHANGED, "not a member")
        self._observed_teams.note(team_subject, change.principal, None)
        return Outcome(change, Status.DONE, "removed from the team")

    # -- repositories -----------------------------------------------------------------------------
    def _repository_holders(self, target: Target) -> frozenset[str]:
        wanted = PERMISSIONS_ORDER.index(required_permission(target))
        subject, repo = self._repo(target)
        holders: list[str] = []
        for user in self._call(subject, lambda: list(repo.get_collaborators(
                affiliation="direct"))):
            if _collaborator_rank(user) >= wanted:
                holders.append(user.login)
        for invitation in self._call(subject, lambda: list(repo.get_pending_invitations())):
            if invitation.invitee is not None and _rank(invitation.permissions) >= wanted:
                holders.append(invitation.invitee.login)
        return frozenset(principal_key(login) for login in holders)

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
        login = self._login(change.principal)
        subject, repo = self._repo(change.target)
        subject = f"{login} on {subject}"
        role = self._current_role(subject, repo, login)
        if _rank(role) >= wanted:
            return Outcome(change, Status.UNCHANGED, f"already has {role}")
        pending = self._pending(subject, repo, login)
        if pending is not None and _rank(pending.permissions) >= wanted:
            return Outcome(change, Status.UNCHANGED,
                           f"invitation for {pending.permissions} already pending")
        invitation = self._call(subject, lambda: repo.add_to_collaborators(login, permission))
        if invitation is not None:
            return Outcome(change, Status.DONE, f"invited as {permission}: access starts when "
                                                "they accept the invitation")
        return Outcome(change, Status.DONE, f"added as {permission}")

    def _revoke_repository(self, change: Change) -> Outcome:
        login = self._login(change.principal)
        subject, repo = self._repo(change.target)
        subject = f"{login} on {subject}"
        direct = bool(self._call(subject, lambda: repo.has_in_collaborators(login)))
        if not direct and self._pending(subject, repo, login) is None:
            return Outcome(change, Status.UNCHANGED, "not a collaborator")
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
