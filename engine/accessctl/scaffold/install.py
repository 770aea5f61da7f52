"""How a generated job gets the engine: from the checkout (the engine's own repository), from
the access repository's lock with hashes, or through the engine's GitHub Action or GitLab CI/CD
component; and which extras a platform's job installs. Shared by the GitHub workflows and the
GitLab pipeline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from accessctl.scaffold import requirements

ACTION_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}@[0-9a-f]{40}$")
"""The engine's GitHub Action, pinned to a full commit: OWNER/REPO@SHA."""

PLATFORM_EXTRA = {"aws": "aws", "gcp": "gcp", "entra": "entra", "okta": "okta", "ad": "ad",
                  "github": "github", "gitlab": "gitlab"}

PLATFORM_LOCKS = frozenset({"aws", "gcp", "entra", "okta", "ad"})
"""The platforms with a lock of their own under action/locks/ (`accessctl lock` in the engine's
repository); GitHub, GitLab and PagerDuty are in every lock, and in base.txt."""


@dataclass(frozen=True)
class Install:
    """How a job gets the engine: from this checkout (the engine's own repository), from the
    lock with hashes (requirements.txt of an access repository), or, with `action` set, from the
    engine's GitHub Action at a pinned commit (the access repository then holds no lock either);
    `component` is GitLab's counterpart (gitlab_ci.py)."""

    from_source: bool
    action: str | None = None
    """OWNER/REPO@SHA, optionally followed by ` # comment` (a version, for Dependabot)."""
    component: str | None = None

    def command(self, extras: Sequence[str]) -> str:
        if self.from_source:
            # The engine's own repository: its dependencies from the action's lock for the
            # platform, with hashes, wheels only; then the engine from this checkout, alone.
            lock = next((f"action/locks/{e}.txt" for e in extras if e in PLATFORM_LOCKS),
                        "action/locks/base.txt")
            return (f"python -m pip install --quiet --require-hashes --no-deps "
                    f"--only-binary ':all:' -r {lock} && python -m pip install --quiet --no-deps .")
        return requirements.INSTALL

    @property
    def uses_lock(self) -> bool:
        """The repository carries the engine's lock (requirements.in and .txt): every way but
        from source and the GitHub Action (GitLab's component installs the repository's lock,
        since a component brings no files of its own)."""
        return not self.from_source and self.action is None


def extras_for(platform: str, vcs: bool) -> list[str]:
    """The extras a job for `platform` installs (with the GitHub one where it reads the VCS)."""
    extra = PLATFORM_EXTRA[platform]
    return [extra] if not vcs or extra == "github" else [extra, "github"]
