"""`GitLabEmulator`: the mixins combined, and the one table of the routes it serves."""

from __future__ import annotations

from accessctl.emulators.gitlab.approvals import Approvals
from accessctl.emulators.gitlab.notes import Notes


class GitLabEmulator(Approvals, Notes):
    """GitLab's REST API under `/api/v4`; see the package docstring for what it models. Each
    mixin serves its own routes (`_..._routes`); a new group of routes is a new mixin, or a new
    entry in its mixin's list, and one line in `_register_routes`."""

    def __init__(self, token: str = "glpat-emulator-token") -> None:
        super().__init__()
        root = self.add_user("root", "Administrator", is_admin=True)
        self.tokens[token] = root
        self.token = token
        self._register_routes()

    def _register_routes(self) -> None:
        for routes in (self._user_routes(), self._member_routes(), self._approval_routes(),
                       self._repository_routes(), self._merge_request_routes(),
                       self._note_routes()):
            self._register(routes)
