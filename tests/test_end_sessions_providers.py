"""Ending a person's sessions, provider by provider, through the SDKs over HTTP to the emulators:
which user it reaches, and what the credentials need (Okta's scope, Graph's permission)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Target
from accessctl.emulators.graph import GraphEmulator
from accessctl.emulators.okta import OktaEmulator, generate_key_pair
from accessctl.providers import entra, okta
from accessctl.providers.base import NotFound, ProviderError

TOKEN = "sessions-okta-token"


@pytest.fixture
def okta_org(monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaEmulator]:
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with OktaEmulator(token=TOKEN) as server:
        assert isinstance(server, OktaEmulator)
        yield server


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(token="graph-token") as server:
        assert isinstance(server, GraphEmulator)
        yield server


def revoke(instance: str, platform: str, group: str, principal: str,
           principal_id: str | None = None) -> Change:
    target = Target.build(instance, platform, "group", {"group": group})
    return Change(Action.REVOKE, target, principal, "jit", "expired", principal_id=principal_id)


def okta_provider(org: OktaEmulator, **settings: Any) -> okta.OktaProvider:
    instance = ProviderInstance("okta-main", "okta", {"org_url": org.base_url, **settings})
    return okta.create(instance, {"OKTA_API_TOKEN": TOKEN})


def test_okta_ends_the_sessions_of_the_user_the_revoke_removed(okta_org: OktaEmulator) -> None:
    renamed = okta_org.add_user("ann@acme.example")
    okta_org.add_user("other@acme.example")
    okta_org.sessions.start(renamed, tokens=2)
    okta_org.rename_user("ann@acme.example", "ann.b@acme.example")
    provider = okta_provider(okta_org)
    try:
        # By the id the engine observed, whatever the login is now.
        detail = provider.end_sessions(revoke("okta-main", "okta", "g", "ann@acme.example",
                                              principal_id=renamed))
        assert "ended the Okta sessions" in detail
        assert not okta_org.sessions.signed_in(renamed)
        [ended] = okta_org.sessions.ended
        assert (ended.user_id, ended.oauth_tokens, ended.forget_devices) == (renamed, True, False)
        # By login when no id was observed; a login Okta does not know is NotFound.
        with pytest.raises(NotFound):
            provider.end_sessions(revoke("okta-main", "okta", "g", "ann@acme.example"))
        with pytest.raises(NotFound):
            provider.end_sessions(revoke("okta-main", "okta", "g", "x", principal_id="../x"))
    finally:
        provider.close()
    assert [e.path for e in okta_org.log if e.method == "DELETE"] == [
        f"/api/v1/users/{renamed}/sessions"]


def test_okta_needs_the_users_manage_scope(okta_org: OktaEmulator) -> None:
    pem, public = generate_key_pair("jit-1")
    user = okta_org.add_user("bo@acme.example")
    okta_org.sessions.start(user)
    for scopes, ends in ((["okta.groups.manage", "okta.users.read"], False),
                         (["okta.groups.manage", "okta.users.manage"], True)):
        client_id = okta_org.register_client(public, scopes)
        instance = ProviderInstance("okta-main", "okta", {
            "org_url": okta_org.base_url, "auth": "private_key", "client_id": client_id,
            "scopes": scopes})
        provider = okta.create(instance, {"OKTA_PRIVATE_KEY": pem})
        change = revoke("okta-main", "okta", "g", "bo@acme.example", principal_id=user)
        try:
            if ends:
                provider.end_sessions(change)
            else:
                with pytest.raises(ProviderError) as raised:
                    provider.end_sessions(change)
                assert "okta.users.manage" in str(raised.value) and "403" in str(raised.value)
        finally:
            provider.close()
        assert okta_org.sessions.signed_in(user) is not ends


def entra_provider(graph: GraphEmulator, token: str) -> entra.EntraProvider:
    instance = ProviderInstance("entra-main", "entra", {
        "graph_url": f"{graph.base_url}/v1.0", "auth": "static_token"})
    return entra.create(instance, {"GRAPH_TOKEN": token})


def test_entra_revokes_the_sign_in_sessions_of_the_user_the_revoke_removed(
        graph: GraphEmulator) -> None:
    user = graph.add_user("cy@corp.example")
    graph.sign_ins.start(user)
    graph.rename_user("cy@corp.example", "cy.d@corp.example")
    provider = entra_provider(graph, "graph-token")
    try:
        detail = provider.end_sessions(revoke("entra-main", "entra", "g", "cy@corp.example",
                                              principal_id=user))
    finally:
        provider.close()
    assert "access tokens already issued stay valid until they expire" in detail
    assert not graph.sign_ins.signed_in(user)
    assert [r.user_id for r in graph.sign_ins.revoked] == [user]
    assert [e.path for e in graph.log if e.method == "POST"] == [
        f"/v1.0/users/{user}/revokeSignInSessions"]


@pytest.mark.parametrize("granted", [set(), {"User.RevokeSessions.All"}])
def test_entra_needs_user_revoke_sessions_all(graph: GraphEmulator, granted: set[str]) -> None:
    user = graph.add_user("di@corp.example")
    graph.sign_ins.start(user)
    graph.token_permissions["scoped"] = frozenset({"User.Read.All", *granted})
    provider = entra_provider(graph, "scoped")
    change = revoke("entra-main", "entra", "g", "di@corp.example", principal_id=user)
    try:
        if granted:
            provider.end_sessions(change)
        else:
            with pytest.raises(ProviderError, match="Authorization_RequestDenied"):
                provider.end_sessions(change)
    finally:
        provider.close()
    assert graph.sign_ins.signed_in(user) is not granted
    assert set(entra.REQUIRED_PERMISSIONS["end_sessions"]) == {"User.RevokeSessions.All"}


def _send(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_session_routes_are_checked_against_the_vendors_contracts(
        okta_org: OktaEmulator, graph: GraphEmulator) -> None:
    """What the engine sends passes (the tests above); what neither SDK sends is a violation:
    a query parameter Okta's description does not name, a body Graph's action takes none of."""
    from accessctl.emulators import http

    user = okta_org.add_user("ed@acme.example")
    path = f"{okta_org.base_url}/api/v1/users/{user}/sessions"
    assert _send(f"{path}?oauthTokens=true&everything=true", "DELETE",
                 {"Authorization": f"SSWS {TOKEN}"}) == 204
    entra_user = graph.add_user("ed@corp.example")
    assert _send(f"{graph.base_url}/v1.0/users/{entra_user}/revokeSignInSessions", "POST",
                 {"Authorization": "Bearer graph-token", "Content-Type": "application/json"},
                 b'{"everywhere": true}') == 200
    found = http.take_violations()
    assert any("everything" in v and "/sessions" in v for v in found), found
    assert any("revokeSignInSessions" in v and "request body" in v for v in found), found
