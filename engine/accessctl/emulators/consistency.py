"""Eventual consistency of membership listings, as the platforms have it.

Okta, Entra, GitHub and GitLab serve member listings from replicas or caches: a member just added
may be missing from the listing for a while, and one just removed may still be listed. The write
itself and a read of that one membership are not affected. Emulators call `wrote` on each
membership write and pass their listing through `listed`; `seconds` (0: off) is how long a write
takes to show. Tests set it to see that the engine neither repeats a write nor records it twice
when the next run's listing has not caught up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterable
from typing import Any


class ListingLag:
    def __init__(self) -> None:
        self.seconds = 0.0
        self._recent: dict[tuple[Hashable, Hashable], tuple[bool, float, Any]] = {}
        self._lock = threading.Lock()

    def wrote(self, container: Hashable, key: Hashable, present: bool, item: Any = None) -> None:
        """A membership write: `key` is now (`present`) or no longer a member of `container`;
        `item` is what the listing showed for a removed member, to show it a while longer."""
        if self.seconds <= 0:
            return
        with self._lock:
            self._recent[(container, key)] = (present, time.monotonic(), item)

    def catch_up(self) -> None:
        """Every listing shows every write made so far (as after the lag has passed)."""
        with self._lock:
            self._recent.clear()

    def listed(self, container: Hashable, items: Iterable[tuple[Hashable, Any]]) -> list[Any]:
        """What the listing shows of `items` ((key, item) pairs, the truth) right now."""
        now = time.monotonic()
        with self._lock:
            recent = {k: v for k, v in self._recent.items() if now - v[1] < self.seconds}
        shown, keys = [], set()
        for key, item in items:
            keys.add(key)
            written = recent.get((container, key))
            if written is not None and written[0]:
                continue  # added lately: not listed yet
            shown.append(item)
        for (where, key), (present, _, item) in recent.items():
            if where == container and not present and key not in keys and item is not None:
                shown.append(item)  # removed lately: still listed
        return shown
