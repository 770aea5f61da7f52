"""Whether the VCS token may do what a run asks of it, checked once at the start of the run.

`ACCESSCTL_VCS_TOKEN` (else the workflow's token) makes every VCS call of a run: commits, files,
pull requests, reviews, comments, review requests, team members. A token without one of those
permissions otherwise fails half-way, as a bare 403 on whichever call came first, or worse, as a
team that "could not be read" and approvals that silently do not count. So each command that
uses the VCS asks first, with one call, and names what is missing: a GraphQL query that reads one
item behind each permission (GitHub; GraphQL's rate limit, not the REST one the run spends), or
the call that lists the token's scopes (GitLab).

GitHub needs: Contents read, Pull requests read (write where the engine comments or asks for
reviews: validate, apply), Members read when approver teams are not listed in identities.yaml,
Issues read when identities.yaml declares `request_bots` (docs/requesting.md).
A write cannot be tried without writing, so only the reads are checked there. GitLab needs the
`read_api` scope, `api` where the engine writes notes or approvals.
"""

from __future__ import annotations

from collections.abc import Iterable

from accessctl.approval.vcs.base import Vcs
from accessctl.core.errors import ConfigError
from accessctl.core.model import Policies

TOKEN_VARIABLES = {"github": "ACCESSCTL_VCS_TOKEN or GITHUB_TOKEN",
                   "gitlab": "ACCESSCTL_VCS_TOKEN or GITLAB_TOKEN"}


def teams_asked(policies: Policies | None) -> list[str]:
    """The `@org/team` names a run will ask the VCS for: approvers, eligibility and admins that
    identities.yaml does not list itself."""
    if policies is None:
        return []
    names: set[str] = set()

    def add(found: Iterable[str]) -> None:
        names.update(n for n in found if n.startswith("@") and "/" in n
                     and n.casefold() not in policies.teams)

    for entitlement in policies.entitlements.values():
        add(entitlement.approvers)
        add(entitlement.eligible)
        for group in entitlement.approvers_all_of:
            add(group)
    add(policies.admins)
    return sorted(names, key=str.casefold)


def missing(vcs: Vcs, policies: Policies | None, writes: bool) -> list[str]:
    """What the run needs that the token lacks, each naming the permission ([] when all is
    there, or when the adapter cannot tell)."""
    probe = getattr(vcs, "missing_permissions", None)
    if probe is None:
        return []
    teams = teams_asked(policies)
    # A request a declared bot opened is judged by who opened its issue: Issues: read.
    issues = policies is not None and bool(policies.request_bots)
    found: list[str] = probe(teams[0] if teams else None, writes, issues=issues)
    return found


def require(vcs: Vcs, policies: Policies | None, writes: bool) -> None:
    """Stop the run before its first real call (exit 2) when the token lacks a permission."""
    problems = missing(vcs, policies, writes)
    if problems:
        variable = TOKEN_VARIABLES.get(vcs.kind, "the VCS token")
        raise ConfigError(f"the {vcs.kind} token ({variable}) lacks "
                          + "; and ".join(problems)
                          + ": grant it (docs/ci.md, \"The VCS token's permissions\") and run "
                            "again")


def warn(vcs: Vcs, policies: Policies | None, writes: bool) -> list[str]:
    """The same check for a run that must go on regardless (the revoke sweep takes access away
    whatever the VCS says): the lines to print as warnings."""
    variable = TOKEN_VARIABLES.get(vcs.kind, "the VCS token")
    return [f"the {vcs.kind} token ({variable}) lacks {problem}"
            for problem in missing(vcs, policies, writes)]
