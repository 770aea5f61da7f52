"""An OpenAPI 3.0 description as a checker of one HTTP exchange (GitHub's and Okta's subsets).

Checked, for every request an emulator receives and every answer it gives:
- the method and path match an operation of the description (path parameters typed `integer`
  must be digits);
- every query parameter is one the operation declares, with a value its schema allows;
- a request body is one the operation declares, and validates against its schema read closed:
  a property the schema does not name is a violation (a misspelt field is silently ignored by
  the real platform, so it would pass unnoticed otherwise);
- the status is one the operation declares, or one the platform documents for every endpoint
  (`global_statuses`: authentication, rate limits, server errors), whose body must then be the
  platform's error body;
- the response body validates against the declared schema (OpenAPI 3.0 semantics: `nullable`,
  `$ref` into components), and a response the description gives no body carries none.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from accessctl.emulators.http import Request, Response

METHODS = ("get", "put", "post", "patch", "delete", "head")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]


def _compile(template: str, multi_segment: frozenset[str] = frozenset()) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"(?P<{name}>.+)" if name in multi_segment else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", group, re.escape(template)) + "$")


def prepared(node: Any) -> Any:
    """The description as the validator should read it:
    - a `oneOf` with a `discriminator` becomes `anyOf`: the discriminator picks one branch, so a
      body that also fits a sibling (Okta's standard and custom role share every field) is fine;
      openapi-schema-validator applies discriminators only to objects (GitHub maps an array
      through one), so they are dropped;
    - `nullable: true` beside an `enum` admits null, as OpenAPI 3.0.3 says it means (GitHub's
      `state_reason` is null on an open issue)."""
    if isinstance(node, list):
        return [prepared(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: prepared(v) for k, v in node.items() if k != "discriminator"}
    if "discriminator" in node and "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    if out.get("nullable") is True and isinstance(out.get("enum"), list) \
            and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def closed(node: Any, in_combination: bool = False) -> Any:
    """The schema with every object that names its properties closed to others. Branches of an
    `allOf` stay open (each names only part of the object)."""
    if isinstance(node, list):
        return [closed(v, in_combination) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "allOf":
            out[key] = [closed(v, True) for v in value]
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {k: closed(v) for k, v in value.items()}
        else:
            out[key] = closed(value)
    if "properties" in node and "additionalProperties" not in node and not in_combination:
        out["additionalProperties"] = False
    return out


class OpenApiContract:
    def __init__(self, spec: Mapping[str, Any], *, name: str, prefix: str = "",
                 global_statuses: Mapping[int, str] | None = None,
                 error_schema: Mapping[str, Any] | None = None,
                 aliases: Mapping[str, str] | None = None,
                 multi_segment: Mapping[str, frozenset[str]] | None = None,
                 documented_statuses: Mapping[tuple[str, str], Mapping[int, str]] | None = None,
                 extra_checks: tuple[Callable[[Request, Response], list[str]], ...] = ()) -> None:
        """`prefix` is where the emulator serves the description's paths; `aliases` maps a path
        prefix the platform also answers under to the description's spelling of it;
        (regular expressions and their replacements, applied to the path after the prefix);
        `global_statuses` maps each status the platform documents for every endpoint to where it
        says so; `error_schema` is the body every error answer must have; `multi_segment` names,
        per path template, the parameters whose value may hold slashes (a file path, a ref)."""
        self.name = name
        self.spec: dict[str, Any] = prepared(copy.deepcopy(dict(spec)))
        self.components = self.spec.get("components", {})
        self.closed_components = closed(self.components)
        self.prefix = prefix
        self.global_statuses = dict(global_statuses or {})
        self.error_schema = dict(error_schema) if error_schema is not None else None
        self.aliases = [(re.compile(k), v) for k, v in (aliases or {}).items()]
        self.extra_checks = extra_checks
        self.documented_statuses = {k: dict(v) for k, v in (documented_statuses or {}).items()}
        self.operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            shared = tuple(item.get("parameters", ()))
            for method in METHODS:
                if method in item:
                    own = tuple(item[method].get("parameters", ()))
                    pattern = _compile(template, (multi_segment or {}).get(template, frozenset()))
                    self.operations.append(Operation(method.upper(), template, pattern,
                                                     item[method], shared + own))
        # The most literal template first: `/git/refs` before `/git/refs/{ref}` is moot, but
        # `/contents/{path}` must not swallow `/commits/{ref}`-like neighbours.
        self.operations.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
        self._validators: dict[tuple[str, bool], Any] = {}

    # -- the parts -------------------------------------------------------------------------------
    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            _, _, kind, name = node["$ref"].split("/", 3)
            node = self.components[kind][name]
        return node

    def _validator(self, schema: dict[str, Any], closed_objects: bool) -> Any:
        from openapi_schema_validator import OAS30Validator

        key = (json.dumps(schema, sort_keys=True), closed_objects)
        made = self._validators.get(key)
        if made is None:
            components = self.closed_components if closed_objects else self.components
            body = closed(schema) if closed_objects else schema
            made = OAS30Validator({**body, "components": components})
            self._validators[key] = made
        return made

    def _errors(self, schema: dict[str, Any], value: Any, where: str,
                closed_objects: bool = False) -> list[str]:
        problems = []
        for error in self._validator(schema, closed_objects).iter_errors(value):
            at = "/".join(str(p) for p in error.absolute_path) or "(root)"
            because = "; ".join(f"{'/'.join(map(str, c.absolute_path))}: {c.message[:150]}"
                                for c in error.context[:4])
            problems.append(f"{where} at {at}: {error.message[:200]}"
                            + (f" (because {because})" if because else ""))
        return problems[:5]

    def operation(self, method: str, path: str) -> tuple[Operation | None, str]:
        """(the operation, the path as the description spells it); None when none matches."""
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        for alias, spelled in self.aliases:
            path = alias.sub(spelled, path, count=1)
        for operation in self.operations:
            if operation.method == method and operation.pattern.match(path):
                return operation, path
        return None, path

    # -- the check -------------------------------------------------------------------------------
    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        problems: list[str] = []
        for extra in self.extra_checks:
            problems += extra(request, response)
        if injected:
            return problems + self._check_global(response)
        operation, path = self.operation(request.method, request.path)
        if operation is None:
            known = any(o.pattern.match(path) for o in self.operations)
            what = "the method" if known else "the path"
            return [*problems, f"{what} is not in {self.name}'s description "
                               f"(no operation {request.method} {path})"]
        where = f"{operation.method} {operation.template}"
        problems += self._check_path(operation, path, where)
        problems += self._check_query(operation, request, where)
        problems += self._check_request_body(operation, request, where)
        problems += self._check_response(operation, response, where)
        return problems

    def _check_path(self, operation: Operation, path: str, where: str) -> list[str]:
        match = operation.pattern.match(path)
        assert match is not None
        problems = []
        for parameter in operation.parameters:
            parameter = self._resolve(parameter)
            if parameter.get("in") != "path":
                continue
            value = match.groupdict().get(parameter["name"])
            kind = parameter.get("schema", {}).get("type")
            if value is not None and kind == "integer" and not value.isdigit():
                problems.append(f"{where}: path parameter {parameter['name']}={value!r} is not "
                                "an integer")
        return problems

    def _check_query(self, operation: Operation, request: Request, where: str) -> list[str]:
        declared = {}
        for parameter in operation.parameters:
            parameter = self._resolve(parameter)
            if parameter.get("in") == "query":
                declared[parameter["name"]] = parameter
        problems = []
        for name, values in request.query.items():
            parameter = declared.get(name)
            if parameter is None:
                problems.append(f"{where}: query parameter {name!r} is not declared "
                                f"(declared: {', '.join(sorted(declared)) or 'none'})")
                continue
            schema = parameter.get("schema", {})
            for value in values:
                problems += self._errors(schema, _typed(value, self._resolve(schema)),
                                         f"{where}: query parameter {name}={value!r}")
        return problems

    def _check_request_body(self, operation: Operation, request: Request, where: str
                            ) -> list[str]:
        declared = operation.spec.get("requestBody")
        if not request.body:
            if declared is not None and self._resolve(declared).get("required") \
                    and request.method not in ("PUT", "DELETE"):
                return [f"{where}: the request body the description requires is missing"]
            return []
        if declared is None:
            return [f"{where}: a request body, where the description declares none"]
        content = self._resolve(declared).get("content", {})
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
        media = content.get(kind) or (content.get("application/json") if "json" in kind else None)
        if media is None:
            return [f"{where}: request body of type {kind!r}; the description takes "
                    f"{', '.join(content) or 'none'}"]
        try:
            body = json.loads(request.body) if "json" in kind else _form(request.body)
        except ValueError:
            return [f"{where}: the request body is not valid {kind}"]
        schema = media.get("schema")
        if schema is None:
            return []
        return self._errors(schema, body, f"{where}: request body", closed_objects=True)

    def _check_response(self, operation: Operation, response: Response, where: str
                        ) -> list[str]:
        responses = operation.spec.get("responses", {})
        declared = responses.get(str(response.status)) or responses.get(
            f"{str(response.status)[0]}XX")
        documented = self.documented_statuses.get((operation.method, operation.template), {})
        if declared is None:
            if response.status in documented:
                return self._check_error_body(response)
            if response.status in self.global_statuses:
                return self._check_global(response)
            statuses = ", ".join(sorted(responses))
            return [f"{where}: status {response.status} is not declared (declared: {statuses})"]
        declared = self._resolve(declared)
        content = declared.get("content", {})
        media = content.get("application/json") or next(
            (v for k, v in content.items() if "json" in k), None)
        body = response.body
        if response.raw is not None:
            return []  # raw media (a file's bytes): no JSON schema to hold it to
        if media is None or "schema" not in media:
            if body is not None and response.status < 400:
                return [f"{where}: a {response.status} body, where the description declares "
                        "none"]
            return self._check_error_body(response) if response.status >= 400 else []
        problems = self._errors(media["schema"], body, f"{where}: response body")
        if response.status >= 400:
            problems += self._check_error_body(response)
        return problems

    def _check_global(self, response: Response) -> list[str]:
        if response.status not in self.global_statuses:
            return [f"status {response.status} is not one {self.name} answers on every endpoint "
                    f"({', '.join(map(str, sorted(self.global_statuses)))})"]
        return self._check_error_body(response)

    def _check_error_body(self, response: Response) -> list[str]:
        if self.error_schema is None:
            return []
        return self._errors(self.error_schema, response.body, "error body")


def _typed(value: str, schema: Mapping[str, Any]) -> Any:
    """A query string value as the type its schema names (the wire has only strings)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    if kind == "array":
        return value.split(",")
    return value


def _form(body: bytes) -> dict[str, str]:
    from urllib.parse import parse_qs

    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
