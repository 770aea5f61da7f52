"""The Okta provider: its one target kind, `group`, membership of an Okta group (type
OKTA_GROUP) named by id or by its exact name (resolved once per provider). Okta has no expiry on
group membership in its core API: the revoke job ends these grants."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accessctl.core.model import Action, Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.base import NotFound, ProviderError, principal_key
from accessctl.providers.observed import ObservedMembers
from accessctl.providers.okta.schema import DEFAULT_PAGE_SIZE
from accessctl.providers.okta.users import OktaUsers, login_of, search_literal

_ID_LIKE = re.compile(r"^[A-Za-z0-9]{1,64}$")


@dataclass(frozen=True)
class _Group:
    id: str
    name: str
    type: str


class OktaProvider(OktaUsers):
    observe_in_parallel = True
    """Calls from several threads share the provider's one event loop (`BackgroundLoop`): the
    engine may split the targets over threads, and their reads run side by side."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        settings = instance.settings
        self._page_size = int(settings.get("page_size") or DEFAULT_PAGE_SIZE)
        self._groups: dict[str, _Group] = {}
        self._observed = ObservedMembers()
        """Group id -> its members' principal keys -> their user ids, as observe read them."""

    # -- the Provider protocol -------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        return {target: self._members(self._group(target)) for target in targets}

    def member_ids(self, target: Target) -> Mapping[str, str]:
        group = self._groups.get(target.param("group"))
        held = self._observed.held(group.id) if group is not None else {}
        return {key: user_id for key, user_id in held.items() if user_id}

    def grant(self, change: Change) -> Outcome:
        group = self._group(change.target)
        self._require_writable(group)
        user_id = self._user_id(change.principal)
        # PUT answers 204 whether or not the user was a member: to report honestly, know first.
        # This run's observation of the group says it without a request; else ask.
        if self._is_member(group, user_id):
            return Outcome(change, Status.UNCHANGED, f"already a member of Okta group {group.name}",
                           principal_id=user_id)
        self._run(lambda c: c.assign_user_to_group(group.id, user_id),
                  f"user {change.principal} or group {group.name}")
        self._observed.note(group.id, change.principal, user_id)
        return Outcome(change, Status.DONE, f"added to Okta group {group.name}",
                       principal_id=user_id)

    def prepare(self, changes: Sequence[Change]) -> None:
        """Look up in bulk the users these grants name: a grant is then one write, not a
        look-up and a write. Revokes need none: observe gave the members' ids."""
        self._look_up_logins([c.principal for c in changes if c.action is Action.GRANT])

    def end_sessions(self, change: Change) -> str:
        """After a revoke: end the person's Okta sessions and OAuth tokens (sessions.py)."""
        from accessctl.providers.okta import sessions

        return sessions.end_sessions(self, change)

    def revoke(self, change: Change) -> Outcome:
        group = self._group(change.target)
        self._require_writable(group)
        if change.principal_id is not None:
            # The user the engine granted, by id: whatever their login is now.
            user_id = change.principal_id
            if not _ID_LIKE.match(user_id):
                raise NotFound(f"Okta user id {user_id!r} is not an Okta id")
        else:
            try:
                user_id = self._user_id(change.principal)
            except NotFound:
                # No such user: nobody by that login holds the group, the wanted end state.
                return Outcome(change, Status.UNCHANGED, f"no Okta user {change.principal}")
        if not self._is_member(group, user_id):
            return Outcome(change, Status.UNCHANGED, "not a member")
        try:
            self._run(lambda c: c.unassign_user_from_group(group.id, user_id),
                      f"user {change.principal} in group {group.name}")
        except NotFound:
            return Outcome(change, Status.UNCHANGED, "not a member")
        _, key = self._observed.key_of(group.id, user_id)
        if key is not None:
            self._observed.note(group.id, key, None)
        return Outcome(change, Status.DONE, f"removed from Okta group {group.name}")

    # -- lookups ---------------------------------------------------------------------------------
    def _group(self, target: Target) -> _Group:
        wanted = target.param("group")
        cached = self._groups.get(wanted)
        if cached is not None:
            return cached
        group: _Group | None = None
        if _ID_LIKE.match(wanted):
            try:
                found, _ = self._run(lambda c: c.get_group(wanted), f"group {wanted}")
                group = _group_of(found)
            except NotFound:
                group = None  # not an id after all: try it as a name
        if group is None:
            group = self._group_by_name(wanted)
        self._groups[wanted] = group
        return group

    def _group_by_name(self, name: str) -> _Group:
        # The name goes into a search expression: escape it the way Okta's grammar reads strings.
        expression = f'profile.name eq "{search_literal(name)}"'
        matches = [
            group for group in map(_group_of, self._all_pages(
                lambda c, after: c.list_groups(search=expression, after=after, limit=200),
                f"group {name}",
            ))
            if group.name == name  # Okta compares case-insensitively; the policy names exactly
        ]
        if not matches:
            raise NotFound(f"Okta group {name!r} does not exist (no group has that id or name)")
        if len(matches) > 1:
            ids = ", ".join(g.id for g in matches)
            raise ProviderError(f"Okta group name {name!r} is ambiguous ({ids}): use the id")
        return matches[0]

    @staticmethod
    def _require_writable(group: _Group) -> None:
        if group.type != "OKTA_GROUP":
            raise ProviderError(
                f"Okta group {group.name} ({group.id}) is of type {group.type}: its members are "
                "managed by its source (an app or directory), not through Okta"
            )

    def _groups_of(self, user_id: str, login: str) -> set[str]:
        groups, _ = self._run(lambda c: c.list_user_groups(user_id), f"Okta user {login}")
        return {str(g.id) for g in groups or []}

    def _is_member(self, group: _Group, user_id: str) -> bool:
        """Membership of that user id as this run observed it (the engine plans from that very
        observation, moments ago), else as Okta says now: one request per change fewer."""
        observed, key = self._observed.key_of(group.id, user_id)
        if observed:
            return key is not None
        return group.id in self._groups_of(user_id, user_id)

    def _members(self, group: _Group) -> frozenset[str]:
        users = self._all_pages(
            lambda c, after: c.list_group_users(group.id, after=after, limit=self._page_size),
            f"group {group.name}",
        )
        members = {principal_key(login_of(user)): str(getattr(user, "id", "") or "")
                   for user in users}
        for key, user_id in members.items():
            if user_id:  # the listing names each member's id: a revoke needs no look-up
                self._users.setdefault(key, user_id)
        self._observed.record(group.id, members)
        return frozenset(members)


def _group_of(found: Any) -> _Group:
    profile = getattr(found, "profile", None)
    # The SDK wraps the profile in an anyOf holder; the real profile is its `actual_instance`.
    inner = getattr(profile, "actual_instance", None) or profile
    kind = getattr(found, "type", None)
    return _Group(str(found.id), str(getattr(inner, "name", "") or found.id),
                  str(getattr(kind, "value", kind) or "OKTA_GROUP"))



def create(instance: ProviderInstance, environ: Mapping[str, str]) -> OktaProvider:
    return OktaProvider(instance, environ)
