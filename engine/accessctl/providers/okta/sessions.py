"""Okta: end a person's sessions when their access ends (`end_sessions: true`).

One call through the okta SDK, `revoke_user_sessions` (`DELETE /api/v1/users/{userId}/sessions`,
operation revokeUserSessions): every Okta session of the user ends and, with `oauthTokens=true`,
the OpenID Connect and OAuth refresh and access tokens Okta issued to them are revoked. Okta's
description says it "doesn't clear the sessions created for web or native apps": an app's own
session is the app's. `forgetDevices=false`: the person signs in again with whatever MFA their
policy asks on a device it knows; ending access does not make them enrol their devices again.
The call needs the `okta.users.manage` scope (the contract's security for it).
"""

from __future__ import annotations

from accessctl.core.model import Change
from accessctl.providers.base import NotFound
from accessctl.providers.okta.provider import _ID_LIKE, OktaProvider


def end_sessions(provider: OktaProvider, change: Change) -> str:
    """End the Okta sessions and OAuth tokens of the person `change` revoked; what was done.
    The user is the one the revoke removed: by the id the engine observed, else by login."""
    user_id = change.principal_id
    if user_id is None:
        user_id = provider._user_id(change.principal)
    elif not _ID_LIKE.match(user_id):
        raise NotFound(f"Okta user id {user_id!r} is not an Okta id")
    chosen = user_id
    provider._run(lambda c: c.revoke_user_sessions(chosen, oauth_tokens=True,
                                                   forget_devices=False),
                  f"sessions of Okta user {change.principal}")
    return f"ended the Okta sessions and revoked the OAuth tokens of {change.principal}"
