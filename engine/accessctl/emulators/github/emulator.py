"""`GitHubEmulator`: the mixins combined, and the one table of the routes it serves."""

from __future__ import annotations

from accessctl.emulators.github.checks import Checks
from accessctl.emulators.github.collaborators import Collaborators
from accessctl.emulators.github.graphql import GraphQL
from accessctl.emulators.github.issues import Issues
from accessctl.emulators.github.reviews import Reviews
from accessctl.emulators.github.wire import DEFAULT_LOGIN, DEFAULT_TOKEN


class GitHubEmulator(Reviews, Issues, Checks, Collaborators, GraphQL):
    """GitHub's REST API under `/api/v3` and its GraphQL endpoint; see the package docstring
    for what it models. Each mixin serves its own routes (`_..._routes`); a new group of routes
    is a new mixin, or a new entry in its mixin's list, and one line in `_register_routes`."""

    def __init__(self, token: str = DEFAULT_TOKEN, login: str = DEFAULT_LOGIN) -> None:
        super().__init__()
        self._register_routes()
        self.add_user(login)
        self.add_token(token, login)
        self.token = token

    def _register_routes(self) -> None:
        for routes in (self._account_routes(), self._rate_limit_routes(), self._team_routes(),
                       self._repo_routes(), self._pull_routes(), self._review_routes(),
                       self._git_routes(), self._issue_routes(), self._check_routes(),
                       self._collaborator_routes()):
            self._register(routes)
        self._register(self._graphql_routes(), prefix="/api")
