"""GitHub's wire format: constants, error bodies, ids and timestamps, query parameters, and the
GitHub App permission each route needs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from accessctl.emulators.http import JSON, Handler, HttpError, Request

API = "/api/v3"
DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_LIMIT = 5000
GRAPHQL_POINTS = 5_000
"""GraphQL's own hourly budget, in points (one per query the size the engine sends)."""
DEFAULT_TOKEN = "ghp_emulatortoken0000000000000000000000"
DEFAULT_LOGIN = "accessctl-admin"

# Repository roles, weakest first; the API takes the legacy names pull/push as well.
ROLES = ("read", "triage", "write", "maintain", "admin")
ROLE_ALIASES = {"pull": "read", "push": "write"}
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED")
REVIEW_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED",
                 "COMMENT": "COMMENTED"}

Routes = list[tuple[str, str, Handler]]
"""(method, template, handler): a mixin's routes, templates relative to `/api/v3`."""


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def login_key(login: str) -> str:
    """GitHub logins compare case-insensitively; the stored login keeps its case."""
    return login.casefold()


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def error_body(status: int, message: str) -> JSON:
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


def github_error(status: int, message: str, errors: list[JSON] | None = None) -> HttpError:
    body: dict[str, Any] = error_body(status, message)
    if errors is not None:
        body["errors"] = errors
    return HttpError(status, body)


def not_found() -> HttpError:
    return github_error(404, "Not Found")


def invalid(message: str, resource: str = "", field_name: str = "", code: str = "invalid"
            ) -> HttpError:
    """A 422 "Validation Failed" with one entry in `errors`, as GitHub words them."""
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return github_error(422, "Validation Failed", [error])


def role_of(permission: str) -> str:
    """The repository role for a permission name (`pull` -> `read`); 422 when unknown."""
    name = ROLE_ALIASES.get(permission, permission)
    if name not in ROLES:
        raise invalid(f"{permission} is not a valid permission", "Repository", "permission")
    return name


def required_permission(method: str, route: str) -> tuple[str, str] | None:
    """The GitHub App permission (name, read|write) a route needs, for the routes this emulator
    serves; None where only Metadata (always granted) is needed."""
    level = "read" if method == "GET" else "write"
    if route == "/api/graphql":
        return None  # GraphQL checks each field: FORBIDDEN errors in a 200 (see graphql.py)
    if route.startswith(("/orgs/{org}/teams", "/organizations/{org_id}/team")):
        return "members", level
    if not route.startswith("/repos/{owner}/{repo}/"):
        return None
    rest = route[len("/repos/{owner}/{repo}/"):]
    section = rest.split("/", 1)[0]
    if section in ("commits", "contents", "git", "compare", "branches"):
        return "contents", level
    if section == "pulls":
        return "pull_requests", level
    if section == "issues":
        # A pull request seen as an issue (its comments go through the issues API) takes
        # Pull requests as well: the server asks the issues mixin which one it is.
        return "issues", level
    if section in ("collaborators", "invitations"):
        return "administration", level
    if section in ("statuses", "check-runs"):
        return ("statuses" if section == "statuses" else "checks"), level
    return None


def int_arg(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return default


def int_param(request: Request, name: str) -> int:
    raw = request.params[name]
    if not raw.isdigit():
        raise not_found()
    return int(raw)
