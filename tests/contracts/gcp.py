"""Google Cloud's contract: the discovery documents google-api-python-client ships and builds its
clients from (cloudresourcemanager v3, cloudidentity v1), and Google's error model.

Each request is matched to the discovery method whose `flatPath` and `httpMethod` it has; its query
parameters must be the method's own or the document's standard ones, its body must validate
against the method's `request` schema and a 200 answer against its `response` schema, each turned
into JSON Schema with `additionalProperties: false` (a misspelt field fails). Errors follow Google's
error model (cloud.google.com/apis/design/errors: `{"error": {"code", "message", "status",
"details"}}`, the status one of google.rpc.Code's names, the HTTP status its mapping).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from accessctl.emulators.http import Request, Response

DOCUMENT_NAMES = ("cloudresourcemanager.v3", "cloudidentity.v1")

_FORMAT_PATTERNS = {
    "byte": r"^[A-Za-z0-9+/_-]*={0,2}$",
    "google-datetime": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$",
    "int64": r"^-?\d+$",
    "uint64": r"^\d+$",
}

# google.rpc.Code names and the HTTP status each maps to (google/rpc/code.proto).
RPC_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409,
    "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "DATA_LOSS": 500,
    "UNKNOWN": 500, "INTERNAL": 500, "NOT_IMPLEMENTED": 501, "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "message", "status"],
        "properties": {
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "status": {"enum": sorted(RPC_STATUS)},
            "details": {"type": "array", "items": {
                "type": "object", "required": ["@type"],
                "properties": {"@type": {"type": "string"}},
            }},
        },
    }},
}


def documents_dir() -> Path:
    import googleapiclient

    return Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


@cache
def documents() -> dict[str, dict[str, Any]]:
    return {name: json.loads((documents_dir() / f"{name}.json").read_text())
            for name in DOCUMENT_NAMES}


def discovery_to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """One discovery schema (type/properties/items/$ref/format/enum) as strict JSON Schema."""
    if "$ref" in schema:
        return {"$ref": f"#/$defs/{schema['$ref']}"}
    kind = schema.get("type")
    out: dict[str, Any]
    if kind == "any" or kind is None:
        return {}
    if kind == "object":
        out = {"type": "object"}
        if "properties" in schema:
            out["properties"] = {
                name: discovery_to_json_schema(prop) for name, prop in schema["properties"].items()
            }
        out["additionalProperties"] = (
            discovery_to_json_schema(schema["additionalProperties"])
            if "additionalProperties" in schema else False
        )
        return out
    if kind == "array":
        return {"type": "array", "items": discovery_to_json_schema(schema.get("items", {}))}
    if kind == "integer":
        return {"type": "integer"}
    if kind == "string":
        out = {"type": "string"}
        if "enum" in schema:
            out["enum"] = schema["enum"]
        pattern = _FORMAT_PATTERNS.get(schema.get("format", ""))
        if pattern:
            out["pattern"] = pattern
        return out
    return {"type": kind}


def schema_for(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "$ref": f"#/$defs/{name}",
        "$defs": {key: discovery_to_json_schema(s) for key, s in document["schemas"].items()},
    }


@cache
def validator(document_name: str, name: str) -> jsonschema.protocols.Validator:
    """A cached validator: building one per body costs seconds."""
    schema = schema_for(documents()[document_name], name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _methods() -> Iterator[tuple[str, dict[str, Any]]]:
    def walk(resources: dict[str, Any], name: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for resource in resources.values():
            for method in resource.get("methods", {}).values():
                yield name, method
            yield from walk(resource.get("resources", {}), name)

    for name, document in documents().items():
        yield from walk(document["resources"], name)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str], str, dict[str, Any]]]:
    found = []
    for name, method in _methods():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(method["flatPath"]))
        found.append((method["httpMethod"], re.compile(f"^/{pattern}$"), name, method))
    return found


def method_for(http_method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(document name, discovery method) whose flatPath the client turned into this request."""
    for method_name, pattern, name, method in _patterns():
        if method_name == http_method and pattern.match(path):
            return name, method
    return None


def _errors(document: str, schema_name: str, body: Any, where: str) -> list[str]:
    return [f"{where} at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in validator(document, schema_name).iter_errors(body)][:5]


class GcpContract:
    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        problems = []
        if response.status >= 400 or injected:
            problems += self._check_error(response)
        if injected:
            return problems
        found = method_for(request.method, request.path)
        if found is None:
            return [*problems, f"no discovery method is {request.method} {request.path}"]
        name, method = found
        where = method["id"]
        declared = {k for k, v in method.get("parameters", {}).items()
                    if v.get("location") == "query"} | set(documents()[name]["parameters"])
        for key in request.query:
            if key not in declared:
                problems.append(f"{where}: query parameter {key!r} is not declared")
        if request.body:
            if "request" not in method:
                problems.append(f"{where}: a request body, where the method takes none")
            else:
                problems += _errors(name, method["request"]["$ref"], json.loads(request.body),
                                    f"{where}: request body")
        if response.status == 200:
            if "response" in method:
                problems += _errors(name, method["response"]["$ref"], response.body,
                                    f"{where}: response body")
        elif response.status < 400:
            problems.append(f"{where}: status {response.status}; a discovery method answers 200")
        return problems

    @staticmethod
    def _check_error(response: Response) -> list[str]:
        problems = [f"error body: {e.message[:300]}"
                    for e in jsonschema.Draft202012Validator(ERROR_SCHEMA).iter_errors(
                        response.body)]
        if problems:
            return problems
        status = response.body["error"]["status"]
        if RPC_STATUS.get(status) != response.status or response.body["error"]["code"] != \
                response.status:
            problems.append(f"error status {status} with HTTP {response.status}: google.rpc.Code "
                            f"maps it to {RPC_STATUS.get(status)}")
        return problems


@cache
def contract() -> GcpContract:
    return GcpContract()
