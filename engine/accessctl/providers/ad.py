"""Active Directory: group membership over LDAP, through ldap3 (imported only when AD is used).

A principal is the user's sAMAccountName (or userPrincipalName, as `principal_attribute` says),
as identities.yaml names it. Both can be changed by an administrator (and the old name given to a
new account), and a rename changes the DN too; the objectGUID never changes, and is what the
engine keeps: observe reads each member's objectGUID with its name, a grant reports the objectGUID
of the user the name found, and a revoke removes the member with that objectGUID, under the DN it
has now (`member` values follow renames: AD links them to the object, not the name).

A target of kind `group` names a group by sAMAccountName or by its full DN. Grant and revoke write
the group's `member` attribute (MODIFY_ADD / MODIFY_DELETE of the user's DN); observe reads
`member` in ranges, the way AD hands out large multi-valued attributes, and maps the DNs back to
principal names (and objectGUIDs) in batches.

Every name from a request reaches a filter only through `escape_filter_chars`, so `*`, `(`, `)`,
`\\` and NUL are literals: a crafted name finds nobody. The bind always runs over TLS (LDAPS, or
StartTLS on ldap://); a plain-text bind would put the service account's password on the wire.

With `ttl_membership: true` a grant writes the member as `<TTL=seconds,DN>`, and the forest
removes the member itself at expiry: Windows Server 2016+ forests with the Privileged Access
Management optional feature only. Samba refuses the form (invalidDNSyntax), so that path is tested
for the value it sends and the refusal it earns, never against a real PAM forest.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers import sessions
from accessctl.providers.base import NotFound, ProviderError, principal_key

PLATFORM = "ad"
DEFAULT_PASSWORD_ENV = "AD_BIND_PASSWORD"
DEFAULT_RANGE_SIZE = 1500  # AD's default MaxValRange: values of `member` per answer
DEFAULT_TIMEOUT = 30.0
PRINCIPAL_ATTRIBUTES = ("sAMAccountName", "userPrincipalName")
GUID = "objectGUID"
USER_ACCOUNT = "805306368"  # sAMAccountType of normal user accounts (SAM_USER_OBJECT)
_LOOKUP_BATCH = 100  # member DNs per OR-filter when mapping DNs back to names
_MAX_RANGES = 100_000  # a server that never says `-*` must not page us forever

# LDAP result codes (RFC 4511) the provider treats specially.
SUCCESS = 0
TIME_LIMIT_EXCEEDED = 3
STRONGER_AUTH_REQUIRED = 8
NO_SUCH_ATTRIBUTE = 16
NO_SUCH_OBJECT = 32
INVALID_DN_SYNTAX = 34
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS_RIGHTS = 50
BUSY = 51
UNAVAILABLE = 52
UNWILLING_TO_PERFORM = 53
ENTRY_ALREADY_EXISTS = 68
RETRYABLE_CODES = frozenset({TIME_LIMIT_EXCEEDED, BUSY, UNAVAILABLE})

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "base_dn", "bind_dn"],
    # A plain ldap:// URL must upgrade with StartTLS: caught when the policies load.
    "if": {"required": ["url"], "properties": {"url": {"pattern": "^ldap://"}}},
    "then": {"required": ["start_tls"], "properties": {"start_tls": {"const": True}}},
    "properties": {
        "url": {
            "type": "string",
            "pattern": r"^ldaps?://[^/\s]+/?$",
            "description": "The domain controller: ldaps://host:636, or ldap://host:389 with "
                           "start_tls: true (a bind without TLS is refused).",
            "examples": ["ldaps://dc1.corp.example.com:636", "ldap://dc1.corp.example.com"],
        },
        "base_dn": {
            "type": "string",
            "minLength": 1,
            "description": "Where users and groups named by sAMAccountName are searched "
                           "(subtree); usually the domain's root.",
            "examples": ["DC=corp,DC=example,DC=com"],
        },
        "bind_dn": {
            "type": "string",
            "minLength": 1,
            "description": "The service account the engine binds as: its DN or its "
                           "userPrincipalName.",
            "examples": ["svc-accessctl@corp.example.com",
                         "CN=svc-accessctl,OU=Service Accounts,DC=corp,DC=example,DC=com"],
        },
        "password_env": {
            "type": "string",
            "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$",
            "default": DEFAULT_PASSWORD_ENV,
            "description": "Name of the environment variable that holds the service account's "
                           "password.",
            "examples": [DEFAULT_PASSWORD_ENV],
        },
        "start_tls": {
            "type": "boolean",
            "default": False,
            "description": "Upgrade an ldap:// connection with StartTLS before binding "
                           "(required for ldap:// URLs).",
            "examples": [True],
        },
        "tls_validate": {
            "type": "boolean",
            "default": True,
            "description": "Verify the DC's certificate and host name. Turn off only for a "
                           "throwaway test DC with a self-signed certificate.",
            "examples": [True],
        },
        "ca_file": {
            "type": "string",
            "minLength": 1,
            "description": "PEM file of the CA that issued the DC's certificate (your "
                           "enterprise CA); the system's trust store when absent.",
            "examples": ["/etc/ssl/certs/corp-root-ca.pem"],
        },
        "principal_attribute": {
            "type": "string",
            "enum": list(PRINCIPAL_ATTRIBUTES),
            "default": "sAMAccountName",
            "description": "How identities.yaml names AD users, and how observed members are "
                           "reported: sAMAccountName or userPrincipalName.",
            "examples": ["sAMAccountName"],
        },
        "ttl_membership": {
            "type": "boolean",
            "default": False,
            "description": "Write members as <TTL=seconds,DN> so that the forest removes them at "
                           "expiry. Needs a Windows Server 2016+ forest with the Privileged "
                           "Access Management feature enabled; not tested against one.",
            "examples": [False],
        },
        "range_size": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5000,
            "default": DEFAULT_RANGE_SIZE,
            "description": "Values of a group's member attribute asked for per search "
                           "(member;range=N-M); AD answers at most its MaxValRange (1500).",
            "examples": [DEFAULT_RANGE_SIZE],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": DEFAULT_TIMEOUT,
            "description": "Connect and receive timeout of one LDAP operation, in seconds.",
            "examples": [30],
        },
        **sessions.AD_SETTINGS,
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "group": {
        "type": "object",
        "additionalProperties": False,
        "required": ["group"],
        "properties": {
            "group": {
                "type": "string",
                "minLength": 1,
                "maxLength": 2048,
                "description": "The AD group: its sAMAccountName (searched under base_dn) or its "
                               "full distinguished name.",
                "examples": ["jit-sql-admins",
                             "CN=jit-sql-admins,OU=JIT Groups,DC=corp,DC=example,DC=com"],
            },
        },
    },
}

PERMISSIONS = """\
The engine binds as a dedicated service account (`bind_dn`), with the password from the
environment variable named by `password_env` (default `AD_BIND_PASSWORD`), over LDAPS or
StartTLS. The account is an ordinary domain user (Domain Users can read users and groups) with one
delegation on the OU that holds the managed groups, and nothing else:

- Write Members (write property `member`, schema GUID `bf9679c0-0de6-11d0-a285-00aa003049e2`) on
  descendant Group objects of that OU. In SDDL:
  `(OA;CI;WP;bf9679c0-0de6-11d0-a285-00aa003049e2;bf967a9c-0de6-11d0-a285-00aa003049e2;<SID>)`;
  with the GUI: Delegate Control, custom task, Group objects, property "Write Members".

Keep the managed groups in that OU only, and never put a protected group (Domain Admins and the
other AdminSDHolder-protected groups) there, nor nest a managed group in one: SDProp rewrites the
permissions of protected groups and of every group nested in them (adminCount=1) each hour from
AdminSDHolder, which removes the delegation, so grants and revokes then fail and access stays.
The provider refuses to grant on a group with adminCount=1 and says so.

TTL membership (`ttl_membership: true`) needs no extra right, but needs a Windows Server 2016+
forest functional level with the Privileged Access Management optional feature enabled.
"""

def member_value(dn: str, ttl_seconds: int | None) -> str:
    """The value written into `member`: the DN itself, or AD's time-bound `<TTL=seconds,DN>`."""
    if ttl_seconds is None:
        return dn
    if ttl_seconds < 1:
        raise ValueError(f"a TTL membership needs a positive number of seconds, not {ttl_seconds}")
    return f"<TTL={ttl_seconds},{dn}>"


def ttl_seconds(expires_at: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `expires_at`, rounded up so the grant never ends early."""
    return math.ceil((expires_at - now).total_seconds())


def member_changes(operation: str, value: str) -> dict[str, list[tuple[str, list[str]]]]:
    """The ldap3 `changes` argument of one membership modify (operation: MODIFY_ADD/_DELETE)."""
    return {"member": [(operation, [value])]}


def user_filter(name: str) -> str:
    """The search filter for a user named `name` by sAMAccountName or userPrincipalName."""
    from ldap3.utils.conv import escape_filter_chars

    literal = escape_filter_chars(name)
    return (f"(&(sAMAccountType={USER_ACCOUNT})"
            f"(|(sAMAccountName={literal})(userPrincipalName={literal})))")


def group_filter(sam: str) -> str:
    from ldap3.utils.conv import escape_filter_chars

    return f"(&(objectClass=group)(sAMAccountName={escape_filter_chars(sam)}))"


def members_filter(dns: Sequence[str]) -> str:
    """User accounts among `dns`: one OR of distinguishedName equalities."""
    from ldap3.utils.conv import escape_filter_chars

    either = "".join(f"(distinguishedName={escape_filter_chars(dn)})" for dn in dns)
    return f"(&(sAMAccountType={USER_ACCOUNT})(|{either}))"


def parse_range(attribute: str) -> tuple[int, int | None] | None:
    """(low, high) of an attribute description `member;range=low-high`; high None for `*`.
    None when the description carries no range (the server sent every value at once)."""
    _, _, options = attribute.partition(";")
    for option in options.split(";"):
        key, _, bounds = option.partition("=")
        if key.strip().lower() == "range":
            low, _, high = bounds.partition("-")
            return int(low), None if high.strip() == "*" else int(high)
    return None


@dataclass(frozen=True)
class _User:
    dn: str
    name: str  # the principal_attribute's value
    guid: str | None = None  # the objectGUID, as a lowercase UUID string


def guid_filter(guid: str) -> str:
    """The search filter for the object whose objectGUID is `guid` (a UUID string): the GUID's
    16 bytes in AD's byte order, each escaped, so that nothing in `guid` reaches the filter as
    text."""
    from ldap3.utils.conv import escape_bytes

    return f"(&(sAMAccountType={USER_ACCOUNT})(objectGUID={escape_bytes(_guid_bytes(guid))}))"


def _guid_bytes(guid: str) -> bytes:
    try:
        return uuid.UUID(guid).bytes_le
    except ValueError:
        raise NotFound(f"AD objectGUID {guid!r} is not a GUID") from None


def _guid_of(entry: Mapping[str, Any]) -> str | None:
    raw = entry.get("raw_attributes", {}).get(GUID)
    value = raw[0] if isinstance(raw, list) and raw else raw
    if not isinstance(value, bytes) or len(value) != 16:
        return None
    return str(uuid.UUID(bytes_le=value))


class ActiveDirectoryProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        settings = instance.settings
        self._url = str(settings.get("url", "")).rstrip("/")
        self._base_dn = str(settings.get("base_dn", ""))
        self._bind_dn = str(settings.get("bind_dn", ""))
        self._password_env = str(settings.get("password_env") or DEFAULT_PASSWORD_ENV)
        self._password = environ.get(self._password_env, "")
        self._start_tls = bool(settings.get("start_tls", False))
        self._tls_validate = bool(settings.get("tls_validate", True))
        self._ca_file = settings.get("ca_file")
        self._attribute = str(settings.get("principal_attribute") or "sAMAccountName")
        self._ttl = bool(settings.get("ttl_membership", False))
        self._range_size = int(settings.get("range_size") or DEFAULT_RANGE_SIZE)
        self._timeout = float(settings.get("timeout_seconds") or DEFAULT_TIMEOUT)
        if not self._url.lower().startswith(("ldap://", "ldaps://")):
            raise ProviderError(f"AD url {self._url!r} must start with ldaps:// or ldap://")
        if self._url.lower().startswith("ldap://") and not self._start_tls:
            raise ProviderError(
                f"AD url {self._url} is plain LDAP: set start_tls: true (or use ldaps://); "
                "the engine never sends its password without TLS")
        if self._attribute not in PRINCIPAL_ATTRIBUTES:
            raise ProviderError(f"AD principal_attribute must be one of {PRINCIPAL_ATTRIBUTES}")
        self._connection: Any = None
        self._groups: dict[str, str] = {}
        self._protected: set[str] = set()
        """DNs of resolved groups that carry adminCount=1 (see `protection_hint`)."""
        self._users: dict[str, _User] = {}
        self._ids: dict[str, dict[str, str]] = {}
        """Group DN -> its members' principal keys -> their objectGUIDs, as observe read."""
        self._dns: dict[str, str] = {}
        """objectGUID -> DN of the members observe read."""

    # -- the Provider protocol -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return self._ttl

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._member_names(self._group_dn(target)) for target in targets}

    def member_ids(self, target: Target) -> Mapping[str, str]:
        group_dn = self._groups.get(target.param("group"))
        return dict(self._ids.get(group_dn, {})) if group_dn is not None else {}

    def grant(self, change: Change) -> Outcome:
        group_dn = self._group_dn(change.target)
        user = self._user(change.principal)
        ttl: int | None = None
        if self._ttl and change.expires_at is not None:
            ttl = ttl_seconds(change.expires_at, datetime.now(UTC))
            if ttl < 1:
                raise ProviderError(f"grant to {change.principal} expired at "
                                    f"{change.expires_at.isoformat()}: nothing to grant")
        if group_dn in self._protected:
            # SDProp has taken (or will take, within the hour) the delegation off this group:
            # say so before writing, not as LDAP error 50 later.
            raise ProviderError(protection_hint(group_dn, True, change.principal, False))
        value = member_value(user.dn, ttl)
        code, message = self._modify(group_dn, "MODIFY_ADD", value)
        if code == SUCCESS:
            detail = f"added to {group_dn}" + (f" for {ttl} s (TTL)" if ttl else "")
            return Outcome(change, Status.DONE, detail, native_expiry_set=ttl is not None,
                           principal_id=user.guid)
        if code == ENTRY_ALREADY_EXISTS:
            return Outcome(change, Status.UNCHANGED, f"already a member of {group_dn}",
                           principal_id=user.guid)
        if code == INVALID_DN_SYNTAX and ttl is not None:
            raise ProviderError(
                f"AD refused the TTL membership value {value!r} on {group_dn} ({code}: "
                f"{message}): time-bound membership needs a Windows Server 2016+ forest with the "
                "Privileged Access Management feature enabled; set ttl_membership: false")
        if code == INSUFFICIENT_ACCESS_RIGHTS:
            raise self._refused(message, f"adding {change.principal} to {group_dn}", group_dn,
                                user)
        raise self._error(code, message, f"adding {change.principal} to {group_dn}")

    def revoke(self, change: Change) -> Outcome:
        group_dn = self._group_dn(change.target)
        try:
            user = self._user(change.principal) if change.principal_id is None else \
                self._user_by_guid(change.principal_id)
        except NotFound as error:
            # No such user: nobody by that name (or id) holds the group, the wanted end state.
            return Outcome(change, Status.UNCHANGED, str(error))
        code, message = self._modify(group_dn, "MODIFY_DELETE", user.dn)
        if code == SUCCESS:
            return Outcome(change, Status.DONE, f"removed from {group_dn}")
        # AD answers 53 (or 16 when the group is empty) for a member that is not there; 53 also
        # covers other refusals, so make sure the member is really gone before saying so.
        if code in (UNWILLING_TO_PERFORM, NO_SUCH_ATTRIBUTE) and not self._is_member(
                group_dn, user.dn):
            return Outcome(change, Status.UNCHANGED, "not a member")
        if code == INSUFFICIENT_ACCESS_RIGHTS:
            raise self._refused(message, f"removing {change.principal} from {group_dn}",
                                group_dn, user)
        raise self._error(code, message, f"removing {change.principal} from {group_dn}")

    def close(self) -> None:
        """Unbind; the next call opens a fresh connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing a dead socket fails, and there is nothing left to release then.
            with contextlib.suppress(Exception):
                connection.unbind()

    # -- lookups ---------------------------------------------------------------------------------
    def _group_dn(self, target: Target) -> str:
        wanted = target.param("group")
        cached = self._groups.get(wanted)
        if cached is not None:
            return cached
        if "=" in wanted:
            # A DN (a sAMAccountName cannot hold "="): read the object itself, a group.
            _require_dn(wanted)
            entries, code, message = self._search(wanted, "(objectClass=group)",
                                                  ["objectClass", "adminCount"], base_scope=True)
            if code == NO_SUCH_OBJECT or (code == SUCCESS and not entries):
                raise NotFound(f"AD group {wanted} does not exist (or is not a group)")
        else:
            entries, code, message = self._search(self._base_dn, group_filter(wanted),
                                                  ["sAMAccountName", "adminCount"])
        if code != SUCCESS:
            raise self._error(code, message, f"looking up AD group {wanted}")
        if not entries:
            raise NotFound(f"AD group {wanted!r} does not exist under {self._base_dn}")
        if len(entries) > 1:
            raise ProviderError(f"AD group {wanted!r} is ambiguous ({len(entries)} matches)")
        dn = str(entries[0]["dn"])
        self._groups[wanted] = dn
        if _first(entries[0], "adminCount") == "1":
            self._protected.add(dn)
        return dn

    def _user_by_guid(self, guid: str) -> _User:
        """The user whose objectGUID is `guid`, under the DN it has now: as observe read it,
        else looked up (NotFound when there is no such user any more)."""
        dn = self._dns.get(guid)
        if dn is not None:
            return _User(dn, "", guid)
        entries, code, message = self._search(self._base_dn, guid_filter(guid), [GUID])
        if code != SUCCESS:
            raise self._error(code, message, f"looking up AD user {guid}")
        if not entries:
            raise NotFound(f"no AD user has objectGUID {guid}")
        return _User(str(entries[0]["dn"]), "", guid)

    def _user(self, name: str) -> _User:
        key = principal_key(name)
        cached = self._users.get(key)
        if cached is not None:
            return cached
        entries, code, message = self._search(self._base_dn, user_filter(name),
                                              [*PRINCIPAL_ATTRIBUTES, GUID])
        if code != SUCCESS:
            raise self._error(code, message, f"looking up AD user {name}")
        if not entries:
            raise NotFound(f"AD user {name!r} does not exist (no user has that sAMAccountName "
                           "or userPrincipalName)")
        if len(entries) > 1:
            dns = "; ".join(str(e["dn"]) for e in entries)
            raise ProviderError(f"AD user name {name!r} matches {len(entries)} users ({dns})")
        entry = entries[0]
        reported = _first(entry, self._attribute)
        if reported is None or principal_key(reported) != key:
            # Found by the other attribute: observe would report `reported`, never `name`, and
            # the engine would grant again on every run. Make identities.yaml say it right (an
            # error of its own: a revoke must not read it as "no such user, nothing to do").
            raise ProviderError(f"AD user {name!r} is {self._attribute} {reported!r}: "
                                f"identities.yaml must name AD users by {self._attribute}")
        user = _User(str(entry["dn"]), reported, _guid_of(entry))
        self._users[key] = user
        return user

    def _is_member(self, group_dn: str, user_dn: str) -> bool:
        from ldap3.utils.conv import escape_filter_chars

        entries, code, message = self._search(
            group_dn, f"(member={escape_filter_chars(user_dn)})", ["objectClass"], base_scope=True)
        if code not in (SUCCESS, NO_SUCH_OBJECT):
            raise self._error(code, message, f"reading the members of {group_dn}")
        return bool(entries)

    def _member_names(self, group_dn: str) -> frozenset[str]:
        dns = list(self._member_dns(group_dn))
        ids: dict[str, str | None] = {}
        for start in range(0, len(dns), _LOOKUP_BATCH):
            batch = dns[start:start + _LOOKUP_BATCH]
            entries, code, message = self._search(self._base_dn, members_filter(batch),
                                                  [self._attribute, GUID])
            if code != SUCCESS:
                raise self._error(code, message, f"resolving the members of {group_dn}")
            # Members that are not user accounts (nested groups, computers, contacts) and users
            # without the attribute are not reported: the engine never manages them.
            for entry in entries:
                name = _first(entry, self._attribute)
                if name is None:
                    continue
                guid = _guid_of(entry)
                ids[principal_key(name)] = guid
                if guid is not None:
                    self._dns[guid] = str(entry["dn"])
        self._ids[group_dn] = {key: guid for key, guid in ids.items() if guid is not None}
        return frozenset(ids)

    def _member_dns(self, group_dn: str) -> Iterator[str]:
        """Every value of `member`, asked for in ranges of `range_size`. The next range starts
        after what the server really sent (AD caps a range at its MaxValRange), until it says
        `-*` (the last one)."""
        low = 0
        for _ in range(_MAX_RANGES):
            wanted = f"member;range={low}-{low + self._range_size - 1}"
            entries, code, message = self._search(group_dn, "(objectClass=group)", [wanted],
                                                  base_scope=True)
            if code == NO_SUCH_OBJECT or (code == SUCCESS and not entries):
                raise NotFound(f"AD group {group_dn} does not exist")
            if code != SUCCESS:
                raise self._error(code, message, f"reading the members of {group_dn}")
            returned = [(name, values) for name, values in entries[0]["raw_attributes"].items()
                        if name.lower().partition(";")[0] == "member"]
            if not returned:
                return  # no (more) values: an empty group has no member attribute at all
            name, values = returned[0]
            yield from (v.decode("utf-8") for v in values or [])
            bounds = parse_range(name)
            if bounds is None or bounds[1] is None:
                return
            low = bounds[1] + 1
        raise ProviderError(f"AD kept paging the members of {group_dn} past {_MAX_RANGES} ranges")

    # -- one LDAP operation ----------------------------------------------------------------------
    def _search(self, base: str, search_filter: str, attributes: list[str],
                base_scope: bool = False) -> tuple[list[Any], int, str]:
        from ldap3 import BASE, SUBTREE

        def run(connection: Any) -> Any:
            return connection.search(base, search_filter, BASE if base_scope else SUBTREE,
                                     attributes=attributes)

        code, message, response = self._operation(run)
        entries = [e for e in response or [] if e.get("type") == "searchResEntry"]
        return entries, code, message

    def _modify(self, dn: str, operation: str, value: str) -> tuple[int, str]:
        code, message, _ = self._operation(
            lambda connection: connection.modify(dn, member_changes(operation, value)))
        return code, message

    def _operation(self, call: Any) -> tuple[int, str, Any]:
        """Run one operation; its result code, message and response. Transport failures and the
        server's busy / unavailable answers raise a retryable error (and drop the connection)."""
        from ldap3.core.exceptions import LDAPException

        connection = self._connect()
        try:
            call(connection)
        except LDAPException as error:
            self.close()
            raise _transport_error(self._url, error) from None
        result = connection.result or {}
        code = int(result.get("result", -1))
        message = str(result.get("message") or result.get("description") or "")
        if code in RETRYABLE_CODES:
            self.close()
            raise ProviderError(f"AD {self._url} answered {code} {result.get('description')}: "
                                f"{message}", retryable=True)
        return code, message, connection.response

    def _connect(self) -> Any:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if not self._password:
            raise ProviderError(f"no AD bind password: set the environment variable "
                                f"{self._password_env}")
        import ssl

        from ldap3 import SIMPLE, SYNC, Connection, Server, Tls
        from ldap3.core.exceptions import LDAPException

        tls = Tls(validate=ssl.CERT_REQUIRED if self._tls_validate else ssl.CERT_NONE,
                  ca_certs_file=str(self._ca_file) if self._ca_file else None)
        server = Server(self._url, use_ssl=self._url.lower().startswith("ldaps://"), tls=tls,
                        get_info=None, connect_timeout=self._timeout)
        connection = Connection(
            server, user=self._bind_dn, password=self._password, authentication=SIMPLE,
            client_strategy=SYNC,  # no internal retries: change/retry.py is the one retry loop
            raise_exceptions=False,
            receive_timeout=math.ceil(self._timeout),  # whole seconds: ldap3 packs it as an int
            auto_referrals=False,  # never follow a referral (and our credentials) elsewhere
            auto_range=False, return_empty_attributes=False,  # ranges are read by _member_dns
        )
        try:
            connection.open()
            if self._start_tls and not server.ssl:
                connection.start_tls()
            bound = connection.bind()
        except LDAPException as error:
            raise _transport_error(self._url, error) from None
        if not bound:
            result = connection.result or {}
            code = int(result.get("result", -1))
            connection.unbind()
            text = f"{code} {result.get('description')}: {result.get('message')}"
            if code in RETRYABLE_CODES:
                raise ProviderError(f"AD bind to {self._url} failed ({text})", retryable=True)
            if code == STRONGER_AUTH_REQUIRED:
                text += " (the DC requires TLS: use ldaps:// or start_tls: true)"
            raise ProviderError(f"AD bind as {self._bind_dn} to {self._url} refused ({text})")
        self._connection = connection
        return connection

    def _refused(self, message: str, doing: str, group_dn: str, user: _User) -> ProviderError:
        """LDAP error 50 on a membership change, explained when AdminSDHolder is the cause: the
        group or the user carries adminCount=1 (read now, in one search)."""
        from ldap3.utils.conv import escape_filter_chars

        either = "".join(f"(distinguishedName={escape_filter_chars(dn)})"
                         for dn in (group_dn, user.dn))
        entries, code, _ = self._search(self._base_dn, f"(&(adminCount=1)(|{either}))",
                                        ["objectClass"])
        protected = {str(e["dn"]).casefold() for e in entries} if code == SUCCESS else set()
        group, person = group_dn.casefold() in protected, user.dn.casefold() in protected
        if not (group or person):
            return self._error(INSUFFICIENT_ACCESS_RIGHTS, message, doing)
        return ProviderError(f"{doing}: insufficient access rights ({message}); "
                             + protection_hint(group_dn, group, user.name, person))

    def _error(self, code: int, message: str, doing: str) -> ProviderError:
        if code == NO_SUCH_OBJECT:
            return NotFound(f"{doing}: no such object ({message})")
        if code == INSUFFICIENT_ACCESS_RIGHTS:
            return ProviderError(f"{doing}: insufficient access rights ({message}); the service "
                                 "account needs Write Members on the group's OU")
        return ProviderError(f"{doing}: LDAP result {code}: {message}")


def protection_hint(group_dn: str, group: bool, user: str, person: bool) -> str:
    """What to do when AdminSDHolder protection (adminCount=1) is in the way.

    Every hour SDProp gives each member of a protected group (Domain Admins, Administrators, ...),
    nested groups and their members included, the permissions of AdminSDHolder, with
    inheritance off: the delegated Write Members right on the managed OU no longer reaches the
    group. It keeps adminCount=1 and those permissions after it leaves the protected group."""
    parts = []
    if group:
        parts.append(
            f"AD group {group_dn} is protected by AdminSDHolder (adminCount=1: a protected "
            "group such as Domain Admins, or a group nested in one, now or in the past); SDProp "
            "resets its permissions every hour and removes the delegated Write Members right, so "
            "the engine can neither grant nor revoke it. Manage a group that is in no protected "
            "group: take this one out of every protected group, then clear its adminCount and "
            "turn inheritance back on (SDProp does neither), and grant the privilege another way "
            "than nesting in a protected group")
    if person:
        parts.append(
            f"AD user {user} is a protected account (adminCount=1: a member, now or once, of a "
            "protected group): its own permissions are AdminSDHolder's; give privileged people "
            "a separate, unprotected account for just-in-time access")
    return "; ".join(parts)


def _transport_error(url: str, error: Exception) -> ProviderError:
    """Lost or refused connections and timeouts may pass; a certificate or a malformed request
    will not."""
    from ldap3.core.exceptions import (
        LDAPCertificateError,
        LDAPCommunicationError,
        LDAPResponseTimeoutError,
    )

    text = str(error)
    if isinstance(error, LDAPCertificateError) or "certificate" in text.lower():
        return ProviderError(f"AD {url}: TLS certificate not trusted ({text}); give the issuing "
                             "CA in ca_file, and a url whose host name the certificate names")
    if isinstance(error, LDAPCommunicationError | LDAPResponseTimeoutError):
        return ProviderError(f"AD {url} unreachable: {text}", retryable=True)
    return ProviderError(f"AD {url}: {type(error).__name__}: {text}")


def _require_dn(text: str) -> None:
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        parse_dn(text)
    except LDAPInvalidDnError as error:
        raise NotFound(f"AD group {text!r} does not exist: it is neither a sAMAccountName "
                       f"(which cannot hold '=') nor a valid DN ({error})") from None


def _first(entry: Mapping[str, Any], attribute: str) -> str | None:
    values = entry.get("attributes", {}).get(attribute)
    if isinstance(values, list):
        values = values[0] if values else None
    return str(values) if values else None


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> ActiveDirectoryProvider:
    return ActiveDirectoryProvider(instance, environ)
