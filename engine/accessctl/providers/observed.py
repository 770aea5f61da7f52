"""What this run's observe read of each target, for the writes that follow it.

The engine plans from an observation made moments before its writes, so a provider may act on
it: skip the read before a write, take a member's id from the member list instead of looking it
up. Grants and revokes run on several threads and note what they changed, so that a second
change in the same run sees it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from accessctl.core.model import principal_key


class ObservedMembers:
    """Per target key: principal key -> a value the provider keeps (a login, an id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, dict[str, str]] = {}

    def record(self, target: str, members: Mapping[str, str]) -> None:
        """What observe read of `target` (keys are principal keys)."""
        with self._lock:
            self._targets[target] = dict(members)

    def lookup(self, target: str, principal: str) -> tuple[bool, str | None]:
        """(observed, value): whether `target` was read this run, and if so the principal's
        value (None: not a member)."""
        with self._lock:
            members = self._targets.get(target)
            if members is None:
                return False, None
            return True, members.get(principal_key(principal))

    def held(self, target: str) -> dict[str, str]:
        """What observe read of `target` (principal key -> value); empty when not read."""
        with self._lock:
            return dict(self._targets.get(target, {}))

    def key_of(self, target: str, value: str) -> tuple[bool, str | None]:
        """(observed, key): whether `target` was read this run, and if so the principal key of
        the member whose value is `value` (None: no such member)."""
        with self._lock:
            members = self._targets.get(target)
            if members is None:
                return False, None
            return True, next((k for k, v in members.items() if v == value), None)

    def note(self, target: str, principal: str, value: str | None) -> None:
        """A change this run made: `value` None for a removal."""
        with self._lock:
            members = self._targets.get(target)
            if members is None:
                return
            if value is None:
                members.pop(principal_key(principal), None)
            else:
                members[principal_key(principal)] = value
