"""Typed registry of platforms. Modules are imported only when a policy uses their platform."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Final, cast

from accessctl.providers.base import ProviderModule

PLATFORMS: Final[dict[str, str]] = {
    "aws": "accessctl.providers.aws",
    "entra": "accessctl.providers.entra",
    "gcp": "accessctl.providers.gcp",
    "okta": "accessctl.providers.okta",
    "ad": "accessctl.providers.ad",
    "github": "accessctl.providers.github",
    "gitlab": "accessctl.providers.gitlab",
}


def load_module(platform: str) -> ProviderModule:
    """The provider module for a platform key. Its SDK is not imported until it is used."""
    try:
        dotted = PLATFORMS[platform]
    except KeyError:
        known = ", ".join(sorted(PLATFORMS))
        raise KeyError(f"unknown platform {platform!r}; known: {known}") from None
    return cast(ProviderModule, importlib.import_module(dotted))


def available_platforms() -> list[str]:
    """Platforms whose module is present in this installation."""
    return [p for p, dotted in PLATFORMS.items() if importlib.util.find_spec(dotted) is not None]
