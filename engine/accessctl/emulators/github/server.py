"""The GitHub emulator's server: its state, and the wire every route shares (authentication,
App permissions, error bodies, injected faults, the response log, URLs and `Link` pagination).
The routes live in the mixins that build on it (accounts.py, teams.py, git.py, repos.py, ...);
`emulator.py` combines them."""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from accessctl.emulators.git_store import GitObjects
from accessctl.emulators.github.rate_limits import RateLimits
from accessctl.emulators.github.state import Account, LoggedResponse, Org, Repo, Team
from accessctl.emulators.github.wire import (
    API,
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    Routes,
    error_body,
    int_arg,
    login_key,
    required_permission,
)
from accessctl.emulators.http import JSON, Request, Response


class GitHubServer(RateLimits):
    name = "github"

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.orgs: dict[str, Org] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens: dict[str, str] = {}
        self.token_permissions: dict[str, dict[str, str]] = {}
        """Tokens that carry GitHub App / fine-grained permissions ({"contents": "read", ...});
        a call needing a permission the token lacks answers 403 "Resource not accessible by
        integration" with `X-Accepted-GitHub-Permissions`, as GitHub does. Tokens not listed
        here may do anything (a classic token of an owner)."""
        self.responses: list[LoggedResponse] = []
        self.accept_invitations = False
        """When True, repository invitations are accepted as soon as they are sent."""
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC).replace(microsecond=0)
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.objects: GitObjects = {}
        """Every commit, tree and blob, by its git object ID."""
        self._templates: list[tuple[str, str]] = []

    def _register(self, routes: Routes, prefix: str = API) -> None:
        """Serve `routes` (templates relative to `prefix`), and know their templates for the
        response log and the permission check."""
        for method, template, handler in routes:
            self.route(method, prefix + template, handler)
            self._templates.append((method, template if prefix == API else prefix + template))

    # -- the wire: auth, error bodies, the response log -------------------------------------------
    def error_body(self, status: int, message: str) -> JSON:
        return error_body(status, message)

    def fault_response(self, kind: str) -> Response:
        if kind == "403-secondary":
            # docs.github.com "Rate limits for the REST API": a secondary limit may answer 403
            # with retry-after.
            response = Response(403, self.error_body(
                403, "You have exceeded a secondary rate limit. Please wait a few minutes "
                     "before you try again."), {"Retry-After": str(self.faults.retry_after)})
            self._log("?", "?", None, response)
            return response
        if kind == "403-primary":
            # The primary limit spent: 403, x-ratelimit-remaining 0, and when it resets.
            response = Response(403, self.error_body(
                403, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support "
                     "for help, please include the request ID."))
            response.headers.update(self._rate_headers(remaining=0))
            response.headers["x-ratelimit-reset"] = str(int(time.time())
                                                        + self.faults.retry_after)
            self._log("?", "?", None, response)
            return response
        if kind == "429":
            # GitHub's secondary rate limit: 429 (or 403) with Retry-After.
            response = Response(429, self.error_body(
                429, "You have exceeded a secondary rate limit. Please wait a few minutes "
                     "before you try again."), {"Retry-After": str(self.faults.retry_after)})
            response.headers.update(self._rate_headers(remaining=0))
        else:
            status = int(kind)
            message = "Server Error" if status == 500 else "Service Unavailable"
            response = Response(status, self.error_body(status, message))
        self._log("?", "?", None, response)
        return response

    def dispatch(self, request: Request) -> Response:
        path = request.path[len(API):] if request.path.startswith(API) else request.path
        route = self._template_for(request.method, path)
        actor = self._authenticate(request.headers.get("authorization", ""))
        if actor is None:
            message = ("Requires authentication" if not request.headers.get("authorization")
                       else "Bad credentials")
            response = Response(401, self.error_body(401, message))
        elif (limited := self._limited(path)) is not None:
            response = limited
        elif (refused := self._lacks_permission(request, route)) is not None:
            response = refused
        else:
            response = super().dispatch(request)
        response.headers = {**self._rate_headers(graphql=path == "/graphql"), **response.headers}
        self._log(request.method, path, route, response)
        return response

    def _template_for(self, method: str, path: str) -> str | None:
        for known_method, template in self._templates:
            if known_method != method:
                continue
            pattern = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", template)
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
            if re.fullmatch(pattern, path):
                return template
        return None

    def _lacks_permission(self, request: Request, route: str | None) -> Response | None:
        """The 403 GitHub gives a token without the permission a call needs, or None."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self.token_permissions.get(token.strip())
        needed = required_permission(request.method, route) if route else None
        if granted is None or needed is None:
            return None
        name, level = needed
        for which in self._permission_alternatives(request, route or "", name):
            if level == "read" and granted.get(which) in ("read", "write"):
                return None
            if level == "write" and granted.get(which) == "write":
                return None
        return Response(403, self.error_body(403, "Resource not accessible by integration"),
                        {"X-Accepted-GitHub-Permissions": f"{name}={level}"})

    def _permission_alternatives(self, request: Request, route: str, name: str
                                 ) -> tuple[str, ...]:
        """The permissions that each let a call needing `name` through (the issues mixin adds
        Pull requests for a pull request seen as an issue)."""
        return (name,)

    def _authenticate(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("token", "bearer"):
            return None
        return self.tokens.get(token.strip())

    def _actor(self, request: Request) -> Account:
        login = self._authenticate(request.headers.get("authorization", ""))
        assert login is not None  # dispatch refused the request otherwise
        return self.accounts[login_key(login)]

    def _log(self, method: str, path: str, route: str | None, response: Response) -> None:
        with self.lock:
            self.responses.append(LoggedResponse(method, path, route, response.status,
                                                 response.body, dict(response.headers)))

    # -- URLs and pagination -----------------------------------------------------------------------
    @property
    def api(self) -> str:
        return self.base_url + API

    @property
    def web(self) -> str:
        """Where html_url links point: the emulator's own root."""
        return self.base_url

    def _paginate(self, request: Request, items: list[JSON]) -> Response:
        per_page = min(max(int_arg(request, "per_page", DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(int_arg(request, "page", 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        query = {k: v[0] for k, v in request.query.items() if k not in ("page", "per_page")}

        def link(number: int) -> str:
            params = {**query, "per_page": str(per_page), "page": str(number)}
            return f"{self.base_url}{request.path}?{urlencode(params)}"

        links = []
        if page < last:
            links += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
        if page > 1:
            links += [f'<{link(1)}>; rel="first"', f'<{link(min(page - 1, last))}>; rel="prev"']
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(200, chunk, headers)
