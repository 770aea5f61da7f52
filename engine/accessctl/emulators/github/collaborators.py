"""Repository collaborators, their roles, and the invitations an outside collaborator accepts."""

from __future__ import annotations

from accessctl.emulators.github.repos import Repos
from accessctl.emulators.github.state import Invitation, Repo
from accessctl.emulators.github.wire import (
    ROLES,
    Routes,
    int_param,
    invalid,
    login_key,
    node_id,
    not_found,
    role_of,
    stamp,
)
from accessctl.emulators.http import JSON, Request, Response


class Collaborators(Repos):
    def _collaborator_routes(self) -> Routes:
        r = "/repos/{owner}/{repo}"
        return [
            ("PATCH", "/user/repository_invitations/{invitation_id}", self._accept_invitation),
            ("GET", f"{r}/collaborators", self._list_collaborators),
            ("GET", f"{r}/collaborators/{{username}}", self._is_collaborator),
            ("PUT", f"{r}/collaborators/{{username}}", self._add_collaborator),
            ("DELETE", f"{r}/collaborators/{{username}}", self._remove_collaborator),
            ("GET", f"{r}/collaborators/{{username}}/permission", self._permission),
            ("GET", f"{r}/invitations", self._list_invitations),
            ("DELETE", f"{r}/invitations/{{invitation_id}}", self._delete_invitation),
        ]

    # -- JSON shapes ------------------------------------------------------------------------------
    def _collaborator_json(self, repo: Repo, key: str, role: str) -> JSON:
        level = ROLES.index(role)
        return {**self._user_json(self.accounts[key].login),
                "permissions": {"pull": level >= 0, "triage": level >= 1, "push": level >= 2,
                                "maintain": level >= 3, "admin": level >= 4},
                "role_name": role}

    def _invitation_json(self, repo: Repo, invitation: Invitation) -> JSON:
        return {
            "id": invitation.id, "node_id": node_id("RI", invitation.id),
            "repository": self._repo_json(repo), "invitee": self._user_json(invitation.invitee),
            "inviter": self._user_json(invitation.inviter), "permissions": invitation.role,
            "created_at": stamp(invitation.created_at), "expired": False,
            "url": f"{self.api}/user/repository_invitations/{invitation.id}",
            "html_url": f"{self.web}/{repo.full_name}/invitations",
        }

    # -- handlers ----------------------------------------------------------------------------------
    def _list_collaborators(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            affiliation = request.arg("affiliation", "all")
            if affiliation not in ("all", "direct", "outside"):
                raise invalid("affiliation must be all, direct or outside", "Repository",
                              "affiliation")
            permission = request.arg("permission")
            minimum = ROLES.index(role_of(permission)) if permission else 0
            org = self.orgs.get(login_key(repo.owner))
            items = []
            for key, role in sorted(repo.collaborators.items(),
                                    key=lambda kv: self.accounts[kv[0]].id):
                if affiliation == "outside" and org is not None and key in org.members:
                    continue
                if ROLES.index(role) >= minimum:
                    items.append(self._collaborator_json(repo, key, role))
            return self._paginate(request, items)

    def _is_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            if login_key(request.params["username"]) in repo.collaborators:
                return Response(204)
            raise not_found()

    def _add_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            role = role_of(str((request.json() or {}).get("permission", "push")))
            key = login_key(account.login)
            org = self.orgs.get(login_key(repo.owner))
            if key in repo.collaborators or (org is not None and key in org.members):
                # An existing collaborator or a member of the owning organization: the role is
                # set at once, no invitation.
                repo.collaborators[key] = role
                return Response(204)
            if key == login_key(repo.owner):
                raise invalid("Repository owner cannot be a collaborator", "Repository",
                              "collaborator", "custom")
            invitation = next((i for i in repo.invitations.values() if i.invitee == key), None)
            if invitation is None:
                invitation = Invitation(next(self._ids), key, self._actor(request).login, role,
                                        self.clock())
                repo.invitations[invitation.id] = invitation
            invitation.role = role
            body = self._invitation_json(repo, invitation)
            if self.accept_invitations:
                self._accept(repo, invitation)
            return Response(201, body)

    def _remove_collaborator(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            key = login_key(account.login)
            repo.collaborators.pop(key, None)
            # GitHub also cancels the user's outstanding invitations to the repository.
            for invitation_id in [i.id for i in repo.invitations.values() if i.invitee == key]:
                del repo.invitations[invitation_id]
            return Response(204)

    def _permission(self, request: Request) -> JSON:
        with self.lock:
            repo = self._repo(request)
            account = self._user(request.params["username"])
            key = login_key(account.login)
            role = "admin" if key == login_key(repo.owner) else repo.collaborators.get(key, "none")
            legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read",
                      "read": "read"}.get(role, "none")
            user = (self._collaborator_json(repo, key, role) if role in ROLES
                    else {**self._user_json(account.login), "role_name": role})
            return {"permission": legacy, "role_name": role, "user": user}

    def _list_invitations(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            return self._paginate(request, [self._invitation_json(repo, i)
                                            for i in sorted(repo.invitations.values(),
                                                            key=lambda i: i.id)])

    def _delete_invitation(self, request: Request) -> Response:
        with self.lock:
            repo = self._repo(request)
            if repo.invitations.pop(int_param(request, "invitation_id"), None) is None:
                raise not_found()
            return Response(204)

    def _accept_invitation(self, request: Request) -> Response:
        with self.lock:
            actor = self._actor(request)
            invitation_id = int_param(request, "invitation_id")
            for repo in self.repos.values():
                invitation = repo.invitations.get(invitation_id)
                if invitation is not None and invitation.invitee == login_key(actor.login):
                    self._accept(repo, invitation)
                    return Response(204)
            raise not_found()

    def _accept(self, repo: Repo, invitation: Invitation) -> None:
        repo.collaborators[invitation.invitee] = invitation.role
        repo.invitations.pop(invitation.id, None)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_collaborator(self, repo: str, login: str, permission: str = "write") -> None:
        """A direct collaborator without an invitation (as if already accepted)."""
        with self.lock:
            self.repo(repo).collaborators[login_key(self._existing(login).login)] = role_of(
                permission)

    def collaborators(self, repo: str) -> dict[str, str]:
        """Direct collaborators: login (with its case) -> role (read ... admin)."""
        with self.lock:
            return {self.accounts[k].login: r for k, r in self.repo(repo).collaborators.items()}

    def pending_invitations(self, repo: str) -> dict[str, str]:
        """Invitees who have not accepted yet: login -> role."""
        with self.lock:
            return {self.accounts[i.invitee].login: i.role
                    for i in self.repo(repo).invitations.values()}

    def accept_invitation(self, repo: str, login: str) -> None:
        with self.lock:
            store = self.repo(repo)
            for invitation in list(store.invitations.values()):
                if invitation.invitee == login_key(login):
                    self._accept(store, invitation)
                    return
            raise KeyError(f"{login} has no invitation to {repo}")
