"""Entra ID PIM for Groups assignments (native expiry) on the Graph emulator, via msgraph-sdk."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conformance.backends.entra import EntraBackend, running


@contextmanager
def backend() -> Iterator[EntraBackend]:
    with running("pim_group") as made:
        yield made
