"""Okta's contract: the Management API description (okta-management-subset.json, cut from
okta/okta-management-openapi-spec `dist/2026.06.3/management-minimal.yaml`) and, for the org
authorization server's `/oauth2/v1/token` (not part of the Management API), Okta's OAuth 2.0 API
reference and RFC 6749 sections 5.1 and 5.2."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from accessctl.emulators.http import Request, Response
from accessctl.emulators.okta import TOKEN_PATH

from tests.contracts.openapi import OpenApiContract

FILE = Path(__file__).parent / "okta-management-subset.json"

GLOBAL_STATUSES = {
    400: "developer.okta.com/docs/reference/error-codes: E0000001 API validation failed, "
         "E0000031 invalid search criteria, any endpoint",
    401: "developer.okta.com/docs/reference/error-codes: E0000011 invalid token, any endpoint",
    429: "developer.okta.com/docs/reference/rl-best-practices: rate limits, any endpoint",
    500: "developer.okta.com/docs/reference/error-codes: E0000009 internal server error",
    503: "developer.okta.com/docs/reference/error-codes: E0000010 service unavailable",
}

DOCUMENTED_STATUSES = {
    ("POST", "/api/v1/users/{userId}/roles"): {
        409: "developer.okta.com/docs/reference/error-codes: E0000090 duplicate role assignment"},
}

TOKEN_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["token_type", "expires_in", "access_token", "scope"],
    "properties": {
        "token_type": {"type": "string", "enum": ["Bearer", "DPoP"]},
        "expires_in": {"type": "integer", "minimum": 1},
        "access_token": {"type": "string", "minLength": 1},
        "scope": {"type": "string"},
        "id_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "device_secret": {"type": "string"},
    },
}
OAUTH_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error", "error_description"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "enum": [
            "invalid_client", "invalid_grant", "invalid_request", "invalid_scope",
            "unauthorized_client", "unsupported_grant_type", "invalid_dpop_proof",
            "use_dpop_nonce"]},
        "error_description": {"type": "string", "minLength": 1},
    },
}
TOKEN_FORM = {"grant_type", "scope", "client_assertion_type", "client_assertion", "client_id"}


def _okta_error_fields(request: Request, response: Response) -> list[str]:
    # The description's `Error` requires nothing; Okta always sends all five fields.
    if request.path == TOKEN_PATH or response.status < 400:
        return []
    fields = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    body = response.body
    if not isinstance(body, dict) or not fields <= set(body):
        return [f"not an Okta error body: {body!r}"]
    return []


class OktaContract(OpenApiContract):
    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        if request.path == TOKEN_PATH and not injected:
            return self._check_token(request, response)
        return super().check(request, response, injected)

    @staticmethod
    def _check_token(request: Request, response: Response) -> list[str]:
        from urllib.parse import parse_qs

        from jsonschema import Draft202012Validator

        problems = []
        if request.method != "POST":
            problems.append("the token endpoint takes POST only")
        sent = set(parse_qs(request.body.decode(errors="replace")))
        if sent - TOKEN_FORM:
            problems.append(f"form fields the token endpoint does not take: "
                            f"{sorted(sent - TOKEN_FORM)}")
        if response.status not in (200, 400, 401):
            return [*problems, "not a status Okta's /token answers with"]
        schema = TOKEN_RESPONSE if response.status == 200 else OAUTH_ERROR
        problems += [e.message for e in Draft202012Validator(schema).iter_errors(response.body)]
        if response.headers.get("Cache-Control") != "no-store":
            problems.append("a token answer must not be cached (RFC 6749 5.1)")
        return problems


def contract() -> OpenApiContract:
    return _contract()


@cache
def _contract() -> OpenApiContract:
    spec = json.loads(FILE.read_text(encoding="utf-8"))
    return OktaContract(spec, name="Okta", global_statuses=GLOBAL_STATUSES,
                        error_schema={"$ref": "#/components/schemas/Error"},
                        documented_statuses=DOCUMENTED_STATUSES,
                        extra_checks=(_okta_error_fields,))
