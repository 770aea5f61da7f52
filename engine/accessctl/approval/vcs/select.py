"""Pick the VCS adapter from the CI environment (or an explicit choice)."""

from __future__ import annotations

from collections.abc import Mapping

from accessctl.approval.vcs.base import Vcs
from accessctl.core.errors import ConfigError


def detect(environ: Mapping[str, str]) -> str | None:
    if environ.get("ACCESSCTL_VCS"):
        return environ["ACCESSCTL_VCS"]
    if environ.get("GITHUB_ACTIONS") == "true" or environ.get("GITHUB_REPOSITORY"):
        return "github"
    if environ.get("GITLAB_CI") == "true" or environ.get("CI_PROJECT_ID"):
        return "gitlab"
    return None


def choose(environ: Mapping[str, str], kind: str | None = None) -> str:
    """"github" or "gitlab": the explicit choice, else the one the CI environment names."""
    chosen = kind or detect(environ)
    if chosen is not None and chosen in ("github", "gitlab"):
        return chosen
    raise ConfigError(
        "approvals cannot be verified: no VCS found (set GITHUB_REPOSITORY and GITHUB_TOKEN, "
        "or CI_PROJECT_ID and a GitLab token, or pass --vcs); --skip-approval is for local "
        "testing only"
    )


def from_environment(environ: Mapping[str, str], kind: str | None = None) -> Vcs:
    chosen = choose(environ, kind)
    if chosen == "github":
        from accessctl.approval.vcs import github as github_vcs

        return github_vcs.from_environment(environ)
    from accessctl.approval.vcs import gitlab as gitlab_vcs

    return gitlab_vcs.from_environment(environ)
