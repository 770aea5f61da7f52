"""GitHub target kind `repository`: a direct collaborator's permission on a repository, pending
invitations included.

Adding an outside user as a collaborator sends an invitation (HTTP 201); access starts only when
they accept, and the pending invitation counts as holding the target, so the revoke job cancels
it at expiry (otherwise it could be accepted after the grant ended). The PUT overwrites the
role: a grant reads the current role first and never lowers it, and where it raises a direct
collaborator's role the revoke puts the earlier one back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.github.client import GitHubClient
from accessctl.providers.github.schema import PERMISSIONS_ORDER
from accessctl.providers.observed import ObservedMembers

# A role by any of its names (the REST API's, and role_name's) -> the REST API's name.
_ROLE_NAMES = {"read": "pull", "triage": "triage", "write": "push", "maintain": "maintain",
               "admin": "admin", "pull": "pull", "push": "push"}


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


class RepositoryAccess(GitHubClient):
    """Observe, grant and revoke collaborators of a repository."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        self._logins = ObservedMembers()
        """Repository -> its holders' principal keys -> their logins."""

    @staticmethod
    def _repo_subject(target: Target) -> str:
        return f"repository {target.param('owner')}/{target.param('repo')}"

    def _repo(self, target: Target) -> tuple[str, Any]:
        owner, name = target.param("owner"), target.param("repo")
        # get_repo puts the full name into the path as given: quote each part.
        full = f"{quote(owner, safe='')}/{quote(name, safe='')}"
        return self._repo_subject(target), self.client.get_repo(full)

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

