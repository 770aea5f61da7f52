"""GitHub's contract: the REST API description (github-rest-subset.json, cut by cut_subset.py
from `@octokit/openapi` 23.0.2 `generated/api.github.com.json`, GitHub's own description)."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from accessctl.emulators.http import Request, Response

from tests.contracts.openapi import OpenApiContract

FILE = Path(__file__).parent / "github-rest-subset.json"

# Statuses GitHub answers on any endpoint, each where GitHub documents it for all of them.
GLOBAL_STATUSES = {
    401: "docs.github.com/rest/authentication: a missing or bad token, on every endpoint",
    403: "docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api: a primary or "
         "secondary rate limit (also: a token without the permission)",
    404: "docs.github.com/rest/authentication: a resource the token may not see is answered "
         "404, not 403, on every endpoint",
    429: "docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api: secondary rate "
         "limit",
    500: "docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api: server error",
    502: "docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api",
    503: "docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api",
}

ALIASES = {
    # The `url` GitHub gives a team is this undocumented legacy form (by numeric ids); PyGithub
    # follows it. It answers as the documented route by org and slug does.
    r"^/organizations/([^/]+)/team/([^/]+)": r"/orgs/\1/teams/\2",
    # An empty `path` lists the repository's root (the description's own words on `path`).
    r"^(/repos/[^/]+/[^/]+/contents)/?$": r"\1/.",
}

MULTI_SEGMENT = {
    "/repos/{owner}/{repo}/contents/{path}": frozenset({"path"}),
    "/repos/{owner}/{repo}/git/ref/{ref}": frozenset({"ref"}),
    "/repos/{owner}/{repo}/git/refs/{ref}": frozenset({"ref"}),
    "/repos/{owner}/{repo}/branches/{branch}": frozenset({"branch"}),
}


def _every_error_names_its_docs(request: Request, response: Response) -> list[str]:
    # The description's `basic-error` requires nothing; GitHub sends both on every error.
    body = response.body
    if response.status >= 400 and not (
            isinstance(body, dict) and isinstance(body.get("message"), str)
            and isinstance(body.get("documentation_url"), str)):
        return [f"a GitHub error body carries `message` and `documentation_url`: {body!r}"]
    return []


@cache
def _spec() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(FILE.read_text(encoding="utf-8"))
    return loaded


GRAPHQL_PATH = "/api/graphql"
"""GitHub's GraphQL endpoint (GHES: /api/graphql), outside the REST description. The engine sends
one query there: a team's immediate members (providers/github.py IMMEDIATE_MEMBERS)."""

# The GraphQL types the query reads, as GitHub's public schema documents them
# (docs.github.com/graphql/reference: Organization.team(slug), Team.members(first, after,
# membership: TeamMembershipType = IMMEDIATE | CHILD_TEAM | ALL), TeamMemberConnection.nodes
# (User), User.login (String!), User.databaseId (Int), PageInfo.hasNextPage (Boolean!),
# PageInfo.endCursor (String)).
_GRAPHQL_QUERY = re.compile(
    r"organization\(login:\s*\$org\)\s*\{\s*team\(slug:\s*\$team\)\s*\{\s*members\("
    r"first:\s*\d+,\s*after:\s*\$after,\s*membership:\s*(IMMEDIATE|CHILD_TEAM|ALL)\)")


def _graphql(request: Request, response: Response) -> list[str]:
    """The one GraphQL call, checked against the schema's types for the fields it reads."""
    body = request.json() if request.body else None
    problems: list[str] = []
    if request.method != "POST" or not isinstance(body, dict) \
            or not isinstance(body.get("query"), str):
        return [f"GraphQL: {request.method} {GRAPHQL_PATH} takes a POST of {{query, variables}}"]
    if not _GRAPHQL_QUERY.search(body["query"]):
        problems.append("GraphQL: not the team members query the contract knows")
    answer = response.body
    if response.status != 200 or not isinstance(answer, dict):
        return [*problems, f"GraphQL answers 200 with a JSON object, not {response.status}"]
    team = ((answer.get("data") or {}).get("organization") or {}).get("team")
    if team is None:
        return problems  # null organization or team: GraphQL's NOT_FOUND, with `errors`
    members = team.get("members") if isinstance(team, dict) else None
    if not isinstance(members, dict) or not isinstance(members.get("nodes"), list) \
            or not isinstance(members.get("pageInfo"), dict):
        return [*problems, "GraphQL: members needs nodes and pageInfo"]
    for node in members["nodes"]:
        if not isinstance(node, dict) or not isinstance(node.get("login"), str) or (
                "databaseId" in node and not isinstance(node["databaseId"], int)):
            problems.append(f"GraphQL: a User node has login (String!), databaseId (Int): {node}")
    info = members["pageInfo"]
    if not isinstance(info.get("hasNextPage"), bool):
        problems.append("GraphQL: PageInfo.hasNextPage is a Boolean!")
    return problems


_IDP_ROUTES = {
    # Read only after a 403 on a team membership change, to name the IdP group; both are in
    # GitHub's REST description upstream (not yet in the cut subset), method and path checked.
    re.compile(r"^/api/v3/orgs/[^/]+/teams/[^/]+/team-sync/group-mappings$"):
        "docs.github.com/enterprise-cloud@latest/rest/teams/team-sync",
    re.compile(r"^/api/v3/orgs/[^/]+/teams/[^/]+/external-groups$"):
        "docs.github.com/enterprise-cloud@latest/rest/teams/external-groups",
}


class _WithGraphQL:
    """The REST description, and the one GraphQL query beside it."""

    def __init__(self, rest: OpenApiContract) -> None:
        self.rest = rest

    def __getattr__(self, name: str) -> object:
        return getattr(self.rest, name)

    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        if request.path == GRAPHQL_PATH:
            if injected or response.status in GLOBAL_STATUSES:
                return []  # a bad token or a rate limit answers GraphQL as it does REST
            return _graphql(request, response)
        if request.method == "GET" and any(p.match(request.path) for p in _IDP_ROUTES):
            return [] if response.status in (200, *GLOBAL_STATUSES) else [
                f"{request.path}: status {response.status} not documented"]
        return self.rest.check(request, response, injected)


def contract() -> OpenApiContract:
    return _WithGraphQL(_contract())  # type: ignore[return-value]


@cache
def _contract() -> OpenApiContract:
    return OpenApiContract(
        _spec(), name="GitHub", prefix="/api/v3", global_statuses=GLOBAL_STATUSES,
        error_schema={"$ref": "#/components/schemas/basic-error"}, aliases=ALIASES,
        multi_segment=MULTI_SEGMENT, extra_checks=(_every_error_names_its_docs,))
