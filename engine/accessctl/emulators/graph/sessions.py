"""The Graph emulator's sign-in sessions: `POST /v1.0/users/{id}/revokeSignInSessions`
(msgraph-sdk's `users.by_user_id(id).revoke_sign_in_sessions.post()`).

Graph answers 200 with `{"value": true}` (the SDK's RevokeSignInSessionsPostResponse) and resets
the user's `signInSessionsValidFromDateTime` to now: refresh tokens and session cookies issued
before it stop working. Tests seed sign-ins with `start`, and `revoked` records each call so
that a test can assert it. `refuse` makes every such call answer a Graph error (403
Authorization_RequestDenied when the app lacks User.RevokeSessions.All, 404, 429).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from accessctl.emulators.http import JSON, HttpError, Request

if TYPE_CHECKING:
    from accessctl.emulators.graph import GraphEmulator

PATH = "/v1.0/users/{user}/revokeSignInSessions"
PERMISSIONS = ("User.RevokeSessions.All",)
"""The application permission Graph's reference lists for revokeSignInSessions."""

_REFUSALS = {
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource does not exist or one of its queried "
          "reference-property objects are not present."),
    429: ("TooManyRequests", "Too many requests."),
}


@dataclass(frozen=True)
class Revoked:
    user_id: str
    at: datetime


@dataclass
class SignIns:
    """Per user object id: the sign-in sessions (refresh tokens) they hold, and since when
    Entra takes them (`signInSessionsValidFromDateTime`)."""

    active: dict[str, int] = field(default_factory=dict)
    valid_from: dict[str, datetime] = field(default_factory=dict)
    revoked: list[Revoked] = field(default_factory=list)
    refused: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, user_id: str) -> None:
        """The person signs in once more (a session cookie and a refresh token)."""
        with self.lock:
            self.active[user_id] = self.active.get(user_id, 0) + 1

    def refuse(self, status: int | None) -> None:
        if status is not None and status not in _REFUSALS:
            raise ValueError(f"no refusal modelled for status {status}")
        with self.lock:
            self.refused = status

    def signed_in(self, user_id: str) -> bool:
        with self.lock:
            return bool(self.active.get(user_id))


def route_key(method: str, path: str) -> str | None:
    """The emulator's permission key for the route (wire.ROUTE_PERMISSIONS)."""
    if path.startswith("/v1.0/users/") and path.endswith("/revokeSignInSessions"):
        return f"{method} revoke-sessions"
    return None


def register(emulator: GraphEmulator) -> None:
    def revoke(request: Request) -> JSON:
        return _revoke(emulator, request)

    emulator.route("POST", PATH, revoke)


def _revoke(emulator: GraphEmulator, request: Request) -> JSON:
    from accessctl.emulators.graph import graph_error

    signins = emulator.sign_ins
    with signins.lock:
        refused = signins.refused
    if refused is not None:
        code, message = _REFUSALS[refused]
        raise HttpError(refused, graph_error(code, message))
    with emulator.lock:
        user = emulator._user(request.params["user"])
        now = emulator.now()
    with signins.lock:
        signins.active.pop(user.id, None)
        signins.valid_from[user.id] = now
        signins.revoked.append(Revoked(user.id, now))
    return {"@odata.context": f"{emulator.root}/$metadata#Edm.Boolean", "value": True}
