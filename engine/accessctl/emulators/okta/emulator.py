"""`OktaEmulator`: authentication and the directory combined, and the routes it serves."""

from __future__ import annotations

from accessctl.emulators.okta.directory import Directory
from accessctl.emulators.okta.sessions import register as register_sessions
from accessctl.emulators.okta.wire import DEFAULT_TOKEN


class OktaEmulator(Directory):
    """Okta's Management API under `/api/v1` and its org authorization server's token endpoint;
    see the package docstring for what it models."""

    def __init__(self, token: str = DEFAULT_TOKEN) -> None:
        super().__init__(token)
        for method, template, handler in self._auth_routes() + self._directory_routes():
            self.route(method, template, handler)
        register_sessions(self)
