"""`--skip-approval` (apply, revoke): grants without verified approval, for a laptop only.

The option is hidden from --help, refused whenever the environment the CLI was given says it
runs in CI, warned about on every use, and every audit event of such a run carries
`approval_skipped: true` (change/audit.py), so that no line of it can pass for a verified one.
"""

from __future__ import annotations

from collections.abc import Mapping

from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError

CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI")
"""Set to a truthy value by GitHub Actions, GitLab CI and most other CI systems."""

NOT_SET = frozenset({"", "0", "false", "no", "off"})


def ci_variable(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The first CI variable set, with its value. Any value but an explicit no counts as set:
    refusing too often is the safe mistake."""
    for name in CI_VARIABLES:
        value = environ.get(name)
        if value is not None and value.strip().casefold() not in NOT_SET:
            return name, value
    return None


def check(env: Environment, grants: bool) -> None:
    """Refuse in CI (judged by the injected environment, not this process's own, so that tests
    and the demo decide it); otherwise warn."""
    found = ci_variable(env.environ)
    if found is not None:
        name, value = found
        shown = " ".join(value.split())[:40]
        raise ConfigError(
            f"--skip-approval is refused in CI ({name}={shown} is set): it would grant without "
            "verified approval; CI verifies approvals from the pull request's reviews")
    effect = ("every valid active request is treated as approved" if grants
              else "revoke grants nothing, so only the audit is marked")
    env.stderr.write(f"warning: --skip-approval: approval was not verified: {effect}; every "
                     "audit event of this run carries approval_skipped: true (local testing "
                     "only)\n")
