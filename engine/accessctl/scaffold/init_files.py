"""The files `accessctl init` lays out: a working access repository with no engine inside.

Policies for the chosen platforms (one instance and one example entitlement each), identities
with two example people, a policy test per entitlement, a README for the people who ask for
access, a pull request template and a .gitignore. CODEOWNERS, the workflows, the engine's lock
and schemas/ are generated from these by the commands that keep them current, so that they
pass their own checks from the first commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PLATFORMS = ("aws", "okta", "gcp", "entra", "github", "gitlab", "ad")
ORG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
NOW = "2030-01-07T10:00:00Z"
"""When the example policy tests are judged: a fixed time, so that they read the same every day."""


@dataclass(frozen=True)
class Example:
    instance: str
    provider: str
    """The instance's lines under `providers:` (indented four spaces)."""
    entitlement: str
    description: str
    target: str
    """The target's lines (indented two spaces, after `target:`)."""
    max_duration: str
    identity: str
    """alice's identity on the platform ({login} is replaced)."""


EXAMPLES: dict[str, Example] = {
    "aws": Example(
        "aws-prod", "    platform: aws\n    region: eu-west-1  # IAM is global; Identity Center "
        "is regional\n",
        "aws-prod-admin", "Membership of the prod-admins IAM group, for incidents.",
        "  kind: iam_group\n  group: prod-admins\n", "4h", "{login}"),
    "okta": Example(
        "okta-main", "    platform: okta\n    org_url: https://example.okta.com  # your org\n"
        "    # The recommended service app (docs/platforms/okta.md); its private key is the CI\n"
        "    # secret OKTA_PRIVATE_KEY.\n    auth: private_key\n"
        "    client_id: 0oaREPLACEWITHYOURAPP  # the service app's client id\n",
        "okta-prod-vpn", "Membership of the Okta group that the production VPN admits.",
        "  kind: group\n  group: prod-vpn-users\n", "8h", "{login}@example.com"),
    "gcp": Example(
        "gcp-main", "    platform: gcp\n",
        "gcp-prod-viewer", "Viewer on the production project.",
        "  kind: iam_binding\n  resource: projects/example-prod\n  role: roles/viewer\n", "1d",
        "{login}@example.com"),
    "entra": Example(
        "entra-main", "    platform: entra\n    # Workload identity: AZURE_CLIENT_ID and "
        "AZURE_TENANT_ID are CI variables.\n",
        "entra-ops-group", "Membership of the Entra ID operations group.",
        "  kind: group\n  group: 00000000-0000-0000-0000-000000000000  # the group's object id\n",
        "8h", "{login}@example.com"),
    "github": Example(
        "github-org", "    platform: github\n    # The job mints the GitHub App's token into this "
        "variable (CI: ACCESSCTL_APP_PRIVATE_KEY, ACCESSCTL_APP_CLIENT_ID).\n"
        "    token_env: ACCESSCTL_GITHUB_TOKEN\n",
        "github-infra-maintain", "Maintain on the infra repository, to cut releases.",
        "  kind: repository\n  owner: {org}\n  repo: infra\n  permission: maintain\n", "8h",
        "{login}"),
    "gitlab": Example(
        "gitlab-main", "    platform: gitlab\n    # A token that may manage memberships (CI "
        "secret GITLAB_TOKEN).\n",
        "gitlab-infra-maintainer", "Maintainer on the infra project, to fix a broken pipeline.",
        "  kind: project\n  project: {org}/infra\n  access_level: maintainer\n", "8h",
        "{login}"),
    "ad": Example(
        "ad-corp", "    platform: ad\n    url: ldaps://dc1.corp.example.com:636\n"
        "    base_dn: DC=corp,DC=example,DC=com\n"
        "    bind_dn: svc-accessctl@corp.example.com  # password: CI secret AD_BIND_PASSWORD\n",
        "ad-sql-admins", "Membership of the AD group that administers the SQL Servers.",
        "  kind: group\n  group: jit-sql-admins\n", "8h", "{login}"),
}


def files(platforms: Sequence[str], vcs: str, org: str) -> dict[str, str]:
    """path -> text, for the chosen platforms (in the order given)."""
    unique = list(dict.fromkeys(platforms))
    chosen = [EXAMPLES[p] for p in unique]
    return {
        "policies/providers.yaml": _providers(chosen),
        "policies/identities.yaml": _identities(unique, org, vcs),
        **{f"policies/entitlements/{e.entitlement}.yaml": _entitlement(e, org) for e in chosen},
        "policies/tests/examples.yaml": _tests(chosen),
        "README.md": _readme(chosen, vcs, org),
        _template_path(vcs): _pull_request_template(vcs),
        ".gitignore": "# The engine's local audit file and state (CI keeps its own).\n"
                      ".accessctl/\n",
    }


def _template_path(vcs: str) -> str:
    return (".github/pull_request_template.md" if vcs == "github"
            else ".gitlab/merge_request_templates/Default.md")


def _providers(chosen: Sequence[Example]) -> str:
    return ("# yaml-language-server: $schema=../schemas/providers.schema.json\n"
            "# Connection settings per platform instance. Never secrets: credentials come from "
            "CI\n# (OIDC, or one secret per instance). After changing this file run\n"
            "# `accessctl workflows --write`: it writes one CI job per instance.\nproviders:\n"
            + "".join(f"  {e.instance}:\n{e.provider}" for e in chosen))


def _identities(platforms: Sequence[str], org: str, vcs: str) -> str:
    def person(login: str) -> str:
        lines = "".join(f"    {p}: {EXAMPLES[p].identity.format(login=login)}\n"
                        for p in platforms)
        return f"  {login}:\n{lines}"

    return ("# yaml-language-server: $schema=../schemas/identities.schema.json\n"
            "# Who is who: each VCS login, and that person's identity on each platform.\n"
            "# alice and bob are examples: replace them with your people.\npeople:\n"
            + person("alice") + person("bob")
            + "\n# Teams resolved without asking the VCS. Remove a team here to have it read from"
            f"\n# the VCS instead (that needs ACCESSCTL_VCS_TOKEN, see docs/ci.md).\nteams:\n"
            f'  "@{org}/sre": [alice]\n  "@{org}/security": [bob]\n\n'
            "# Code owners of policies/, schemas/, CI and everything else that is not a "
            f'request.\nadmins:\n  - "@{org}/security"\n' + (
                "\n# The GitHub App whose bot opens the pull request for an access request issue "
                "(the\n# request-from-issue workflow), as <app-slug>[bot]; the issue's author is "
                f'the requester.\n# request_bots: ["{org}-access[bot]"]\n'
                if vcs == "github" else ""))


def _entitlement(example: Example, org: str) -> str:
    return (f"# yaml-language-server: $schema=../../schemas/entitlement.schema.json\n"
            f"name: {example.entitlement}\ndescription: {example.description}\n"
            f"provider: {example.instance}\ntarget:\n{example.target.format(org=org)}"
            f'eligible: ["@{org}/sre"]\napprovers: ["@{org}/security"]\napprovals: 1\n'
            f"max_duration: {example.max_duration}\nrequire_ticket: true\n"
            f'ticket_pattern: "^(INC|CHG)-[0-9]+$"\n')


def _tests(chosen: Sequence[Example]) -> str:
    cases = []
    for e in chosen:
        request = (f"        requester: alice\n        entitlement: {e.entitlement}\n"
                   f"        reason: Investigate INC-1001\n        ticket: INC-1001\n"
                   f"        expires_at: 2030-01-07T12:00:00Z\n")
        path = f"access-requests/{e.entitlement}/alice-inc-1001.yaml"
        cases.append(
            f"  - name: an SRE gets {e.entitlement} with a security approval\n"
            f"    now: {NOW}\n    approvals: [bob]\n    files:\n      {path}: |\n{request}"
            f"    expect: allow\n\n"
            f"  - name: nobody approves their own {e.entitlement} request\n"
            f"    now: {NOW}\n    approvals: [alice]\n    files:\n      {path}: |\n{request}"
            f"    expect: deny\n    reason: the requester cannot approve\n")
    return ("# Policy test cases: `accessctl test` runs them (and CI should). Each case's files "
            "are\n# requests, merged by their requester and approved by `approvals`.\ncases:\n"
            + "\n".join(cases))


def _readme(chosen: Sequence[Example], vcs: str, org: str) -> str:
    pull = "pull request" if vcs == "github" else "merge request"
    rows = "\n".join(f"| `{e.entitlement}` | {e.description} | `@{org}/security` | "
                     f"{e.max_duration} |" for e in chosen)
    first = chosen[0].entitlement
    return f"""\
# Access requests

Nobody here holds standing access to production. When you need some, ask for it here: you open
a {pull} that adds one small file, the approvers of that access review it, and it is granted
when the {pull} merges. It is taken away on its own when the time you asked for is up.

## What you can ask for

| entitlement | what it gives | approved by | at most |
| --- | --- | --- | --- |
{rows}

Each entitlement is described in `policies/entitlements/<name>.yaml` (who may ask, who
approves, how long it may last).

## How to ask

With the command line (`pip install -r requirements.txt`, the engine's lock, or `pip install
accessctl`):

```sh
accessctl request {first} --for 2h --reason "Investigate INC-1234" --ticket INC-1234
```

It writes the file, checks it, pushes a branch and opens the {pull}. Or by hand: add
`access-requests/{first}/<your-login>-<something>.yaml`:

```yaml
requester: your-login            # your {vcs} login; you must be the {pull}'s author
entitlement: {first}
reason: Investigate INC-1234 elevated 5xx on checkout
ticket: INC-1234
expires_at: 2030-01-07T12:00:00Z # RFC 3339 with an offset; within the maximum above
```

and open a {pull}. A check comments on anything wrong, on the line.
{_issue_way(vcs)}
## Who approves

The approvers of the entitlement, as code owners of its directory under `access-requests/`
(`CODEOWNERS` is generated from the policies). You can never approve your own request.

## How it ends

At `expires_at`, a scheduled job removes the access (within about 15 minutes). To end it
early, delete your file or set an earlier `expires_at` in a new {pull}.

## For the people who run this repository

- Policies are in `policies/`; after changing them run `accessctl codeowners --write` and, after
  changing `policies/providers.yaml`, `accessctl workflows --write`; commit what they write.
- `accessctl validate` checks everything; `accessctl test` runs `policies/tests/`.
- CI credentials, one per platform instance: see the engine's `docs/ci.md`.
"""


def _issue_way(vcs: str) -> str:
    if vcs != "github":
        return ""
    return """
Or without git: open a new issue from the **Access request** form (entitlement, duration,
reason, ticket). A bot turns it into the pull request for you, with you as the requester, and
comments its link on the issue; a problem with what you asked is commented there too (edit the
issue to fix it). Once the pull request is open it is the request: editing the issue changes
nothing. The issue is closed when the pull request is merged or closed.
"""


def _pull_request_template(vcs: str) -> str:
    pull = "pull request" if vcs == "github" else "merge request"
    return f"""\
<!-- Access request: add one file, access-requests/<entitlement>/<your-login>-<slug>.yaml -->

**What for:** <!-- the incident, change or task, as in the file's reason and ticket -->

- [ ] One request file, under the directory of the entitlement it names
- [ ] `requester` is my login, and I am this {pull}'s author
- [ ] `expires_at` is no later than I need (and within the entitlement's maximum)

Approval comes from the entitlement's approvers (CODEOWNERS); the check on this {pull} says
who they are and whether anything is wrong.
"""
