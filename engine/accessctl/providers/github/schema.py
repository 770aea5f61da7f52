"""What a GitHub instance is configured with: its settings, the `target:` block of each target
kind, and the permissions its token needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accessctl.providers.target_schema import param, target_kind

# Repository roles, weakest first, by the names the REST API takes (and their role_name).
PERMISSIONS_ORDER = ("pull", "triage", "push", "maintain", "admin")
DEFAULT_WRITE_INTERVAL = 1.0

NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"
"""An organization or user login."""

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "base_url": {
            "type": "string",
            "format": "uri",
            "pattern": "^https?://",
            "default": "https://api.github.com",
            "description": "The REST API root: https://api.github.com, or "
                           "https://HOST/api/v3 for GitHub Enterprise Server.",
            "examples": ["https://api.github.com", "https://github.example.com/api/v3"],
        },
        "token_env": {
            "type": "string",
            "pattern": "^[A-Z_][A-Z0-9_]*$",
            "default": "GITHUB_TOKEN",
            "description": "Name of the environment variable holding the token (a GitHub App "
                           "installation token or a fine-grained personal access token). The "
                           "workflow's own GITHUB_TOKEN cannot manage teams or collaborators.",
            "examples": ["GITHUB_TOKEN", "ACCESSCTL_GITHUB_TOKEN"],
        },
        "write_interval": {
            "type": "number",
            "minimum": 0,
            "maximum": 60,
            "default": DEFAULT_WRITE_INTERVAL,
            "description": "Seconds to wait between mutating requests. GitHub asks for at least "
                           "one second to stay clear of its secondary rate limits.",
            "examples": [1.0, 2.5],
        },
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "team": target_kind(
        ["org", "team"],
        org=param("The organization's login.", ["acme"], type="string", pattern=NAME),
        team=param("The team's slug (as in its URL), not its display name. The principal "
                   "becomes a member (role `member`).", ["sre-oncall", "prod-deployers"],
                   type="string", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"),
    ),
    "repository": target_kind(
        ["owner", "repo", "permission"],
        owner=param("The repository owner: an organization or user login.", ["acme"],
                    type="string", pattern=NAME),
        repo=param("The repository name.", ["infra"],
                   type="string", pattern=r"^(?!\.\.?$)[A-Za-z0-9_.-]{1,100}$"),
        permission=param("The collaborator permission granted. A principal holds the target "
                         "when they are a direct collaborator (or invitee) with at least this "
                         "permission.", ["push", "maintain"],
                         type="string", enum=list(PERMISSIONS_ORDER)),
    ),
}

PERMISSIONS = """\
A GitHub App installed on the organization (preferred: short-lived installation tokens, minted in
the workflow) or a fine-grained personal access token of an organization owner, kept in a CI
secret and exposed as `GITHUB_TOKEN` (or the variable named by `token_env`). The workflow's own
`GITHUB_TOKEN` cannot manage teams or collaborators.

| GitHub App / fine-grained permission | access | why |
| --- | --- | --- |
| Organization: Members | read and write | team memberships (`team` targets) |
| Repository: Administration | read and write | collaborators (`repository` targets) |
| Repository: Metadata | read | implied by the above |

Give the repository permissions on the managed repositories only. Calls made:

| call | why |
| --- | --- |
| `GET /users/{username}` | resolve a login to its account id (404: no such user) |
| `GET /user/{account_id}` | the login of an account the engine granted, when not observed |
| GraphQL `team.members(membership: IMMEDIATE)` | observe direct members (not child teams') |
| `GET /orgs/{org}/teams/{slug}/invitations` | observe invitees |
| `GET .../teams/{slug}/team-sync/group-mappings`, `.../external-groups` | after a 403: IdP? |
| `GET /orgs/{org}/teams/{slug}/memberships/{username}` | read a membership: never demote |
| `PUT`, `DELETE /orgs/{org}/teams/{slug}/memberships/{username}` | grant, revoke |
| `GET /repos/{owner}/{repo}/collaborators?affiliation=direct` | observe collaborators |
| `GET /repos/{owner}/{repo}/invitations` | observe pending invitees |
| `GET /repos/{owner}/{repo}/collaborators/{username}/permission` | read a role: never lower |
| `GET /repos/{owner}/{repo}/collaborators/{username}` | is a collaborator (revoke) |
| `PUT /repos/{owner}/{repo}/collaborators/{username}` | grant (invites outside users) |
| `DELETE /repos/{owner}/{repo}/collaborators/{username}` | revoke; cancels an invitation |
"""
