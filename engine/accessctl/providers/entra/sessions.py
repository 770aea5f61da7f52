"""Entra ID: end a person's sessions when their access ends (`end_sessions: true`).

One call through msgraph-sdk, `users.by_user_id(id).revoke_sign_in_sessions.post()` (`POST
/users/{id}/revokeSignInSessions`). Graph's reference: it "invalidates all the refresh tokens
issued to applications for a user (and session cookies in a user's browser), by resetting the
signInSessionsValidFromDateTime user property to the current date-time"; "there might be a
small delay of a few minutes before tokens are revoked"; it does not revoke the sessions of
external users (they sign in through their home tenant). Access tokens already issued are not
revoked: they stay valid until they expire (60-90 minutes by default), except at resources that
apply Continuous Access Evaluation, where an administrator's revocation is a critical event.
Application permission: User.RevokeSessions.All.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accessctl.core.model import Change
from accessctl.providers.base import ProviderError

if TYPE_CHECKING:
    from accessctl.providers.entra import EntraProvider


async def _revoke(provider: EntraProvider, change: Change) -> str:
    user_id = await provider._revoke_id(change)
    builder = provider.client.users.by_user_id(user_id).revoke_sign_in_sessions
    answer = await provider._call(builder.post(), f"sign-in sessions of {change.principal}")
    if getattr(answer, "value", None) is not True:
        raise ProviderError(f"Graph did not confirm the revocation of the sign-in sessions of "
                            f"{change.principal} (value {getattr(answer, 'value', None)!r})")
    return (f"revoked the Entra sign-in sessions and refresh tokens of {change.principal} "
            "(access tokens already issued stay valid until they expire)")


def end_sessions(provider: EntraProvider, change: Change) -> str:
    """Revoke the sign-in sessions and refresh tokens of the person `change` revoked (the
    object id the engine observed, else the user the principal names); what was done."""
    return provider._run(_revoke(provider, change))
