"""The Active Directory provider beyond the conformance suite: TLS and credentials, filter
injection, principal names, group DNs, least-privilege delegation, TTL membership and ranged
retrieval past AD's 1500 values, against a real Samba AD DC (tests/samba.py) through ldap3."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from accessctl.core.model import Action, Change, ProviderInstance, Status, Target
from accessctl.providers import ad
from accessctl.providers.base import NotFound, ProviderError
from jsonschema import Draft202012Validator

from tests import samba

ENV = "AD_TEST_PASSWORD"
_ids = itertools.count()


@pytest.fixture(scope="module")
def dc() -> samba.DomainController:
    return samba.domain_controller()


@pytest.fixture(scope="module")
def directory(dc: samba.DomainController) -> Iterator[samba.Directory]:
    made = samba.Directory(dc)
    yield made
    made.close()


@pytest.fixture(scope="module")
def ou(directory: samba.Directory) -> str:
    return directory.add_ou(f"provider-{secrets.token_hex(3)}")


def settings(dc: samba.DomainController, **extra: Any) -> dict[str, Any]:
    return {"url": dc.ldaps_url, "base_dn": dc.base_dn, "bind_dn": dc.admin_upn,
            "password_env": ENV, "tls_validate": False, **extra}


def make(dc: samba.DomainController, password: str | None = None, **extra: Any
         ) -> ad.ActiveDirectoryProvider:
    instance = ProviderInstance("ad-main", "ad", settings(dc, **extra))
    return ad.create(instance, {ENV: dc.admin_password if password is None else password})


def target(group: str) -> Target:
    return Target.build("ad-main", "ad", "group", {"group": group})


def change(action: Action, group: str, principal: str, hours: float = 2) -> Change:
    return Change(action, target(group), principal, "ad-sql-admins", "test", "alice",
                  datetime.now(UTC) + timedelta(hours=hours))


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_ids)}-{secrets.token_hex(2)}"


# -- pure parts: no DC needed ----------------------------------------------------------------------
def test_schemas_are_valid_json_schema_with_descriptions() -> None:
    Draft202012Validator.check_schema(dict(ad.SETTINGS_SCHEMA))
    for schema in ad.TARGET_SCHEMAS.values():
        Draft202012Validator.check_schema(dict(schema))
    properties = {**ad.SETTINGS_SCHEMA["properties"], **ad.TARGET_SCHEMAS["group"]["properties"]}
    assert all(p.get("description") and p.get("examples") for p in properties.values())
    checker = Draft202012Validator(dict(ad.SETTINGS_SCHEMA))
    good = {"url": "ldaps://dc1.corp.example.com:636", "base_dn": "DC=corp,DC=example,DC=com",
            "bind_dn": "svc-accessctl@corp.example.com"}
    assert checker.is_valid(good)
    assert not checker.is_valid({**good, "password": "secret"})
    assert not checker.is_valid({**good, "url": "https://dc1"})
    assert not checker.is_valid({**good, "url": "ldap://dc1"})
    assert not checker.is_valid({**good, "url": "ldap://dc1", "start_tls": False})
    assert checker.is_valid({**good, "url": "ldap://dc1", "start_tls": True})


def test_member_value_is_the_dn_or_the_ttl_form() -> None:
    dn = "CN=Ann O\\,Brien,OU=People,DC=corp,DC=example,DC=com"
    assert ad.member_value(dn, None) == dn
    assert ad.member_value(dn, 7200) == f"<TTL=7200,{dn}>"
    with pytest.raises(ValueError):
        ad.member_value(dn, 0)


def test_ttl_is_rounded_up_so_access_never_ends_early() -> None:
    now = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert ad.ttl_seconds(now + timedelta(hours=2), now) == 7200
    assert ad.ttl_seconds(now + timedelta(seconds=59, microseconds=1), now) == 60
    assert ad.ttl_seconds(now - timedelta(seconds=5), now) == -5


def test_the_modify_request_adds_or_deletes_exactly_one_member_value() -> None:
    value = ad.member_value("CN=a,DC=x", 60)
    assert ad.member_changes("MODIFY_ADD", value) == {
        "member": [("MODIFY_ADD", ["<TTL=60,CN=a,DC=x>"])]}
    assert ad.member_changes("MODIFY_DELETE", "CN=a,DC=x") == {
        "member": [("MODIFY_DELETE", ["CN=a,DC=x"])]}


@pytest.mark.parametrize(("name", "literal"), [
    ("*)(objectClass=*", "\\2a\\29\\28objectClass=\\2a"),
    ("admin*", "admin\\2a"),
    ("a)(|(sAMAccountName=*", "a\\29\\28|\\28sAMAccountName=\\2a"),
    ("back\\slash", "back\\5cslash"),
    ("nul\x00byte", "nul\\00byte"),
])
def test_user_filter_escapes_every_special_character(name: str, literal: str) -> None:
    assert ad.user_filter(name) == (
        f"(&(sAMAccountType=805306368)(|(sAMAccountName={literal})(userPrincipalName={literal})))")


def test_parse_range() -> None:
    assert ad.parse_range("member;range=0-1499") == (0, 1499)
    assert ad.parse_range("Member;Range=1500-*") == (1500, None)
    assert ad.parse_range("member") is None


def test_plain_ldap_without_start_tls_is_refused() -> None:
    instance = ProviderInstance("ad-main", "ad", {"url": "ldap://dc1", "base_dn": "DC=x",
                                                  "bind_dn": "svc@x"})
    with pytest.raises(ProviderError, match="start_tls"):
        ad.create(instance, {"AD_BIND_PASSWORD": "x"})


def test_missing_password_names_the_variable() -> None:
    instance = ProviderInstance("ad-main", "ad", {"url": "ldaps://127.0.0.1:1", "base_dn": "DC=x",
                                                  "bind_dn": "svc@x"})
    with pytest.raises(ProviderError, match="AD_BIND_PASSWORD") as raised:
        ad.create(instance, {}).observe([target("g")])
    assert not raised.value.retryable


def test_unreachable_server_is_retryable() -> None:
    with _closed_port() as port:
        instance = ProviderInstance("ad-main", "ad", {
            "url": f"ldaps://127.0.0.1:{port}", "base_dn": "DC=x", "bind_dn": "svc@x",
            "timeout_seconds": 2})
        with pytest.raises(ProviderError) as raised:
            ad.create(instance, {"AD_BIND_PASSWORD": "x"}).observe([target("g")])
    assert raised.value.retryable


# -- against the Samba DC --------------------------------------------------------------------------
@pytest.mark.samba
def test_start_tls_on_ldap_url(dc: samba.DomainController, directory: samba.Directory,
                               ou: str) -> None:
    group, user = fresh("tls"), fresh("u")
    group_dn = directory.add_group(group, ou)
    directory.add_user(user, ou)
    provider = make(dc, url=dc.ldap_url, start_tls=True)
    assert provider.grant(change(Action.GRANT, group, user)).status is Status.DONE
    assert provider.observe([target(group)])[target(group)] == frozenset({user.casefold()})
    assert [directory.sam_of(dn) for dn in directory.member_dns(group_dn)] == [user]


@pytest.mark.samba
def test_certificate_is_validated_by_default(dc: samba.DomainController) -> None:
    instance = ProviderInstance("ad-main", "ad", {k: v for k, v in settings(dc).items()
                                                  if k != "tls_validate"})
    with pytest.raises(ProviderError, match="certificate") as raised:
        ad.create(instance, {ENV: dc.admin_password}).observe([target("Domain Users")])
    assert not raised.value.retryable


@pytest.mark.samba
def test_wrong_password_is_a_clear_permanent_error(dc: samba.DomainController) -> None:
    with pytest.raises(ProviderError, match="invalidCredentials") as raised:
        make(dc, password="not-the-password").observe([target("Domain Users")])
    assert not raised.value.retryable


@pytest.mark.samba
@pytest.mark.parametrize("hostile", [
    "*", "*)(objectClass=*", "admin*", "a)(|(sAMAccountName=*", "*)(|(userPrincipalName=*",
    "Administrator)(objectClass=*",
])
def test_injection_in_a_user_name_finds_nobody_and_grants_nothing(
        dc: samba.DomainController, directory: samba.Directory, ou: str, hostile: str) -> None:
    group = fresh("inj")
    group_dn = directory.add_group(group, ou)
    # Users an unescaped filter would match: `admin...`, `a...`, and Administrator itself.
    directory.add_user(fresh("admin"), ou)
    directory.add_user(fresh("a"), ou)
    provider = make(dc)
    with pytest.raises(NotFound):
        provider.grant(change(Action.GRANT, group, hostile))
    assert directory.member_dns(group_dn) == []
    assert provider.revoke(change(Action.REVOKE, group, hostile)).status is Status.UNCHANGED


@pytest.mark.samba
def test_injection_in_a_group_name_finds_no_group(dc: samba.DomainController,
                                                  directory: samba.Directory, ou: str) -> None:
    user = fresh("u")
    directory.add_user(user, ou)
    with pytest.raises(NotFound):
        make(dc).grant(change(Action.GRANT, "*)(sAMAccountName=Domain Admins", user))
    with pytest.raises(NotFound):
        make(dc).grant(change(Action.GRANT, "Domain Admin*", user))


@pytest.mark.samba
def test_a_name_with_filter_characters_finds_exactly_that_user(
        dc: samba.DomainController, directory: samba.Directory, ou: str) -> None:
    group, name = fresh("par"), f"o(brien){next(_ids)}"
    directory.add_group(group, ou)
    directory.add_user(name, ou)
    directory.add_user(f"o{next(_ids)}", ou)  # a user a `o*`-style filter would also find
    provider = make(dc)
    assert provider.grant(change(Action.GRANT, group, name)).status is Status.DONE
    assert provider.observe([target(group)])[target(group)] == frozenset({name})


@pytest.mark.samba
def test_group_by_distinguished_name(dc: samba.DomainController, directory: samba.Directory,
                                     ou: str) -> None:
    group, user = fresh("dn"), fresh("u")
    group_dn = directory.add_group(group, ou)
    directory.add_user(user, ou)
    provider = make(dc)
    assert provider.grant(change(Action.GRANT, group_dn, user)).status is Status.DONE
    assert provider.observe([target(group_dn)])[target(group_dn)] == frozenset({user.casefold()})
    with pytest.raises(NotFound, match="does not exist"):
        provider.observe([target(f"CN=no-such-group,{ou}")])
    with pytest.raises(NotFound):  # a DN that exists but is not a group
        provider.grant(change(Action.GRANT, ou, user))


@pytest.mark.samba
def test_principals_by_user_principal_name(dc: samba.DomainController,
                                           directory: samba.Directory, ou: str) -> None:
    group, sam = fresh("upn"), fresh("u")
    upn = f"{sam}.Person@example.test"
    directory.add_group(group, ou)
    directory.add_user(sam, ou, upn=upn)
    by_upn = make(dc, principal_attribute="userPrincipalName")
    assert by_upn.grant(change(Action.GRANT, group, upn)).status is Status.DONE
    assert by_upn.observe([target(group)])[target(group)] == frozenset({upn.casefold()})
    # The default provider reports sAMAccountName: a UPN in identities.yaml would never match
    # what it observes, so it says how to fix the name instead of granting.
    for action, call in ((Action.GRANT, make(dc).grant), (Action.REVOKE, make(dc).revoke)):
        with pytest.raises(ProviderError, match="must name AD users by sAMAccountName") as raised:
            call(change(action, group, upn))
        assert not isinstance(raised.value, NotFound) and not raised.value.retryable
    assert make(dc).observe([target(group)])[target(group)] == frozenset({sam.casefold()})


@pytest.mark.samba
def test_a_name_matching_two_users_is_an_error(dc: samba.DomainController,
                                               directory: samba.Directory, ou: str) -> None:
    # Samba keeps UPNs in the realm's suffix from clashing with sAMAccountNames, but one user's
    # sAMAccountName may still be another's UPN in a different suffix.
    group, name = fresh("amb"), f"{fresh('d')}@x.test"
    directory.add_group(group, ou)
    directory.add_user(name, ou)
    directory.add_user(fresh("other"), ou, upn=name)
    with pytest.raises(ProviderError, match="matches 2 users") as raised:
        make(dc).grant(change(Action.GRANT, group, name))
    assert not isinstance(raised.value, NotFound)


@pytest.mark.samba
def test_revoke_of_a_non_member_from_a_populated_group_is_unchanged(
        dc: samba.DomainController, directory: samba.Directory, ou: str) -> None:
    group, member, other = fresh("rv"), fresh("m"), fresh("o")
    group_dn = directory.add_group(group, ou)
    member_dn = directory.add_user(member, ou)
    directory.add_user(other, ou)
    directory.add_members(group_dn, [member_dn])
    outcome = make(dc).revoke(change(Action.REVOKE, group, other))  # Samba answers 53 here
    assert outcome.status is Status.UNCHANGED
    assert directory.member_dns(group_dn) == [member_dn]


@pytest.mark.samba
def test_members_that_are_not_users_are_not_reported(
        dc: samba.DomainController, directory: samba.Directory, ou: str) -> None:
    group, nested, user = fresh("outer"), fresh("inner"), fresh("u")
    group_dn = directory.add_group(group, ou)
    nested_dn = directory.add_group(nested, ou)
    user_dn = directory.add_user(user, ou)
    directory.add_members(group_dn, [nested_dn, user_dn])
    assert make(dc).observe([target(group)])[target(group)] == frozenset({user.casefold()})


@pytest.mark.samba
def test_ttl_membership_sends_the_ttl_form_and_samba_refuses_it(
        dc: samba.DomainController, directory: samba.Directory, ou: str) -> None:
    group, user = fresh("ttl"), fresh("u")
    group_dn = directory.add_group(group, ou)
    user_dn = directory.add_user(user, ou)
    provider = make(dc, ttl_membership=True)
    assert provider.native_expiry(target(group))
    assert not make(dc).native_expiry(target(group))
    with pytest.raises(ProviderError, match="Privileged Access Management") as raised:
        provider.grant(change(Action.GRANT, group, user, hours=2))
    # What went on the wire, as the server quotes it back in its refusal.
    refusal = str(raised.value)
    assert any(f"could not parse <TTL={s},{user_dn}>" in refusal for s in (7199, 7200)), refusal
    assert "34" in refusal
    assert not raised.value.retryable
    assert directory.member_dns(group_dn) == []


@pytest.fixture(scope="module")
def delegated(dc: samba.DomainController, directory: samba.Directory
              ) -> tuple[str, str, str, str]:
    """A service account with Write Members on one OU's groups only: (upn, password, managed OU,
    unmanaged OU)."""
    managed = directory.add_ou(f"jit-{secrets.token_hex(3)}")
    unmanaged = directory.add_ou(f"other-{secrets.token_hex(3)}")
    accounts = directory.add_ou(f"svc-{secrets.token_hex(3)}")
    sam = f"svc-{secrets.token_hex(3)}"
    upn = f"{sam}@{samba.REALM.lower()}"
    password = "Svc-" + secrets.token_hex(12)
    dn = directory.add_user(sam, accounts, upn=upn)
    directory.set_password(dn, password)
    sid = directory.object_sid(dn)
    directory.set_delegation(managed, ad_write_members_ace(sid))
    return upn, password, managed, unmanaged


def ad_write_members_ace(sid: str) -> str:
    """Write property `member` (bf9679c0-...) on descendant group objects (bf967a9c-...)."""
    return (f"(OA;CI;WP;bf9679c0-0de6-11d0-a285-00aa003049e2;"
            f"bf967a9c-0de6-11d0-a285-00aa003049e2;{sid})")


@pytest.mark.samba
def test_least_privilege_delegation_is_enough_and_no_more(
        dc: samba.DomainController, directory: samba.Directory, ou: str,
        delegated: tuple[str, str, str, str]) -> None:
    upn, password, managed, unmanaged = delegated
    inside, outside, user = fresh("in"), fresh("out"), fresh("u")
    inside_dn = directory.add_group(inside, managed)
    outside_dn = directory.add_group(outside, unmanaged)
    directory.add_user(user, ou)
    provider = make(dc, password=password, bind_dn=upn)

    assert provider.grant(change(Action.GRANT, inside, user)).status is Status.DONE
    assert provider.observe([target(inside)])[target(inside)] == frozenset({user.casefold()})
    assert provider.revoke(change(Action.REVOKE, inside, user)).status is Status.DONE
    assert directory.member_dns(inside_dn) == []

    with pytest.raises(ProviderError, match="insufficient access") as raised:
        provider.grant(change(Action.GRANT, outside, user))
    assert not raised.value.retryable and not isinstance(raised.value, NotFound)
    assert directory.member_dns(outside_dn) == []
    # A protected group (adminCount=1) is named as such, before any write is tried.
    with pytest.raises(ProviderError, match="AdminSDHolder") as raised:
        provider.grant(change(Action.GRANT, "Domain Admins", user))
    assert not raised.value.retryable and not isinstance(raised.value, NotFound)


@pytest.mark.samba
def test_a_group_protected_by_admin_sd_holder_is_named_not_failed_with_error_50(
        dc: samba.DomainController, directory: samba.Directory, ou: str,
        delegated: tuple[str, str, str, str]) -> None:
    """A managed group nested in a protected group gets AdminSDHolder's permissions from SDProp
    within the hour: the delegated Write Members right is gone and grants and revokes fail. The
    provider says why and what to do, before writing when it can (the grant), and when AD
    refuses (the revoke, which is always tried: access must end if it can)."""
    upn, password, managed, _ = delegated
    group, member, other = fresh("nested"), fresh("u"), fresh("u")
    group_dn = directory.add_group(group, managed)
    member_dn = directory.add_user(member, ou)
    directory.add_user(other, ou)
    directory.add_members(group_dn, [member_dn])
    directory.stamp_admin_sd_holder(group_dn)
    provider = make(dc, password=password, bind_dn=upn)

    with pytest.raises(ProviderError) as granted:
        provider.grant(change(Action.GRANT, group, other))
    text = str(granted.value)
    assert "AdminSDHolder" in text and "adminCount=1" in text and group_dn in text
    assert "inheritance" in text and not granted.value.retryable
    assert directory.member_dns(group_dn) == [member_dn]

    with pytest.raises(ProviderError) as revoked:
        provider.revoke(change(Action.REVOKE, group, member))
    text = str(revoked.value)
    assert "insufficient access rights" in text and "AdminSDHolder" in text, text
    assert directory.member_dns(group_dn) == [member_dn]


@pytest.mark.samba
def test_admin_count_alone_stops_the_grant_before_any_write(
        dc: samba.DomainController, directory: samba.Directory, ou: str,
        delegated: tuple[str, str, str, str]) -> None:
    """Nested an instant ago, SDProp not run yet: the write would succeed now and the next
    revoke fail within the hour, so the grant is refused up front. The revoke still runs."""
    upn, password, managed, _ = delegated
    group, user = fresh("fresh-nest"), fresh("u")
    group_dn = directory.add_group(group, managed)
    user_dn = directory.add_user(user, ou)
    directory.add_members(group_dn, [user_dn])
    directory.set_admin_count(group_dn)
    provider = make(dc, password=password, bind_dn=upn)
    other = fresh("u")
    directory.add_user(other, ou)
    with pytest.raises(ProviderError, match="AdminSDHolder"):
        provider.grant(change(Action.GRANT, group, other))
    assert provider.revoke(change(Action.REVOKE, group, user)).status is Status.DONE
    assert directory.member_dns(group_dn) == []


@pytest.mark.samba
def test_a_protected_user_is_named_when_ad_refuses(
        dc: samba.DomainController, directory: samba.Directory, ou: str,
        delegated: tuple[str, str, str, str]) -> None:
    """Error 50 on a group outside the delegation, for a user who is a protected account:
    the refusal names the account, so nobody hunts for a missing delegation alone."""
    upn, password, _, unmanaged = delegated
    group, user = fresh("out"), fresh("admin")
    directory.add_group(group, unmanaged)
    user_dn = directory.add_user(user, ou)
    directory.set_admin_count(user_dn)
    provider = make(dc, password=password, bind_dn=upn)
    with pytest.raises(ProviderError) as raised:
        provider.grant(change(Action.GRANT, group, user))
    assert f"AD user {user} is a protected account" in str(raised.value)


def test_the_protection_hint_says_what_to_do() -> None:
    hint = ad.protection_hint("CN=g,DC=x", True, "alice", True)
    assert "CN=g,DC=x" in hint and "clear its adminCount" in hint
    assert "alice" in hint and "separate, unprotected account" in hint
    assert ad.protection_hint("CN=g,DC=x", False, "alice", False) == ""


@pytest.mark.samba
def test_observe_reads_past_1500_members_in_ranges(
        dc: samba.DomainController, directory: samba.Directory) -> None:
    bulk = directory.add_ou(f"bulk-{secrets.token_hex(3)}")
    tag = secrets.token_hex(2)
    names = [f"r{tag}-{i}" for i in range(ad.DEFAULT_RANGE_SIZE + 3)]
    group_dn = directory.add_group(f"big-{tag}", bulk)
    directory.add_members(group_dn, directory.add_users(names, bulk))

    # The server really pages: a range of 1500 gives 1500 values and says where it stopped.
    assert directory.raw_range(group_dn, "member;range=0-1499") == {"member;range=0-1499": 1500}
    assert directory.raw_range(group_dn, "member;range=1500-2999") == {"member;range=1500-*": 3}

    observed = make(dc).observe([target(f"big-{tag}")])[target(f"big-{tag}")]
    assert observed == frozenset(name.casefold() for name in names)


class _closed_port:
    """A local TCP port nothing listens on (bound, never listening, for the test's duration)."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()



@pytest.mark.samba
def test_a_dropped_connection_is_retryable_and_the_next_call_reconnects(
        dc: samba.DomainController, directory: samba.Directory, ou: str) -> None:
    # Through a TCP proxy that cuts the open connection and refuses the next one: what a DC
    # restart or a load balancer's reset does to a client between two calls.
    from accessctl.change.retry import RetryPolicy, call_with_retry

    from tests.servers import tcp_faults

    group, user = fresh("drop"), fresh("u")
    group_dn = directory.add_group(group, ou)
    directory.add_user(user, ou)
    with tcp_faults.proxy(dc.host, samba.LDAPS_PORT) as proxy:
        provider = make(dc, url=f"ldaps://127.0.0.1:{proxy.port}")
        assert provider.observe([target(group)])[target(group)] == frozenset()  # connected
        proxy.script = ["drop"]
        with pytest.raises(ProviderError, match="unreachable") as raised:
            provider.grant(change(Action.GRANT, group, user))
        assert raised.value.retryable, raised.value
        # The engine's retry loop meets the refused connection, then connects afresh.
        outcome = call_with_retry(lambda: provider.grant(change(Action.GRANT, group, user)),
                                  RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
        assert outcome.status in (Status.DONE, Status.UNCHANGED), outcome
        assert proxy.dropped == 2  # the open connection cut, and the next one refused
    assert [directory.sam_of(dn) for dn in directory.member_dns(group_dn)] == [user]
