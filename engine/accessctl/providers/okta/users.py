"""Okta users: the user id behind the login identities.yaml names, looked up once (in bulk for
a run's grants), and the login a listed user is known by."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accessctl.core.model import ProviderInstance
from accessctl.providers.base import NotFound, principal_key
from accessctl.providers.okta.client import OktaSession

LOGINS_PER_LOOKUP = 40
"""Logins per bulk look-up: 40 `profile.login eq "..."` clauses keep the URL near 2 KB."""


class OktaUsers(OktaSession):
    """Look-ups of users by login."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        self._users: dict[str, str] = {}

    def _look_up_logins(self, principals: Sequence[str]) -> None:
        """Look up in bulk the users these principals name (`filter=profile.login eq ... or
        ...`, LOGINS_PER_LOOKUP a call, the calls side by side), into the cache `_user_id`
        reads."""
        from concurrent.futures import ThreadPoolExecutor

        wanted = {principal_key(p): p for p in principals if principal_key(p) not in self._users}
        names = sorted(wanted.values())
        chunks = [names[i:i + LOGINS_PER_LOOKUP]
                  for i in range(0, len(names), LOGINS_PER_LOOKUP)]
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(chunks))) as pool:
            found = list(pool.map(self._users_with_logins, chunks))
        for users in found:
            for user in users:
                key = principal_key(login_of(user))
                if key in wanted and getattr(user, "id", None):
                    self._users.setdefault(key, str(user.id))

    def _users_with_logins(self, logins: Sequence[str]) -> list[Any]:
        expression = " or ".join(f'profile.login eq "{search_literal(login)}"'
                                 for login in logins)
        return self._all_pages(
            lambda c, after: c.list_users(filter=expression, after=after, limit=200),
            f"{len(logins)} Okta users")

    def _user_id(self, login: str) -> str:
        key = principal_key(login)
        cached = self._users.get(key)
        if cached is not None:
            return cached
        # GET /api/v1/users/{login} accepts an id, a login or an unambiguous login shortname; only
        # an exact login match names the person identities.yaml means.
        user, _ = self._run(lambda c: c.get_user(login), f"Okta user {login}")
        found_login = login_of(user)
        if principal_key(found_login) != key:
            raise NotFound(f"Okta user {login}: the login resolves to {found_login!r}; "
                           "identities.yaml must give the full Okta login")
        user_id = str(user.id)
        self._users[key] = user_id
        return user_id


def search_literal(value: str) -> str:
    """A string inside a search or filter expression's quotes, escaped as Okta's grammar reads
    it: a quote or backslash in a login cannot end the literal."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def login_of(user: Any) -> str:
    return str(getattr(getattr(user, "profile", None), "login", "") or "")
