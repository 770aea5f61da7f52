"""The AD provider: its one target kind, `group`, written through the group's `member`
attribute (MODIFY_ADD / MODIFY_DELETE of the user's DN), observed by reading `member` in ranges
and mapping the DNs back to principal names (and objectGUIDs) in batches; and the users and
groups behind the names the policies give."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.ad.connection import LdapSession
from accessctl.providers.ad.ldap import (
    ENTRY_ALREADY_EXISTS,
    GUID,
    INSUFFICIENT_ACCESS_RIGHTS,
    INVALID_DN_SYNTAX,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    SUCCESS,
    UNWILLING_TO_PERFORM,
    first,
    group_filter,
    guid_filter,
    guid_of,
    member_value,
    members_filter,
    parse_range,
    require_dn,
    ttl_seconds,
    user_filter,
)
from accessctl.providers.ad.schema import DEFAULT_RANGE_SIZE, PRINCIPAL_ATTRIBUTES
from accessctl.providers.base import NotFound, ProviderError, principal_key

_LOOKUP_BATCH = 100  # member DNs per OR-filter when mapping DNs back to names
_MAX_RANGES = 100_000  # a server that never says `-*` must not page us forever


@dataclass(frozen=True)
class _User:
    dn: str
    name: str  # the principal_attribute's value
    guid: str | None = None  # the objectGUID, as a lowercase UUID string


class ActiveDirectoryProvider(LdapSession):
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        settings = instance.settings
        self._attribute = str(settings.get("principal_attribute") or "sAMAccountName")
        self._ttl = bool(settings.get("ttl_membership", False))
        self._range_size = int(settings.get("range_size") or DEFAULT_RANGE_SIZE)
        if self._attribute not in PRINCIPAL_ATTRIBUTES:
            raise ProviderError(f"AD principal_attribute must be one of {PRINCIPAL_ATTRIBUTES}")
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

    # -- lookups ---------------------------------------------------------------------------------
    def _group_dn(self, target: Target) -> str:
        wanted = target.param("group")
        cached = self._groups.get(wanted)
        if cached is not None:
            return cached
        if "=" in wanted:
            # A DN (a sAMAccountName cannot hold "="): read the object itself, a group.
            require_dn(wanted)
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
        if first(entries[0], "adminCount") == "1":
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
        reported = first(entry, self._attribute)
        if reported is None or principal_key(reported) != key:
            # Found by the other attribute: observe would report `reported`, never `name`, and
            # the engine would grant again on every run. Make identities.yaml say it right (an
            # error of its own: a revoke must not read it as "no such user, nothing to do").
            raise ProviderError(f"AD user {name!r} is {self._attribute} {reported!r}: "
                                f"identities.yaml must name AD users by {self._attribute}")
        user = _User(str(entry["dn"]), reported, guid_of(entry))
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
                name = first(entry, self._attribute)
                if name is None:
                    continue
                guid = guid_of(entry)
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



def create(instance: ProviderInstance, environ: Mapping[str, str]) -> ActiveDirectoryProvider:
    return ActiveDirectoryProvider(instance, environ)
