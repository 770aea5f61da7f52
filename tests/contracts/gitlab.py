"""GitLab's contract, from python-gitlab's own managers (stated as such).

GitLab publishes an OpenAPI description of part of its REST API (`doc/api/openapi/
openapi_v2.yaml` in its repository), but not as a package this project can install, and it does
not cover every endpoint used here. So the contract is the one python-gitlab encodes, read from
its installed classes rather than copied:
- operations: every `RESTManager` in `gitlab.v4.objects` gives its `_path` with the methods its
  mixins define (list/get: GET, create: POST, update: PUT or its `_update_method`, delete:
  DELETE, get-without-id: GET on the path itself); every custom action (a method building
  `{self.manager.path}/{self.encoded_id}/<action>` or an absolute `/projects/...` path) gives
  that path with the `http_get/post/put/delete/list` it calls; `Gitlab.version()` gives
  `/version`.
- query parameters on a list: the manager's `_list_filters` and python-gitlab's paging and
  ordering parameters (`page`, `per_page`, `pagination`, `order_by`, `sort`, keyset `id_after`
  ...); other operations' query parameters are not checked.
- request bodies of create and update: only the attributes in the manager's `_create_attrs` /
  `_update_attrs` (required, optional, exclusive), with the required ones present.
- statuses: 200 for GET and PUT, 201 for POST, 204 for DELETE (GitLab's REST docs, "Status
  codes"); errors: the status codes that page lists, with GitLab's error body (`message` or
  `error`). Response bodies of members, merge requests and approvals are checked against GitLab's
  documented examples in tests/emulators/test_gitlab_emulator.py.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import parse_qs

from accessctl.emulators.http import Request, Response

API = "/api/v4"

# docs.gitlab.com/api/rest/troubleshooting, "Status codes".
ERROR_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 412, 415, 422, 429, 500, 503})
# Endpoints python-gitlab has no manager for, each from GitLab's REST docs (stated as such).
DOCUMENTED = (
    ("GET", "/projects/{id}/merge_requests/{merge_request_iid}/diffs",
     "docs.gitlab.com/api/merge_requests: List merge request diffs (GitLab 15.7)"),
)
PAGING = frozenset({"page", "per_page", "pagination", "order_by", "sort", "id_after",
                    "id_before", "cursor"})


@dataclass
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    source: str
    """Where python-gitlab says so, for messages."""
    list_filters: frozenset[str] | None = None
    body: tuple[frozenset[str], frozenset[str]] | None = None
    """(allowed attributes, required attributes) of a create or update body."""
    is_list: bool = False
    required_alternatives: tuple[str, ...] = field(default_factory=tuple)


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def _attrs(required_optional: Any) -> tuple[frozenset[str], frozenset[str]]:
    required = frozenset(required_optional.required)
    allowed = required | frozenset(required_optional.optional) | frozenset(
        required_optional.exclusive)
    return allowed, required


_PATH_LITERAL = re.compile(r"\b\w*path\s*=\s*\(?\s*f?\"([^\"]+)\"")
_VERB = re.compile(r"http_(get|post|put|delete|list)\(")


def _custom_actions(cls: type, base_path: str | None, name: str) -> list[Operation]:
    found = []
    for attribute, function in vars(cls).items():
        if not inspect.isfunction(function) or attribute.startswith("__"):
            continue
        source = inspect.getsource(function)
        verbs = {("GET" if v == "list" else v.upper()) for v in _VERB.findall(source)}
        for literal in _PATH_LITERAL.findall(source):
            literal = literal.replace("{self.manager.path}/{self.encoded_id}",
                                      f"{base_path}/{{id}}" if base_path else "\0")
            literal = literal.replace("{self.path}", base_path or "\0")
            if "\0" in literal or not literal.startswith("/"):
                continue
            for verb in verbs:
                found.append(Operation(verb, literal, _pattern(literal),
                                       f"python-gitlab {name}.{attribute}"))
    return found


@cache
def operations() -> tuple[Operation, ...]:
    import gitlab.v4.objects as objects
    from gitlab import mixins
    from gitlab.base import RESTManager
    from gitlab.client import Gitlab

    found: list[Operation] = [Operation("GET", "/version", _pattern("/version"),
                                        "python-gitlab Gitlab.version")]
    found += [Operation(m, t, _pattern(t), source, is_list=True) for m, t, source in DOCUMENTED]
    classes: list[type] = []
    for info in pkgutil.iter_modules(objects.__path__):
        module = importlib.import_module(f"gitlab.v4.objects.{info.name}")
        classes += [v for v in vars(module).values()
                    if inspect.isclass(v) and v.__module__ == module.__name__]
    # An object's custom actions hang off its manager's path.
    managers = [c for c in classes if issubclass(c, RESTManager) and getattr(c, "_path", None)]
    paths_of: dict[type, list[str]] = {}
    for manager in managers:
        found += _manager_operations(manager, mixins)
        found += _custom_actions(manager, manager._path, manager.__name__)
        obj_cls = getattr(manager, "_obj_cls", None)
        if obj_cls is not None:
            paths_of.setdefault(obj_cls, []).append(manager._path)
    for cls in classes:
        if issubclass(cls, RESTManager):
            continue
        for base_path in paths_of.get(cls, [None]):  # type: ignore[list-item]
            found += _custom_actions(cls, base_path, cls.__name__)
    del Gitlab
    # Literal templates before ones with parameters, so `/members/all` wins over
    # `/members/{id}`.
    found.sort(key=lambda o: (o.template.count("{"), -len(o.template)))
    return tuple(found)


def _manager_operations(manager: Any, mixins: Any) -> list[Operation]:
    path: str = manager._path
    name = f"python-gitlab {manager.__name__}"
    item = f"{path}/{{id}}"
    made: list[Operation] = []
    filters = frozenset(getattr(manager, "_list_filters", ()) or ())
    if issubclass(manager, mixins.ListMixin):
        made.append(Operation("GET", path, _pattern(path), f"{name} (list)",
                              list_filters=filters, is_list=True))
    if issubclass(manager, mixins.GetWithoutIdMixin):
        made.append(Operation("GET", path, _pattern(path), f"{name} (get)"))
    if issubclass(manager, mixins.GetMixin):
        made.append(Operation("GET", item, _pattern(item), f"{name} (get)"))
    if issubclass(manager, mixins.CreateMixin):
        made.append(Operation("POST", path, _pattern(path), f"{name} (create)",
                              body=_attrs(manager._create_attrs)))
    if issubclass(manager, mixins.UpdateMixin):
        method = {mixins.UpdateMethod.POST: "POST", mixins.UpdateMethod.PATCH: "PATCH"}.get(
            manager._update_method, "PUT")
        target = path if issubclass(manager, mixins.GetWithoutIdMixin) else item
        made.append(Operation(method, target, _pattern(target), f"{name} (update)",
                              body=_attrs(manager._update_attrs)))
    if issubclass(manager, mixins.DeleteMixin):
        made.append(Operation("DELETE", item, _pattern(item), f"{name} (delete)"))
    if issubclass(manager, mixins.SetMixin):
        made.append(Operation("PUT", item, _pattern(item), f"{name} (set)"))
    return made


def find(method: str, path: str) -> list[Operation]:
    return [o for o in operations() if o.method == method and o.pattern.match(path)]


def _body(request: Request) -> dict[str, Any] | None:
    kind = request.headers.get("content-type", "")
    text = request.body.decode(errors="replace")
    if "json" in kind or text.lstrip().startswith("{"):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, dict) else None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


class GitLabContract:
    def check(self, request: Request, response: Response, injected: bool) -> list[str]:
        problems = self._check_error(response) if response.status >= 400 else []
        if injected:
            return problems
        if not request.path.startswith(API + "/"):
            return [*problems, f"not under {API}"]
        path = request.path[len(API):]
        candidates = find(request.method, path)
        if not candidates:
            return [*problems, f"no python-gitlab manager or action sends {request.method} "
                               f"{path}"]
        operation = candidates[0]
        where = operation.source
        listing = next((o for o in candidates if o.is_list), None)
        if listing is not None and listing.list_filters is not None and request.query:
            allowed = listing.list_filters | PAGING
            for key in request.query:
                if key not in allowed:
                    problems.append(f"{listing.source}: query parameter {key!r} is not a list "
                                    f"filter ({', '.join(sorted(allowed))})")
        shaped = next((o for o in candidates if o.body is not None), None)
        if request.body and shaped is not None and shaped.body is not None:
            allowed, required = shaped.body
            body = _body(request) or {}
            unknown = sorted(set(body) - allowed)
            if unknown:
                problems.append(f"{shaped.source}: request body attributes {unknown} are not "
                                f"among {sorted(allowed)}")
            missing = sorted(required - set(body))
            if missing:
                problems.append(f"{shaped.source}: request body lacks {missing}")
        if response.status < 400:
            expected = {"GET": 200, "PUT": 200, "POST": 201, "DELETE": 204}[request.method]
            allowed_statuses = {expected, 200} if request.method == "POST" else {expected}
            if request.method == "DELETE":
                allowed_statuses.add(202)  # docs: an asynchronous delete is accepted
            if response.status not in allowed_statuses:
                problems.append(f"{where}: status {response.status}, GitLab answers "
                                f"{request.method} with {sorted(allowed_statuses)}")
            if response.status == 204 and response.body is not None:
                problems.append(f"{where}: a 204 carries a body")
            problems += self._check_shape(operation, request, response)
        return problems

    @staticmethod
    def _check_shape(operation: Operation, request: Request, response: Response) -> list[str]:
        """python-gitlab reads a list from a list operation and an object from a get, create or
        update: the body must be that (what is inside is left to the documented examples)."""
        if response.raw is not None or response.status == 204:
            return []
        if request.method == "GET" and operation.is_list:
            wanted: type = list
        elif operation.source.endswith(("(get)", "(create)", "(update)", "(set)")):
            wanted = dict
        else:
            return []
        if not isinstance(response.body, wanted):
            return [f"{operation.source}: the body is not a JSON "
                    f"{'array' if wanted is list else 'object'}"]
        return []

    @staticmethod
    def _check_error(response: Response) -> list[str]:
        problems = []
        if response.status not in ERROR_STATUSES:
            problems.append(f"status {response.status} is not in GitLab's list of status codes")
        body = response.body
        if response.status == 429 and body is None \
                and response.headers.get("Content-Type") == "text/plain":
            return problems  # Rack::Attack's throttle answers plain text (docs: "Rate limits")
        if not (isinstance(body, dict) and ("message" in body or "error" in body)):
            problems.append(f"not a GitLab error body (`message` or `error`): {body!r}")
        return problems


@cache
def contract() -> GitLabContract:
    return GitLabContract()
