"""Microsoft Graph's contract: msgraph-sdk, which Microsoft generates from Graph's OpenAPI
description, read as that description.

- Path and method: the request's path is walked through the SDK's request builders from the
  service client (a segment is a navigation property, or an item by id through the builder's one
  `by_*` method); the builder reached must define the HTTP method. No builder: not in Graph.
- Query parameters: the names in the builder's URL template (`{?%24filter,%24top,...}`).
- Request body: parsed with the SDK's JSON parse node into the type the method takes (`post(body:
  X)`); a property the model does not declare (kept in `additional_data`) or a value it cannot
  read is a violation.
- Status and response body: a method the SDK sends with `send_no_response_content_async` answers
  204 with no body; one with `send_async(..., Model, ...)` answers 200 (201 for a POST) with a
  body that parses cleanly into Model. Errors: the SDK maps every 4xx/5xx to `ODataError`, which
  the body must parse into, with `error.code` and `error.message`; the status must be one Graph
  lists in its error reference (learn.microsoft.com/graph/errors).
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from accessctl.emulators.http import Request, Response

VERSION_PREFIX = "/v1.0"

# learn.microsoft.com/graph/errors, "HTTP status codes".
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 406, 409, 410, 411, 412, 413, 415, 416,
                            422, 423, 429, 500, 501, 503, 504, 507, 509})


# learn.microsoft.com/graph/paging: a collection's `@odata.nextLink` carries a `$skiptoken` (or
# `$skip`) the server made; the SDK follows it as is, so its URL templates do not name it.
PAGING = frozenset({"$skiptoken", "$skip"})


class _Adapter:
    """Just enough of a request adapter for the SDK's builders to be made (never sends)."""

    base_url = "https://graph.microsoft.com/v1.0"

    def enable_backing_store(self, factory: Any) -> None:
        return None


@dataclass(frozen=True)
class Operation:
    builder: str
    """The request builder's class, for messages."""
    query: frozenset[str]
    body_model: type | None
    response_model: type | None
    no_content: bool


def snake(name: str) -> str:
    plain = name.lstrip("@").replace("odata.", "odata_").replace("-", "_")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", plain).lower()


def _imported(module: Any, name: str, source: str) -> type:
    """The class `name` as the module (or a method's source) imports it, relatively."""
    found = re.search(rf"from (\.+[\w.]*) import {re.escape(name)}\b", source) or re.search(
        rf"from (\.+[\w.]*) import {re.escape(name)}\b", inspect.getsource(module))
    if found is None:
        raise LookupError(f"{name} is not imported in {module.__name__}")
    imported = importlib.import_module(found.group(1), package=module.__package__)
    model: type = getattr(imported, name)
    return model


def _root() -> Any:
    from msgraph.generated.base_graph_service_client import BaseGraphServiceClient

    return BaseGraphServiceClient(_Adapter())  # type: ignore[arg-type]


def _step(builder: Any, segment: str) -> Any:
    name = snake(segment.lstrip("$"))
    attribute = inspect.getattr_static(type(builder), name, None)
    if isinstance(attribute, property):
        return getattr(builder, name)
    by_id = [n for n in dir(type(builder)) if n.startswith("by_")]
    if len(by_id) == 1:
        return getattr(builder, by_id[0])(segment)
    return None


@cache
def operation(method: str, path: str) -> Operation | str:
    """The SDK's operation for this request, or why there is none. Cached per path *shape*
    (ids replaced) by the caller."""
    builder = _root()
    for raw in path.strip("/").split("/"):
        builder = _step(builder, unquote(raw))
        if builder is None:
            return f"no msgraph-sdk request builder has the segment {unquote(raw)!r}"
    cls = type(builder)
    function = cls.__dict__.get(method.lower())
    if function is None:
        return f"{cls.__name__} has no {method.lower()}()"
    module = sys.modules[cls.__module__]
    source = inspect.getsource(function)
    template = builder.url_template
    query = re.search(r"\{\?([^}]*)\}", template)
    names = frozenset(unquote(n) for n in query.group(1).split(",")) if query else frozenset()
    body_model = None
    if "body" in inspect.signature(function).parameters:
        annotation = str(inspect.signature(function).parameters["body"].annotation)
        # Older SDKs annotate `body: Optional[Model] = None`.
        annotation = re.sub(r"^(?:Optional\[(.*)\]|(.*?)\s*\|\s*None)$",
                            lambda m: m.group(1) or m.group(2), annotation)
        body_model = _imported(module, annotation, source)
    sent = re.search(r"send_async\(request_info, (\w+),", source)
    response_model = _imported(module, sent.group(1), source) if sent else None
    return Operation(cls.__name__, names, body_model, response_model,
                     "send_no_response_content_async" in source)


_ID = re.compile(r"^(?:[0-9a-fA-F-]{36}|[^/]*@[^/]*)$")


def _shape(path: str) -> str:
    """The path with ids replaced, so one walk serves every id (the builders do not care)."""
    return "/".join("00000000-0000-0000-0000-000000000000" if _ID.match(unquote(s)) else s
                    for s in path.split("/"))


def model_problems(body: Any, model: type) -> list[str]:
    """Parse `body` with the SDK's JSON parse node into `model`; report what it could not take."""
    from kiota_serialization_json.json_parse_node import JsonParseNode

    if not isinstance(body, dict):
        return [f"a {model.__name__} body must be a JSON object, not {body!r}"]
    # The SDK reads a User in ~70 ms (hundreds of navigation properties): a page of 100 would
    # keep a client waiting for seconds. So a long `value` page is parsed fully for its first
    # items; the rest are held to the property names of the class the parse chose for the same
    # `@odata.type` (or parsed fully when no earlier item had it).
    items = body.get("value")
    rest: list[Any] = []
    if isinstance(items, list) and len(items) > FULLY_PARSED:
        body, rest = {**body, "value": items[:FULLY_PARSED]}, items[FULLY_PARSED:]
    parsed = JsonParseNode(body).get_object_value(model)
    problems: list[str] = []
    walk_model(body, parsed, type(parsed).__name__, problems)
    if rest:
        kinds = {item.get("@odata.type"): type(got)
                 for item, got in zip(body["value"], parsed.value or [], strict=False)
                 if isinstance(item, dict)}
        for n, item in enumerate(rest, start=FULLY_PARSED):
            cls = kinds.get(item.get("@odata.type")) if isinstance(item, dict) else None
            where = f"{type(parsed).__name__}.value[{n}]"
            if cls is None:
                problems += [f"{where}: {p}" for p in model_problems(
                    {"value": [item]}, model)]
                continue
            unknown = sorted(k for k in item if not k.startswith("@odata.")
                             and k not in _property_names(cls))
            problems += [f"{where}: {k!r} is not a property of {cls.__name__}" for k in unknown]
    return problems


FULLY_PARSED = 3


@cache
def _property_names(cls: type) -> frozenset[str]:
    return frozenset(cls().get_field_deserializers())


def walk_model(body: Any, parsed: Any, where: str, problems: list[str]) -> None:
    # The SDK keeps properties its model does not declare in additional_data: a misspelling.
    for name in getattr(parsed, "additional_data", None) or {}:
        if not name.startswith("@odata."):
            problems.append(f"{where}: {name!r} is not a property of {type(parsed).__name__}")
    declared = parsed.get_field_deserializers()
    for name, value in body.items():
        if name not in declared or value is None:
            continue
        got = getattr(parsed, snake(name), None)
        if got is None:  # an enum value the model does not know, or an unreadable value
            problems.append(f"{where}.{name}: value {value!r} was not understood")
        elif isinstance(value, dict):
            walk_model(value, got, f"{where}.{name}", problems)
        elif isinstance(value, list):
            for i, (item, parsed_item) in enumerate(zip(value, got, strict=True)):
                if isinstance(item, dict):
                    walk_model(item, parsed_item, f"{where}.{name}[{i}]", problems)


def _error_problems(response: Response) -> list[str]:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    problems = []
    if response.status not in ERROR_STATUSES:
        problems.append(f"status {response.status} is not in Graph's error reference")
    problems += model_problems(response.body, ODataError)
    error = response.body.get("error") if isinstance(response.body, dict) else None
    if not (isinstance(error, dict) and error.get("code") and error.get("message")):
        problems.append("a Graph error carries error.code and error.message")
    return problems


class GraphContract:
    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        problems = _error_problems(response) if response.status >= 400 else []
        if injected:
            return problems
        if not request.path.startswith(VERSION_PREFIX + "/"):
            return [*problems, f"not under {VERSION_PREFIX}"]
        found = operation(request.method, _shape(request.path[len(VERSION_PREFIX):]))
        if isinstance(found, str):
            return [*problems, found]
        where = found.builder
        for key in request.query:
            if key not in found.query and not (request.method == "GET" and key in PAGING):
                problems.append(f"{where}: query parameter {key!r} is not in the URL template "
                                f"({', '.join(sorted(found.query)) or 'none'})")
        if request.body:
            if found.body_model is None:
                problems.append(f"{where}: a request body, where the SDK sends none")
            else:
                problems += [f"request body: {p}" for p in
                             model_problems(json.loads(request.body), found.body_model)]
        if response.status >= 400:
            return problems
        if found.no_content:
            if response.status != 204 or response.body is not None:
                problems.append(f"{where}: the SDK expects 204 and no content")
            return problems
        expected = {200, 201} if request.method == "POST" else {200}
        if response.status not in expected:
            problems.append(f"{where}: status {response.status}, not {sorted(expected)}")
        if found.response_model is not None:
            problems += [f"response body: {p}" for p in
                         model_problems(response.body, found.response_model)]
        return problems


@cache
def contract() -> GraphContract:
    # Reading a User or a Group imports hundreds of the SDK's model modules (their navigation
    # properties): done here, when the emulator starts, and not while a client waits for the
    # first answer with its own timeout.
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.user import User

    for model in (User, Group):
        model().get_field_deserializers()
    return GraphContract()
