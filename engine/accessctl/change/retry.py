"""Retrying platform calls: exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from accessctl.providers.base import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, error: ProviderError, rng: random.Random) -> float:
        """How long to wait before retry number `attempt` (1-based)."""
        if error.retry_after is not None:
            # The platform said when: waiting less only earns another 429.
            return min(max(error.retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)


DEFAULT_POLICY = RetryPolicy()


def call_with_retry(
    call: Callable[[], T],
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run `call`, retrying retryable `ProviderError`s up to `policy.attempts` times in all."""
    generator = rng or random.Random()
    attempt = 1
    while True:
        try:
            return call()
        except ProviderError as error:
            if not error.retryable or attempt >= policy.attempts:
                raise
            sleep(policy.delay(attempt, error, generator))
            attempt += 1
