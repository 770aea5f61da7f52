"""Active Directory group membership on a real Samba AD DC, reached over LDAPS through ldap3.

The DC is the test session's shared one (tests/samba.py). The provider asks for `member` in
ranges of 20 values, so the suite's paging test (page size + 3 members) needs two ranges.
The provider reaches the DC through a TCP proxy that cuts and refuses connections on cue
(tests/servers/tcp_faults.py): LDAPS is TLS end to end, so a fault here is what the network does,
not an LDAP answer; the out-of-band checks go to the DC directly.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from accessctl.core.model import ProviderInstance, Target, principal_key
from accessctl.providers import ad

from tests import samba
from tests.servers import tcp_faults

RANGE_SIZE = 20
_ids = itertools.count()


class AdBackend:
    platform = "ad"
    supports_faults = True

    def __init__(self, dc: samba.DomainController, directory: samba.Directory,
                 proxy: tcp_faults.TcpFaultProxy) -> None:
        self.dc = dc
        self.directory = directory
        self.proxy = proxy
        self.tag = secrets.token_hex(3)  # names stay unique on a DC shared by the whole session
        self.ou = directory.add_ou(f"conformance-{self.tag}")
        self.instance = ProviderInstance("ad-test", "ad", {
            "url": f"ldaps://127.0.0.1:{proxy.port}",
            "base_dn": dc.base_dn,
            "bind_dn": dc.admin_upn,
            "password_env": "AD_TEST_PASSWORD",
            "tls_validate": False,  # the throwaway DC's self-signed certificate
            "range_size": RANGE_SIZE,
        })
        self._dns: dict[str, str] = {}

    def provider(self) -> ad.ActiveDirectoryProvider:
        return ad.create(self.instance, {"AD_TEST_PASSWORD": self.dc.admin_password})

    def new_target(self) -> Target:
        name = f"jit-{self.tag}-{next(_ids)}"
        self.directory.add_group(name, self.ou)
        return Target.build("ad-test", "ad", "group", {"group": name})

    def missing_target(self) -> Target:
        return Target.build("ad-test", "ad", "group", {"group": f"no-such-group-{self.tag}"})

    def new_principal(self) -> str:
        name = f"Conf.{self.tag}.{next(_ids)}"  # mixed case: names compare case-insensitively
        self._dns[principal_key(name)] = self.directory.add_user(name, self.ou)
        return name

    def missing_principal(self) -> str:
        return f"nobody.{self.tag}"

    def rename_out_of_band(self, principal: str, new_name: str | None = None) -> str:
        new_name = new_name or f"Ren.{self.tag}.{next(_ids)}"
        dn = self._dns.pop(principal_key(principal))
        self._dns[principal_key(new_name)] = self.directory.rename_user(dn, new_name)
        return new_name

    def _group_dn(self, target: Target) -> str:
        return f"CN={target.param('group')},{self.ou}"

    def add_member_out_of_band(self, target: Target, principal: str) -> None:
        self.directory.add_members(self._group_dn(target), [self._dns[principal_key(principal)]])

    def members_out_of_band(self, target: Target) -> set[str]:
        return {principal_key(self.directory.sam_of(dn))
                for dn in self.directory.member_dns(self._group_dn(target))}

    def page_size(self) -> int:
        return RANGE_SIZE

    def inject(self, kinds: list[str]) -> None:
        # Each fault: the open connections are cut, then the next connections refused, one per
        # fault (a DC restarting, a load balancer resetting), whatever HTTP status it names.
        self.proxy.script = list(kinds)

    def native_expiry_out_of_band(self, target: Target, principal: str) -> str | None:
        return None  # Samba has no TTL membership; the backend's provider does not ask for it


@contextmanager
def backend() -> Iterator[AdBackend]:
    dc = samba.domain_controller()  # started once per session, stopped when the session ends
    directory = samba.Directory(dc)
    try:
        with tcp_faults.proxy(dc.host, samba.LDAPS_PORT) as proxy:
            yield AdBackend(dc, directory, proxy)
    finally:
        directory.close()
