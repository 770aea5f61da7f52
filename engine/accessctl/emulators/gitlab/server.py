"""The GitLab emulator's server: its state, and the wire every route shares (the token and its
scopes, the API throttle, error bodies, injected faults, pagination), with the look-ups of
users, groups and projects. The routes live in the mixins that build on it (users.py,
members.py, repository.py, ...); `emulator.py` combines them."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlencode

from accessctl.emulators.gitlab.state import Group, Project, User
from accessctl.emulators.gitlab.wire import (
    API,
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    int_arg,
    not_found,
    throttle_headers,
)
from accessctl.emulators.http import JSON, Emulator, HttpError, Request, Response

Handler = Callable[[Request, User], Response | JSON]
"""A route's handler: the request and the user its token belongs to."""
Routes = list[tuple[str, str, Handler]]
"""(method, template, handler): a mixin's routes, templates relative to `/api/v4`."""


class GitLabServer(Emulator):
    name = "gitlab"

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._sha_seq = itertools.count(1)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.tokens: dict[str, int] = {}
        self.token_scopes: dict[str, list[str]] = {}
        """Scopes of tokens given them (`add_token(..., scopes=[...])`); a token not listed has
        `api`. A `read_api` token may only GET, as on GitLab (403 `insufficient_scope`)."""
        self.tier = "premium"
        """`"free"` plays GitLab Free (see the package docstring); anything else, Premium."""
        self.approval_times = True
        """Whether approvals say when they were given (`approved_by[].approved_at`, in recent
        GitLab); False plays an older GitLab."""
        self.budget: int | None = None
        """Authenticated API requests allowed per `budget_period` (None: no throttle)."""
        self.budget_period = 60.0
        self.budget_used = 0
        self._budget_start = 0.0
        self.throttled = 0
        """Requests answered 429 because the budget was spent."""

    def _register(self, routes: Routes) -> None:
        for method, template, handler in routes:
            self._api(method, template, handler)

    def _api(self, method: str, template: str,
             handler: Callable[[Request, User], Response | JSON]) -> None:
        def authenticated(request: Request) -> Response | JSON:
            actor = self._authenticate(request)
            with self.lock:
                return handler(request, actor)

        self.route(method, API + template, authenticated)

    def _authenticate(self, request: Request) -> User:
        token = request.headers.get("private-token")
        bearer = request.headers.get("authorization", "")
        if token is None and bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
        with self.lock:
            user_id = self.tokens.get(token or "")
            if user_id is None or self.users[user_id].state != "active":
                raise HttpError(401, {"message": "401 Unauthorized"})
            scopes = self.token_scopes.get(token or "", ["api"])
            if request.method != "GET" and "api" not in scopes:
                raise HttpError(403, {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided "
                                         "by the access token.",
                    "scope": "api"})
            return self.users[user_id]

    # -- the API budget (Rack::Attack's authenticated API throttle) --------------------------------
    def set_budget(self, limit: int | None, period: float = 60.0, used: int = 0) -> None:
        """Allow `limit` API requests per `period` seconds from now on, `used` of them already
        spent by someone else (None: unthrottled). Every answer then carries GitLab's
        RateLimit-* headers; past the limit, 429 with Retry-After until the period ends, as
        GitLab's throttle answers."""
        with self.lock:
            self.budget, self.budget_period = limit, period
            self.budget_used, self.throttled = used, 0
            self._budget_start = time.time()

    def dispatch(self, request: Request) -> Response:
        if self.budget is None or not request.path.startswith(API):
            return super().dispatch(request)
        with self.lock:
            now = time.time()
            if now - self._budget_start >= self.budget_period:
                self._budget_start, self.budget_used = now, 0
            self.budget_used += 1
            used, limit = self.budget_used, self.budget
            reset = self._budget_start + self.budget_period
        headers = throttle_headers(limit, used, reset)
        if used > limit:
            with self.lock:
                self.throttled += 1
            return Response(429, None, {
                "Content-Type": "text/plain",
                "Retry-After": str(max(1, math.ceil(reset - now))), **headers,
            }, raw=b"Retry later\n")
        response = super().dispatch(request)
        response.headers = {**headers, **response.headers}
        return response

    # -- wire format -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str) -> JSON:
        # Unknown API routes answer {"error": "404 Not Found"} on GitLab.
        return {"error": f"{status} {message}"}

    def fault_response(self, kind: str) -> Response:
        if kind == "429":
            # GitLab's throttle (Rack::Attack) answers plain text with these headers.
            wait = self.faults.retry_after
            reset = datetime.now(UTC) + timedelta(seconds=wait)
            return Response(429, None, {
                "Content-Type": "text/plain",
                "Retry-After": str(wait),
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": "2000",
                "RateLimit-Observed": "2001",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(int(reset.timestamp())),
                "RateLimit-ResetTime": format_datetime(reset, usegmt=True),
            }, raw=b"Retry later\n")
        status = int(kind)
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return Response(status, {"message": f"{status} {reason.get(status, 'Error')}"})

    def _paginate(self, request: Request, items: list[JSON]) -> Response:
        page = int_arg(request, "page", 1)
        per_page = int_arg(request, "per_page", DEFAULT_PER_PAGE)
        page = max(page, 1)
        per_page = min(max(per_page, 1), MAX_PER_PAGE)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page: page * per_page]

        def link(number: int) -> str:
            query = {k: v[0] for k, v in request.query.items()}
            query.update(page=str(number), per_page=str(per_page))
            return f"{self.base_url}{request.path}?{urlencode(query)}"

        links = []
        if page > 1:
            links.append(f'<{link(page - 1)}>; rel="prev"')
        if page < pages:
            links.append(f'<{link(page + 1)}>; rel="next"')
        links.append(f'<{link(1)}>; rel="first"')
        links.append(f'<{link(pages)}>; rel="last"')
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "X-Total": str(total),
            "X-Total-Pages": str(pages),
            "Link": ", ".join(links),
        }
        return Response(200, chunk, headers)

    def _user_basic(self, user_id: int) -> JSON:
        user = self.users[user_id]
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": None,
            "web_url": f"{self.base_url}/{user.username}",
        }

    # -- look-ups ----------------------------------------------------------------------------------
    def _find_group(self, ref: str) -> Group:
        for group in self.groups.values():
            if str(group.id) == ref or group.full_path.casefold() == ref.casefold():
                return group
        raise not_found("Group")

    def _find_project(self, ref: str) -> Project:
        for project in self.projects.values():
            if str(project.id) == ref or project.path_with_namespace.casefold() == ref.casefold():
                return project
        raise not_found("Project")

    def _find_user(self, ref: str | int) -> User:
        for user in self.users.values():
            if str(user.id) == str(ref) or user.username.casefold() == str(ref).casefold():
                return user
        raise not_found("User")
