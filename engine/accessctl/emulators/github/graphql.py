"""`POST /api/graphql`: the queries the engine sends (the VCS token check, a team's members),
answered with GitHub's per-field FORBIDDEN errors for what a token may not read."""

from __future__ import annotations

import re
from typing import Any

from accessctl.emulators.github.teams import Teams
from accessctl.emulators.github.wire import Routes, login_key
from accessctl.emulators.http import JSON, Request


class GraphQL(Teams):
    def _graphql_routes(self) -> Routes:
        # GitHub Enterprise Server's GraphQL endpoint (PyGithub derives it from /api/v3).
        return [("POST", "/graphql", self._graphql)]

    def _granted(self, request: Request, name: str) -> bool:
        """Whether the request's token may read what App permission `name` guards."""
        _, _, token = request.headers.get("authorization", "").partition(" ")
        granted = self.token_permissions.get(token.strip())
        return granted is None or granted.get(name) in ("read", "write")

    @staticmethod
    def _forbidden(path: list[str]) -> JSON:
        """GraphQL's answer for a field the token's permissions do not cover."""
        return {"type": "FORBIDDEN", "path": path, "locations": [],
                "extensions": {"saml_failure": False},
                "message": "Resource not accessible by integration"}

    def _token_check(self, request: Request, variables: dict[str, Any]) -> JSON:
        """The VCS token check (`query AccessctlTokenCheck`): a repository's HEAD object and
        first pull request (and issue when `withIssues`), and a team's first member when
        `withTeam`; each field the token may
        not read is null with a FORBIDDEN error, as GitHub answers an App token."""
        errors: list[JSON] = []
        data: JSON = {}
        with self.lock:
            repo = self.repos.get((login_key(str(variables.get("owner", ""))),
                                   str(variables.get("name", "")).casefold()))
            if repo is None:
                errors.append({"type": "NOT_FOUND", "path": ["repository"], "locations": [],
                               "message": "Could not resolve to a Repository with the name "
                                          f"'{variables.get('owner')}/{variables.get('name')}'."})
                data["repository"] = None
            else:
                found: JSON = {}
                if self._granted(request, "contents"):
                    head = repo.refs.get(f"refs/heads/{repo.default_branch}")
                    found["object"] = {"oid": head} if head else None
                else:
                    found["object"] = None
                    errors.append(self._forbidden(["repository", "object"]))
                if self._granted(request, "pull_requests"):
                    found["pullRequests"] = {"totalCount": len(repo.pulls)}
                else:
                    found["pullRequests"] = None
                    errors.append(self._forbidden(["repository", "pullRequests"]))
                if variables.get("withIssues"):
                    if self._granted(request, "issues"):
                        found["issues"] = {"totalCount": len(repo.issues)}
                    else:
                        found["issues"] = None
                        errors.append(self._forbidden(["repository", "issues"]))
                # `pullRequests` and `issues` are non-null in the schema: an error on either
                # nulls the repository, as GraphQL propagates a null to the nearest nullable
                # parent.
                nulled = found["pullRequests"] is None or (
                    "issues" in found and found["issues"] is None)
                data["repository"] = None if nulled else found
            if variables.get("withTeam"):
                org = self.orgs.get(login_key(str(variables.get("org", ""))))
                team = None if org is None else self.teams.get(
                    (login_key(org.account.login), str(variables.get("team", "")).casefold()))
                if org is None:
                    data["organization"] = None
                elif not self._granted(request, "members"):
                    data["organization"] = {"team": None}
                    errors.append(self._forbidden(["organization", "team"]))
                else:
                    data["organization"] = {"team": None if team is None else {
                        "members": {"totalCount": len(team.members)}}}
        return {"data": data, **({"errors": errors} if errors else {})}

    def _graphql(self, request: Request) -> JSON:
        """The GraphQL queries the engine sends: the VCS token check (`_token_check`), and the
        GitHub provider's organization team members, `membership: IMMEDIATE | CHILD_TEAM |
        ALL`, paged with `first`/`after`."""
        body = request.json() or {}
        query = str(body.get("query") or "")
        variables = body.get("variables") or {}
        if query.startswith("query AccessctlTokenCheck("):
            return self._token_check(request, variables)
        if not self._granted(request, "members"):
            return {"data": {"organization": {"team": None}},
                    "errors": [self._forbidden(["organization", "team"])]}
        kind = re.search(r"membership:\s*(IMMEDIATE|CHILD_TEAM|ALL)", query)
        first = re.search(r"members\(\s*first:\s*(\d+)", query)
        if not (kind and first and "organization(login: $org)" in query
                and "team(slug: $team)" in query):
            return {"errors": [{"message": "the emulator answers one query: a team's members"}]}
        with self.lock:
            org = self.orgs.get(login_key(str(variables.get("org", ""))))
            if org is None:
                return {"data": {"organization": None}, "errors": [{
                    "type": "NOT_FOUND", "path": ["organization"], "locations": [],
                    "message": "Could not resolve to an Organization with the login of "
                               f"'{variables.get('org')}'."}]}
            team = self.teams.get((login_key(org.account.login),
                                   str(variables.get("team", "")).casefold()))
            if team is None:
                return {"data": {"organization": {"team": None}}}
            children: dict[str, str] = {}
            for child in self._descendants(team):
                for key, role in child.members.items():
                    children.setdefault(key, role)
            chosen = {"IMMEDIATE": team.members, "CHILD_TEAM": children,
                      "ALL": self._all_members(team)}[kind.group(1)]
            # The same lag as the REST listing: a membership written moments ago may not be
            # listed yet (eventual consistency).
            keys = sorted(self.listing_lag.listed(team.id, ((k, k) for k in chosen))
                          if kind.group(1) == "IMMEDIATE" else chosen,
                          key=lambda k: self.accounts[k].id)
            start = int(str(variables.get("after") or "0") or 0)
            size = min(int(first.group(1)), 100)
            page = keys[start:start + size]
            more = start + size < len(keys)
            wants_id = "databaseId" in query
            nodes = [{"login": self.accounts[k].login,
                      **({"databaseId": self.accounts[k].id} if wants_id else {})}
                     for k in page]
            return {"data": {"organization": {"team": {"members": {
                "nodes": nodes,
                "pageInfo": {"hasNextPage": more,
                             "endCursor": str(start + len(page)) if page else None}}}}}}
