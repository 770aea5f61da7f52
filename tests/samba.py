"""A throwaway Samba AD domain controller on 127.0.0.1, shared by every test of one session.

The first test that asks for it provisions a domain into a temporary directory, moves every path
Samba would write (pids, logs, sockets, state) under that directory, and starts `samba` in the
foreground with only its LDAP service. It is stopped and its directory removed when the test
process exits. Tests seed users and groups through `Directory` (ldap3, bound as Administrator),
never through the provider under test.

Samba missing is a failure that says to run `.ci/run` (which installs it), unless
ACCESSCTL_SKIP_SAMBA=1 asks to skip these tests.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
LDAP_PORT = 389
LDAPS_PORT = 636
REALM = "EXAMPLE.TEST"
DOMAIN = "EXAMPLE"
BASE_DN = "DC=example,DC=test"
ADMIN_UPN = f"Administrator@{REALM}"
SKIP_ENV = "ACCESSCTL_SKIP_SAMBA"
DEBIAN_PACKAGES = ("samba", "samba-ad-provision", "samba-dsdb-modules", "samba-vfs-modules")
"""What `apt-get install --no-install-recommends` needs on Debian 12 for a DC that provisions."""

_PROVISION_TIMEOUT = 180.0
_START_TIMEOUT = 60.0

# Paths Samba would otherwise put under /run, /var/log or /var/lib; `server services = ldap` keeps
# it from opening SMB, Kerberos, DNS and RPC ports the tests do not use. `ldb:nosync` drops the
# fsync per write (a throwaway database): seeding thousands of users takes half the time.
_LOCAL_OPTIONS = {
    "pid directory": "{dir}/run",
    "log file": "{dir}/log/log.%m",
    "ncalrpc dir": "{dir}/run/ncalrpc",
    "winbindd socket directory": "{dir}/run/winbindd",
    "ntp signd socket directory": "{dir}/run/ntp_signd",
    "server services": "ldap",
    "ldb:nosync": "true",
}


@dataclass
class DomainController:
    directory: Path
    admin_password: str
    process: subprocess.Popen[bytes] | None = None
    _output: Any = field(default=None, repr=False)

    host = HOST
    base_dn = BASE_DN
    admin_upn = ADMIN_UPN

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{HOST}:{LDAPS_PORT}"

    @property
    def ldap_url(self) -> str:
        return f"ldap://{HOST}:{LDAP_PORT}"

    @property
    def ca_file(self) -> Path:
        """The CA of the self-signed certificate Samba made for itself on first start."""
        return self.directory / "private" / "tls" / "ca.pem"

    def output_tail(self, lines: int = 30) -> str:
        log = self.directory / "samba.out"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._output is not None:
            self._output.close()
            self._output = None
        shutil.rmtree(self.directory, ignore_errors=True)


_lock = threading.Lock()
_running: DomainController | None = None
_failure: str | None = None


def missing() -> str | None:
    """Why this machine cannot run a DC, or None when it can."""
    absent = [tool for tool in ("samba", "samba-tool") if shutil.which(tool) is None]
    if absent:
        return (f"{' and '.join(absent)} not found: the Active Directory tests need a real Samba "
                f"AD DC. Run .ci/run as root (it installs the Debian packages "
                f"{' '.join(DEBIAN_PACKAGES)}), or set {SKIP_ENV}=1 to skip these tests.")
    if os.geteuid() != 0:
        return (f"the Samba AD DC must run as root (it listens on ports {LDAP_PORT} and "
                f"{LDAPS_PORT}); run the tests as root as .ci/run does, or set {SKIP_ENV}=1 "
                "to skip them.")
    return None


def domain_controller() -> DomainController:
    """The session's running DC, started on first use; fails (or skips) the calling test."""
    global _running, _failure
    with _lock:
        if _running is None and _failure is None:
            reason = missing()
            if reason is not None:
                _failure = reason
            else:
                try:
                    _running = _start()
                except RuntimeError as error:
                    _failure = str(error)
        if _running is not None:
            return _running
        assert _failure is not None
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1: {_failure}")
        pytest.fail(_failure, pytrace=False)


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((HOST, port)) == 0


def _start() -> DomainController:
    taken = [port for port in (LDAP_PORT, LDAPS_PORT) if _port_taken(port)]
    if taken:
        raise RuntimeError(
            f"something already listens on {HOST} port(s) {', '.join(map(str, taken))}: the "
            "tests start their own Samba AD DC there. Stop the other LDAP server (a system "
            "samba-ad-dc or slapd service, or a DC left over from an earlier run) and retry.")
    directory = Path(tempfile.mkdtemp(prefix="accessctl-samba-"))
    # Random per session, and meeting AD's default complexity rule (three character classes).
    dc = DomainController(directory, "Adm1n-" + secrets.token_hex(12))
    try:
        _provision(dc)
        _launch(dc)
    except BaseException:
        tail = dc.output_tail()
        dc.stop()
        if tail:
            raise RuntimeError(f"Samba AD DC did not start; its last output:\n{tail}") from None
        raise
    atexit.register(dc.stop)
    return dc


def _provision(dc: DomainController) -> None:
    command = [
        "samba-tool", "domain", "provision", f"--targetdir={dc.directory}",
        f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=NONE",
        f"--adminpass={dc.admin_password}", "--host-name=dc1",
        "--option=interfaces = lo", "--option=bind interfaces only = yes",
        "--option=ldb:nosync = true",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_PROVISION_TIMEOUT,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"samba-tool domain provision failed ({done.returncode}):\n{tail}\n"
                           f"(.ci/run installs the packages it needs: {' '.join(DEBIAN_PACKAGES)})")
    conf = dc.directory / "etc" / "smb.conf"
    conf.write_text(_localised(conf.read_text(), dc.directory))
    for sub in ("run", "log"):
        (dc.directory / sub).mkdir(exist_ok=True)


def _localised(conf: str, directory: Path) -> str:
    """smb.conf with every option of `_LOCAL_OPTIONS` set (replacing what provision wrote)."""
    wanted = {name: value.format(dir=directory) for name, value in _LOCAL_OPTIONS.items()}
    kept: list[str] = []
    for line in conf.splitlines():
        name = line.split("=", 1)[0].strip().lower()
        if "=" in line and name in wanted:
            continue
        kept.append(line)
        if line.strip().lower() == "[global]":
            kept.extend(f"\t{name} = {value}" for name, value in wanted.items())
    return "\n".join(kept) + "\n"


def _launch(dc: DomainController) -> None:
    conf = dc.directory / "etc" / "smb.conf"
    dc._output = (dc.directory / "samba.out").open("wb")
    dc.process = subprocess.Popen(
        ["samba", "-s", str(conf), "-i", "-M", "single", "--debug-stdout"],
        stdin=subprocess.DEVNULL, stdout=dc._output, stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops us
    )
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if dc.process.poll() is not None:
            raise RuntimeError(f"samba exited with {dc.process.returncode} while starting")
        if _port_taken(LDAPS_PORT) and _answers(dc):
            return
        time.sleep(0.2)
    raise RuntimeError(f"samba did not answer LDAPS on {HOST}:{LDAPS_PORT} "
                       f"within {_START_TIMEOUT:.0f} s")


def _answers(dc: DomainController) -> bool:
    """True once a bind as Administrator succeeds (the port opens a moment before that)."""
    try:
        Directory(dc).close()
    except Exception:  # any failure here means "not ready yet"; the deadline bounds the wait
        return False
    return True


class Directory:
    """The tests' own hands on the DC: an Administrator connection over LDAPS (via ldap3)."""

    def __init__(self, dc: DomainController) -> None:
        from ldap3 import Connection, Server, Tls

        self.dc = dc
        server = Server(dc.ldaps_url, use_ssl=True, tls=Tls(validate=ssl.CERT_NONE),
                        get_info=None, connect_timeout=10)
        self.connection: Any = Connection(
            server, user=dc.admin_upn, password=dc.admin_password, auto_bind=True,
            raise_exceptions=True, auto_referrals=False, receive_timeout=60,
        )

    def close(self) -> None:
        self.connection.unbind()

    def add_ou(self, name: str, parent: str = BASE_DN) -> str:
        dn = f"OU={name},{parent}"
        self.connection.add(dn, "organizationalUnit")
        return dn

    def add_user(self, sam: str, ou: str, upn: str | None = None) -> str:
        """A user (disabled, no password: it is never logged in with), its DN."""
        from ldap3.utils.dn import escape_rdn

        dn = f"CN={escape_rdn(sam)},{ou}"
        attributes = {"sAMAccountName": sam,
                      "userPrincipalName": upn or f"{sam}@{REALM.lower()}"}
        self.connection.add(dn, ["top", "person", "organizationalPerson", "user"], attributes)
        return dn

    def add_users(self, sams: Sequence[str], ou: str) -> list[str]:
        """Many users in one go: the adds are pipelined on a second, asynchronous connection."""
        from ldap3 import ASYNC, Connection

        pipe = Connection(self.connection.server, user=self.dc.admin_upn,
                          password=self.dc.admin_password, auto_bind=True,
                          client_strategy=ASYNC, raise_exceptions=False, auto_referrals=False)
        try:
            dns = [f"CN={sam},{ou}" for sam in sams]
            sent = [pipe.add(dn, ["top", "person", "organizationalPerson", "user"],
                             {"sAMAccountName": sam}) for dn, sam in zip(dns, sams, strict=True)]
            failed = [pipe.get_response(message)[1] for message in sent]
            failed = [result for result in failed if result["result"] != 0]
            if failed:
                raise AssertionError(f"seeding users failed: {failed[:3]}")
            return dns
        finally:
            pipe.unbind()

    def add_group(self, sam: str, ou: str) -> str:
        from ldap3.utils.dn import escape_rdn

        dn = f"CN={escape_rdn(sam)},{ou}"
        self.connection.add(dn, ["top", "group"], {"sAMAccountName": sam})
        return dn

    def add_members(self, group_dn: str, member_dns: Iterable[str]) -> None:
        from ldap3 import MODIFY_ADD

        self.connection.modify(group_dn, {"member": [(MODIFY_ADD, list(member_dns))]})

    def member_dns(self, group_dn: str) -> list[str]:
        """Every `member` value, read with ldap3's own range handling (not the provider's)."""
        from ldap3 import BASE

        self.connection.search(group_dn, "(objectClass=group)", BASE, attributes=["member"])
        values = self.connection.response[0]["attributes"].get("member") or []
        return [str(value) for value in values]

    def sam_of(self, dn: str) -> str:
        from ldap3 import BASE

        self.connection.search(dn, "(objectClass=*)", BASE, attributes=["sAMAccountName"])
        return _single(self.connection.response[0]["attributes"]["sAMAccountName"])

    def rename_user(self, dn: str, sam: str) -> str:
        """Rename a user as an administrator does in AD Users and Computers: a new
        sAMAccountName and userPrincipalName, and a new CN (so a new DN). The objectGUID stays,
        and AD rewrites the `member` values that named the old DN. The user's new DN."""
        from ldap3 import MODIFY_REPLACE
        from ldap3.utils.dn import escape_rdn

        self.connection.modify(dn, {
            "sAMAccountName": [(MODIFY_REPLACE, [sam])],
            "userPrincipalName": [(MODIFY_REPLACE, [f"{sam}@{REALM.lower()}"])]})
        self.connection.modify_dn(dn, f"CN={escape_rdn(sam)}")
        return f"CN={escape_rdn(sam)},{dn.split(',', 1)[1]}"

    def set_delegation(self, ou: str, sddl_aces: str) -> None:
        """Append ACEs (SDDL) to an OU's security descriptor, as `samba-tool dsacl` does."""
        done = subprocess.run(
            ["samba-tool", "dsacl", "set", "-H", self.dc.ldap_url,
             f"--objectdn={ou}", f"--sddl={sddl_aces}", "--use-kerberos=off",
             "-U", f"{self.dc.admin_upn}%{self.dc.admin_password}"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"samba-tool dsacl set failed: {done.stdout}{done.stderr}")

    def stamp_admin_sd_holder(self, dn: str) -> None:
        """Do to `dn` what SDProp does hourly to members of protected groups on Windows
        (Samba runs no SDProp): adminCount=1, and AdminSDHolder's security descriptor, whose
        DACL is protected, so the OU's inherited delegation no longer reaches the object."""
        from ldap3 import BASE, MODIFY_REPLACE
        from ldap3.protocol.microsoft import security_descriptor_control

        dacl = security_descriptor_control(sdflags=0x04)  # the DACL part only
        holder = f"CN=AdminSDHolder,CN=System,{self.dc.base_dn}"
        self.connection.search(holder, "(objectClass=*)", BASE,
                               attributes=["nTSecurityDescriptor"], controls=dacl)
        descriptor = self.connection.response[0]["raw_attributes"]["nTSecurityDescriptor"][0]
        self.connection.modify(
            dn, {"nTSecurityDescriptor": [(MODIFY_REPLACE, [protected_dacl(descriptor)])]},
            controls=dacl)
        self.connection.modify(dn, {"adminCount": [(MODIFY_REPLACE, ["1"])]})

    def set_admin_count(self, dn: str) -> None:
        """adminCount=1 only: a group just nested in a protected one, before SDProp's next run
        (or after its permissions were repaired by hand but adminCount left)."""
        from ldap3 import MODIFY_REPLACE

        self.connection.modify(dn, {"adminCount": [(MODIFY_REPLACE, ["1"])]})

    def set_password(self, dn: str, password: str) -> None:
        """Set a password and enable the account (unicodePwd needs an encrypted connection)."""
        from ldap3 import MODIFY_REPLACE

        encoded = f'"{password}"'.encode("utf-16-le")
        self.connection.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [encoded])]})
        self.connection.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [512])]})

    def object_sid(self, dn: str) -> str:
        """The object's SID in S-1-5-... form (without the schema ldap3 hands back bytes)."""
        from ldap3 import BASE
        from ldap3.protocol.formatters.formatters import format_sid

        self.connection.search(dn, "(objectClass=*)", BASE, attributes=["objectSid"])
        return str(format_sid(self.connection.response[0]["raw_attributes"]["objectSid"][0]))

    def raw_range(self, group_dn: str, attribute: str) -> dict[str, int]:
        """What the server answers to one ranged read, untouched by ldap3's range following:
        {attribute description as returned: number of values}."""
        from ldap3 import BASE, Connection

        raw = Connection(self.connection.server, user=self.dc.admin_upn,
                         password=self.dc.admin_password, auto_bind=True, auto_range=False,
                         return_empty_attributes=False, auto_referrals=False)
        try:
            raw.search(group_dn, "(objectClass=group)", BASE, attributes=[attribute])
            found = raw.response[0]["raw_attributes"]
            return {name: len(values or []) for name, values in found.items()}
        finally:
            raw.unbind()


def protected_dacl(descriptor: bytes) -> bytes:
    """A self-relative security descriptor holding only a DACL (what the SD flags control 0x04
    reads), with its inherited ACEs dropped and SE_DACL_PROTECTED set: inheritance off, as
    SDProp leaves a protected object. Layout: MS-DTYP 2.4.6 (descriptor), 2.4.5 (ACL), 2.4.4.1
    (ACE header)."""
    import struct

    revision, sbz1, control, _, _, _, dacl = struct.unpack_from("<BBHIIII", descriptor)
    assert dacl, "no DACL in the descriptor"
    acl_revision, _, _, count, _ = struct.unpack_from("<BBHHH", descriptor, dacl)
    offset, kept = dacl + 8, []
    for _ in range(count):
        _, flags, size = struct.unpack_from("<BBH", descriptor, offset)
        if not flags & 0x10:  # INHERITED_ACE
            kept.append(descriptor[offset:offset + size])
        offset += size
    aces = b"".join(kept)
    acl = struct.pack("<BBHHH", acl_revision, 0, 8 + len(aces), len(kept), 0) + aces
    se_dacl_present, se_dacl_protected, se_self_relative = 0x0004, 0x1000, 0x8000
    flags = control | se_dacl_present | se_dacl_protected | se_self_relative
    return struct.pack("<BBHIIII", revision, sbz1, flags, 0, 0, 0, 20) + acl


def _single(value: Any) -> str:
    """One value: without the schema (get_info=None) ldap3 returns every attribute as a list."""
    return str(value[0] if isinstance(value, list) else value)
