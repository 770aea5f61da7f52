"""Who holds a target, by name and by immutable id, as one observation saw it. Pure.

Names change. A GitLab username, a GitHub login, an Okta login, an Entra UPN, an AD
sAMAccountName and an IAM or Identity Center user name can all be changed after a grant, and the
old name is then free for someone else to take. The ids the platforms give never change (GitHub
and GitLab numeric user ids, Okta user ids, Entra object ids, AD objectGUIDs, IAM and Identity
Center UserIds). Providers that know them report, for each target they observed, the id of each
holder (principal key -> id, read from the very member lists observe reads: no request more).

The ledger records the id each grant went to. Compared with these holders, a recorded grant is
found under the name its person goes by now, and a recorded name now held by another id is known
not to be the person the engine granted. Where an observation gives no id for a holder (a
platform or a member without one), names are all there is, as before ids were recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from accessctl.core.model import Target, principal_key

MemberIds = Mapping[Target, Mapping[str, str]]
"""Per target: principal key -> the platform's immutable id, for the holders observe read."""


class Holders:
    """The holders of one target: their principal keys, and the ids of those that have one."""

    def __init__(self, keys: Collection[str], ids: Mapping[str, str] | None = None) -> None:
        self.keys = frozenset(keys)
        self.ids = {k: v for k, v in (ids or {}).items() if k in self.keys}
        self._by_id = {v: k for k, v in self.ids.items()}

    def id_of(self, key: str) -> str | None:
        return self.ids.get(principal_key(key))

    def key_of(self, principal_id: str) -> str | None:
        return self._by_id.get(principal_id)

    def where(self, principal: str, principal_id: str | None) -> str | None:
        """The key under which the person recorded as (`principal`, `principal_id`) holds the
        target now; None when they do not. By id first; by name when no id was recorded, or
        when the one holding that name came without an id in this observation."""
        key = principal_key(principal)
        if principal_id is not None:
            found = self._by_id.get(principal_id)
            if found is not None:
                return found
            return key if key in self.keys and key not in self.ids else None
        return key if key in self.keys else None

    def reused(self, principal: str, principal_id: str | None) -> bool:
        """Whether `principal`'s name is held now by an id other than the recorded one."""
        if principal_id is None:
            return False
        holder = self.ids.get(principal_key(principal))
        return holder is not None and holder != principal_id


def holders(observed: Mapping[Target, Collection[str]], ids: MemberIds | None = None
            ) -> dict[Target, Holders]:
    """Holders of every observed target (with the ids observe gave, where it gave some)."""
    known = ids or {}
    return {target: Holders(keys, known.get(target)) for target, keys in observed.items()}
