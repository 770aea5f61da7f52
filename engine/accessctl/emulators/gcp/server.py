"""The GCP emulator's server: its state and clock, Google's error body, the response log, and
the user accounts both services know. The routes live in `iam.py` and `identity.py`;
`emulator.py` combines them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

from accessctl.emulators.gcp.state import Group, LoggedResponse, Policy
from accessctl.emulators.gcp.wire import google_error
from accessctl.emulators.http import JSON, Emulator, Request, Response


class GcpServer(Emulator):
    name = "gcp"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.policies: dict[str, Policy] = {}
        self.users: set[str] = set()
        self.groups: dict[str, Group] = {}
        """Keyed by group id (the part after "groups/")."""
        self.responses: list[LoggedResponse] = []
        """Every answer the routes gave, so tests can check bodies against the discovery docs."""
        self.max_page_size: int | None = None
        """Lower the membership page cap (tests use it to force paging)."""
        self.pending_etag_conflicts = 0
        self.membership_expiry = True
        """False plays an account without Cloud Identity Premium or Workspace Enterprise."""
        self._serial = itertools.count(1)

    # -- wire format -------------------------------------------------------------------------------
    def error_body(self, status: int, message: str) -> JSON:
        return google_error(status, message)

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        with self.lock:
            self.responses.append(
                LoggedResponse(request.method, request.path, response.status, response.body)
            )
        return response

    # -- seeding helpers (tests and the demo) ------------------------------------------------------
    def add_user(self, email: str) -> str:
        with self.lock:
            self.users.add(email.lower())
        return email
