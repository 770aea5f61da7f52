"""Users, the token describing itself, and the instance's version."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from accessctl.emulators.gitlab.server import GitLabServer, Routes
from accessctl.emulators.gitlab.state import User
from accessctl.emulators.gitlab.wire import not_found, stamp
from accessctl.emulators.http import JSON, Request, Response


class Users(GitLabServer):
    def _user_routes(self) -> Routes:
        return [
            ("GET", "/version", self._version),
            ("GET", "/user", self._current_user),
            ("GET", "/personal_access_tokens/self", self._token_self),
            ("GET", "/users", self._list_users),
            ("GET", "/users/{user_id}", self._get_user),
        ]

    def _user_full(self, user_id: int) -> JSON:
        user = self.users[user_id]
        body = self._user_basic(user_id)
        body.update({
            "created_at": stamp(user.created_at),
            "bio": "",
            "public_email": user.email or None,
            "bot": user.bot,
            "is_admin": user.is_admin,
        })
        return body

    # -- handlers ----------------------------------------------------------------------------------
    def _version(self, request: Request, actor: User) -> JSON:
        return {"version": "17.11.0-ee", "revision": "emulator", "enterprise": True}

    def _current_user(self, request: Request, actor: User) -> JSON:
        return self._user_full(actor.id)

    def _token_self(self, request: Request, actor: User) -> JSON:
        """`GET /personal_access_tokens/self`: the token describing itself (GitLab 15.5+)."""
        token = request.headers.get("private-token") or \
            request.headers.get("authorization", "")[7:].strip()
        return {"id": int(hashlib.sha1(token.encode()).hexdigest()[:6], 16), "name": "accessctl",
                "revoked": False,
                "created_at": stamp(actor.created_at), "description": None,
                "scopes": list(self.token_scopes.get(token, ["api"])), "user_id": actor.id,
                "last_used_at": stamp(self.clock()), "active": True, "expires_at": None}

    def _list_users(self, request: Request, actor: User) -> Response:
        username = request.arg("username")
        search = (request.arg("search") or "").casefold()
        found = [
            self._user_full(u.id) for u in sorted(self.users.values(), key=lambda u: u.id)
            if (username is None or u.username.casefold() == username.casefold())
            and (not search or search in u.username.casefold() or search in u.name.casefold())
        ]
        return self._paginate(request, found)

    def _get_user(self, request: Request, actor: User) -> JSON:
        if not request.params["user_id"].isdigit():
            raise not_found("User")
        return self._user_full(self._find_user(int(request.params["user_id"])).id)

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_user(self, username: str, name: str | None = None, *, bot: bool = False,
                 state: str = "active", is_admin: bool = False, token: str | None = None) -> int:
        with self.lock:
            user_id = next(self._ids)
            self.users[user_id] = User(user_id, username, name or username.title(), state, bot,
                                       f"{username}@example.com", is_admin, self.clock())
            if token:
                self.tokens[token] = user_id
            return user_id

    def rename_user(self, username: str, new_username: str) -> None:
        """The user changes their username (Edit profile > Account): the user keeps its numeric
        id, so memberships, merge requests and approvals follow it, and the old username is
        free for anyone to take."""
        with self.lock:
            user = self._find_user(username)
            taken = next((u for u in self.users.values()
                          if u.username.casefold() == new_username.casefold()), None)
            if taken is not None and taken is not user:
                raise ValueError(f"username {new_username!r} is taken")
            user.username = new_username

    def add_token(self, token: str, username: str, scopes: Iterable[str] = ("api",)) -> None:
        """Let `token` act as `username` (for calls made as a reviewer, say), with `scopes`."""
        with self.lock:
            self.tokens[token] = self._find_user(username).id
            self.token_scopes[token] = list(scopes)

    def user_id(self, username: str) -> int:
        with self.lock:
            return self._find_user(username).id
