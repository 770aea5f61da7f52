"""Read a repository (or a commit's files) into the model, collecting every finding on the way.

The only way files become model objects. It reads through a `FileSource` so that the same code
reads a working tree, a commit on the VCS, or files in memory in tests. The parts, by what they
read: `sources` (where files come from), `paths` (where each kind lives), `documents` (one YAML
file against its schema), `policies` (providers and schedules, and the whole of the policies),
`identities`, `entitlements` and `request_files`. This module puts them together and is what
the rest of the engine imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from accessctl.core.model import Finding, Policies, Request
from accessctl.read.paths import (
    ENTITLEMENTS_DIR,
    IDENTITIES_FILE,
    PROVIDERS_FILE,
    REQUESTS_DIR,
    SCHEDULES_DIR,
    YAML_SUFFIXES,
)
from accessctl.read.policies import load_policies
from accessctl.read.request_files import load_request, request_paths
from accessctl.read.sources import FileSource, MemorySource, TreeSource

__all__ = [
    "ENTITLEMENTS_DIR",
    "IDENTITIES_FILE",
    "PROVIDERS_FILE",
    "REQUESTS_DIR",
    "SCHEDULES_DIR",
    "YAML_SUFFIXES",
    "FileSource",
    "Loaded",
    "MemorySource",
    "TreeSource",
    "load_policies",
    "load_repository",
    "load_request",
    "request_paths",
]


@dataclass
class Loaded:
    policies: Policies | None
    requests: list[Request] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def load_repository(source: FileSource, only: Iterable[str] | None = None) -> Loaded:
    """Policies and requests (all of them, or only the given paths), with every finding."""
    policies, found = load_policies(source)
    requests: list[Request] = []
    paths = request_paths(source) if only is None else sorted(set(only))
    for path in paths:
        request, problems = load_request(source, path)
        found.extend(problems)
        if request is not None:
            requests.append(request)
    if isinstance(source, TreeSource):
        found.extend(source.refused)
    return Loaded(policies, requests, found)
