from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance import backends

PLATFORM_MODULES = sorted(m.name for m in pkgutil.iter_modules(backends.__path__))


@pytest.fixture(
    scope="module",
    params=[pytest.param(m, marks=pytest.mark.samba) if m == "ad" else m for m in PLATFORM_MODULES],
)
def backend(request: pytest.FixtureRequest) -> Iterator[Any]:
    module = importlib.import_module(f"tests.conformance.backends.{request.param}")
    with module.backend() as made:
        yield made
