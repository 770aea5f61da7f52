"""The Okta emulator's user sessions: `DELETE /api/v1/users/{userId}/sessions`
(revokeUserSessions in Okta's description, tests/contracts/okta-management-subset.json).

Tests seed sessions and OAuth tokens with `start`, the engine ends them through the okta SDK,
and `ended` records each call (user, whether OAuth tokens were revoked, whether remembered
devices were forgotten) so that a test can assert it. `refuse` makes every such call answer a
status Okta's description lists for it (403, 404, 429), as when the engine's admin role or
token may not clear sessions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from accessctl.emulators.http import JSON, HttpError, Request, Response

if TYPE_CHECKING:
    from accessctl.emulators.okta import OktaEmulator

PATH = "/api/v1/users/{userId}/sessions"
SCOPE = "okta.users.manage"
"""The scope the description's `security` names for the call."""

_REFUSALS = {
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
}


@dataclass(frozen=True)
class Ended:
    user_id: str
    oauth_tokens: bool
    forget_devices: bool


@dataclass
class Sessions:
    """Per user id: how many Okta sessions and OAuth tokens they hold now; every revocation."""

    active: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    ended: list[Ended] = field(default_factory=list)
    refused: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, user_id: str, *, tokens: int = 1) -> None:
        """The person signs in (one more session) and an app gets OAuth tokens for them."""
        with self.lock:
            self.active[user_id] = self.active.get(user_id, 0) + 1
            self.tokens[user_id] = self.tokens.get(user_id, 0) + tokens

    def refuse(self, status: int | None) -> None:
        if status is not None and status not in _REFUSALS:
            raise ValueError(f"Okta's description lists no {status} for revokeUserSessions")
        with self.lock:
            self.refused = status

    def signed_in(self, user_id: str) -> bool:
        with self.lock:
            return bool(self.active.get(user_id) or self.tokens.get(user_id))


def register(emulator: OktaEmulator) -> None:
    def revoke(request: Request) -> Response:
        return _revoke(emulator, request)

    emulator.route("DELETE", PATH, revoke)


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.arg(name)
    if value is None:
        return default
    if value not in ("true", "false"):
        from accessctl.emulators.okta import okta_error

        raise HttpError(400, okta_error("E0000001", f"Api validation failed: {name}",
                                        [f"{name}: not a boolean"]))
    return value == "true"


def _revoke(emulator: OktaEmulator, request: Request) -> Response:
    from accessctl.emulators.okta import okta_error

    sessions = emulator.sessions
    with sessions.lock:
        refused = sessions.refused
    if refused is not None:
        code, summary = _REFUSALS[refused]
        body: JSON = okta_error(code, summary)
        raise HttpError(refused, body)
    oauth_tokens = _flag(request, "oauthTokens", False)
    # Identity Engine's default: remembered factors are forgotten unless told otherwise.
    forget_devices = _flag(request, "forgetDevices", True)
    with emulator.lock:
        user = emulator._user(request.params["userId"], by_login=False)
    with sessions.lock:
        sessions.active.pop(user.id, None)
        if oauth_tokens:
            sessions.tokens.pop(user.id, None)
        sessions.ended.append(Ended(user.id, oauth_tokens, forget_devices))
    return Response(204)
