"""GitHub's contract: the REST API description (github-rest-subset.json, cut by cut_subset.py
from `@octokit/openapi` 23.0.2 `generated/api.github.com.json`, GitHub's own description)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from accessctl.emulators.http import Request, Response

from tests.contracts import github_graphql
from tests.contracts.openapi import OpenApiContract

FILE = Path(__file__).parent / "github-rest-subset.json"
GHEC_FILE = Path(__file__).parent / "github-ghec-subset.json"
"""Endpoints only GitHub Enterprise Cloud's description has (a team's IdP groups: team-sync
group mappings, EMU external groups), cut by cut_openapi_subset.py from the same package's
`generated/ghec.json`."""

# Statuses GitHub answers on any endpoint, each where GitHub documents it for all of them.
GLOBAL_STATUSES = {
    400: "docs.github.com/rest/using-the-rest-api/troubleshooting-the-rest-api: a body that is "
         "not valid JSON (\"Problems parsing JSON\"), on any endpoint that takes one",
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


def _load(path: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


class GitHubContract(OpenApiContract):
    """The REST description, and GitHub's GraphQL schema for `POST /api/graphql`."""

    def __init__(self, *args: Any, enterprise: OpenApiContract, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enterprise = enterprise

    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        if request.path == github_graphql.PATH and not injected:
            return github_graphql.check(request, response)
        if not injected and self.operation(request.method, request.path)[0] is None \
                and self.enterprise.operation(request.method, request.path)[0] is not None:
            return self.enterprise.check(request, response, injected)
        return super().check(request, response, injected)


def contract() -> OpenApiContract:
    return _contract()


@cache
def _contract() -> OpenApiContract:
    github_graphql.schema()  # parsed once, when the first emulator starts
    common: dict[str, Any] = {
        "prefix": "/api/v3", "global_statuses": GLOBAL_STATUSES,
        "error_schema": {"$ref": "#/components/schemas/basic-error"}, "aliases": ALIASES,
        "multi_segment": MULTI_SEGMENT, "extra_checks": (_every_error_names_its_docs,)}
    # The enterprise subset holds no `basic-error` (its paths do not refer to it): its error
    # bodies are held to the check every GitHub error gets (message and documentation_url).
    enterprise = OpenApiContract(_load(GHEC_FILE), name="GitHub Enterprise Cloud",
                                 **{**common, "error_schema": None})
    return GitHubContract(_load(FILE), name="GitHub", enterprise=enterprise, **common)
