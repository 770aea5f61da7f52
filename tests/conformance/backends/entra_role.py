"""Entra ID directory role assignment schedules (native expiry) on the Graph emulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conformance.backends.entra import EntraBackend, running


@contextmanager
def backend() -> Iterator[EntraBackend]:
    with running("directory_role") as made:
        yield made
