"""`GraphEmulator`: the directory and the schedules combined, and the routes it serves."""

from __future__ import annotations

from accessctl.emulators.graph.directory import Directory
from accessctl.emulators.graph.schedules import Schedules
from accessctl.emulators.graph.sessions import register as register_sessions
from accessctl.emulators.graph.wire import DEFAULT_PAGE, Clock


class GraphEmulator(Directory, Schedules):
    """Microsoft Graph v1.0, the part an access engine uses. Seed with `add_user`, `add_group`,
    `add_member`, `add_role`; move time with `set_clock`. Set `token` to require that bearer."""

    def __init__(self, clock: Clock | None = None, token: str | None = None,
                 page_size: int = DEFAULT_PAGE) -> None:
        super().__init__(clock, token, page_size)
        for method, template, handler in self._directory_routes() + self._schedule_routes():
            self.route(method, template, handler)
        register_sessions(self)
