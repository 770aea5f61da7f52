"""Checks `validate` makes on the repository as a whole, beyond each file on its own.

- Generated CI files that policies/providers.yaml has outrun (commands/workflows.py).
- No CODEOWNERS at all: approvals cannot be judged, so every merged request would be denied
  (a warning on stderr: there is no file to pin it to).
- Teams the policies name that nobody can resolve: neither in identities.yaml nor on the VCS. A
  misspelt approver team otherwise passes validate and only fails when access is needed. The
  VCS is asked only with a token that can read teams (ACCESSCTL_VCS_TOKEN, or a personal token
  outside CI: the Actions workflow token cannot read organisation teams, and its "not found"
  would be a false alarm); without one, a team close to a known one is reported as a likely typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from accessctl.approval.codeowners import COMMAND as CODEOWNERS_COMMAND
from accessctl.approval.codeowners import LOCATIONS
from accessctl.core.model import Entitlement, Finding, Location, Policies, Severity
from accessctl.read.load import IDENTITIES_FILE

TeamCheck = Callable[[str], frozenset[str] | None]


def findings(repo: Path, policies: Policies, environ: Mapping[str, str]) -> list[Finding]:
    from accessctl.commands.workflows import findings_for

    return [*findings_for(repo, policies), *_teams(repo, policies, _vcs_teams(environ))]


def warnings(repo: Path) -> list[str]:
    """What is wrong with the repository rather than with a file in it (said on stderr: there
    is no file and line to pin it to)."""
    places = dict.fromkeys(p for paths in LOCATIONS.values() for p in paths)
    if any((repo / p).is_file() for p in places):
        return []
    return ["no CODEOWNERS file (looked for " + ", ".join(places) + "): without it no approval "
            "counts and every merged request is denied; run "
            f"'{CODEOWNERS_COMMAND}' (add --vcs gitlab on GitLab) and commit the result"]


def _vcs_teams(environ: Mapping[str, str]) -> tuple[str, TeamCheck] | None:
    """(VCS name, team lookup) when a token that can read teams is at hand, else None."""
    from accessctl.approval.vcs.select import detect

    kind = detect(environ)
    if kind not in ("github", "gitlab"):
        return None
    in_actions = environ.get("GITHUB_ACTIONS") == "true" or environ.get("GITLAB_CI") == "true"
    if in_actions and not environ.get("ACCESSCTL_VCS_TOKEN"):
        return None
    from accessctl.approval.vcs.select import from_environment
    from accessctl.core.errors import ConfigError

    try:
        vcs = from_environment(environ, kind)
    except ConfigError:
        return None  # no token: nothing to ask with
    return ("GitHub" if kind == "github" else "GitLab"), vcs.team_members


def _named_teams(entitlement: Entitlement) -> Iterable[str]:
    groups = [entitlement.eligible, entitlement.approvers, *entitlement.approvers_all_of]
    return (name for group in groups for name in group if name.startswith("@"))


def _line_of(repo: Path, location: Location, text: str) -> Location:
    """The first line of the file that names `text` (the model keeps the file, not the entry)."""
    try:
        lines = (repo / location.path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return location
    for number, line in enumerate(lines, start=1):
        column = line.find(text)
        if column >= 0:
            return Location(location.path, number, column + 1)
    return location


def _teams(repo: Path, policies: Policies, vcs: tuple[str, TeamCheck] | None) -> list[Finding]:
    known = sorted(policies.teams)
    places: dict[str, list[Location]] = {}
    for entitlement in policies.entitlements.values():
        for team in _named_teams(entitlement):
            if team.casefold() not in policies.teams:
                places.setdefault(team, []).append(_line_of(repo, entitlement.location, team))
    for team in policies.admins:
        if team.startswith("@") and team.casefold() not in policies.teams:
            places.setdefault(team, []).append(_line_of(repo, Location(IDENTITIES_FILE), team))
    found = []
    for team, locations in sorted(places.items()):
        close = difflib.get_close_matches(team.casefold(), known, n=1, cutoff=0.8)
        guess = f": did you mean {close[0]}?" if close else ""
        if vcs is None:
            if not close:
                continue  # resolved from the VCS at apply; nothing here says it is wrong
            message = (f"team {team} is not in {IDENTITIES_FILE}, and without a token that can "
                       f"read teams (ACCESSCTL_VCS_TOKEN) it cannot be checked on the VCS"
                       f"{guess}")
            found += [Finding(where, "team-unchecked", message, Severity.WARNING)
                      for where in locations]
            continue
        name, members = vcs
        try:
            exists = members(team) is not None
        except Exception as error:  # an unreachable VCS is a warning: the file may be right
            found += [Finding(where, "team-unchecked",
                              f"team {team} could not be checked on {name}: "
                              f"{type(error).__name__}: {error}", Severity.WARNING)
                      for where in locations]
            continue
        if not exists:
            found += [Finding(where, "unknown-team",
                              f"team {team} is neither in {IDENTITIES_FILE} nor a team on "
                              f"{name}{guess}") for where in locations]
    return found
