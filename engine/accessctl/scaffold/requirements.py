"""requirements.txt of an access repository: the engine, pinned, with the extras its provider
instances need. The workflows install it with `pip install -r requirements.txt`, so the version
lives in one file that Dependabot or Renovate can update; a lock with hashes (any line with
`--hash=`) is the owner's to keep and is never rewritten."""

from __future__ import annotations

import re
from collections.abc import Iterable

PIN = re.compile(r"^\s*accessctl(?:\[[a-z,\s]*\])?\s*==\s*([0-9][0-9A-Za-z.+!-]*)\s*$", re.M)

HEADER = """\
# The engine the workflows install (pip install -r requirements.txt), pinned to one version.
# The extras follow policies/providers.yaml (`accessctl workflows --write` keeps them current);
# change the version here, or let Dependabot or Renovate do it.
"""


def is_lock(text: str) -> bool:
    """A file with hashes: the owner's lock, which the engine leaves alone."""
    return "--hash=" in text


def pinned_version(text: str) -> str | None:
    match = PIN.search(text)
    return match[1] if match else None


def render(extras: Iterable[str], version: str) -> str:
    return HEADER + f"accessctl[{','.join(sorted(set(extras)))}]=={version}\n"
