"""GitHub's GraphQL contract: the public schema (github-graphql-schema.graphql, from the npm
package `@octokit/graphql-schema` 15.26.1, `schema.graphql`, GitHub's own schema; MIT), read with
graphql-core.

Checked for `POST /api/graphql`: the body is GraphQL over HTTP's (`query`, `variables`,
`operationName`); the query parses and validates against the schema (every field, argument and
enum value exists, types agree); the variables satisfy the query's variable definitions; and the
answer is `{"data": ..., "errors": [...]}` whose `data` has exactly the fields the query selected,
each of the schema's type (a non-null field never null, lists as lists, scalars as JSON scalars of
their kind). GitHub answers 200 for a query it could not resolve, with `errors`
(docs.github.com/graphql/guides/forming-calls-with-graphql).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from accessctl.emulators.http import Request, Response

FILE = Path(__file__).parent / "github-graphql-schema.graphql"
PATH = "/api/graphql"
BODY_KEYS = {"query", "variables", "operationName"}
_SCALARS: dict[str, tuple[type, ...]] = {"String": (str,), "ID": (str,), "Int": (int,),
                                         "Float": (int, float), "Boolean": (bool,)}


@cache
def schema() -> Any:
    from graphql import build_schema

    # The published SDL defines a few fields twice (EnterpriseOwnerInfo): graphql-core refuses
    # that when it validates the SDL, not when it builds the schema from it.
    built = build_schema(FILE.read_text(encoding="utf-8"), assume_valid_sdl=True)
    # Likewise some implementations deprecate a field their interface does not (Project.id):
    # graphql-core's schema check refuses it before validating any query. The types are
    # GitHub's as published; take them as valid.
    built._validation_errors = []
    return built


def check(request: Request, response: Response) -> list[str]:
    from graphql import GraphQLError, OperationDefinitionNode, parse, validate
    from graphql.execution.values import get_variable_values

    if request.method != "POST":
        return [f"GraphQL takes POST, not {request.method}"]
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        return ["the GraphQL request body is not JSON"]
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return ["a GraphQL request body is an object with a `query` string"]
    problems = [f"GraphQL request body field {k!r} is not one of {sorted(BODY_KEYS)}"
                for k in sorted(set(body) - BODY_KEYS)]
    try:
        document = parse(body["query"])
    except GraphQLError as error:
        return [*problems, f"the query does not parse: {error.message}"]
    problems += [f"query: {e.message}" for e in validate(schema(), document)]
    if problems:
        return problems
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema(), operation.variable_definitions or (),
                                  body.get("variables") or {})
    if isinstance(coerced, list):
        return [f"variables: {e.message}" for e in coerced]
    # graphql-core 3.2 gives a dict, 3.3 an object holding it.
    return _check_answer(operation, dict(getattr(coerced, "coerced", coerced)), response)


def _check_answer(operation: Any, variables: dict[str, Any], response: Response) -> list[str]:
    answer = response.body
    if response.status != 200:
        return [] if response.status >= 400 else [f"status {response.status}; GraphQL answers 200"]
    if not isinstance(answer, dict) or not set(answer) <= {"data", "errors", "extensions"} \
            or not ({"data", "errors"} & set(answer)):
        return [f"not a GraphQL answer ({{data, errors}}): {answer!r}"[:300]]
    problems: list[str] = []
    for error in answer.get("errors") or []:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            problems.append(f"a GraphQL error carries a message: {error!r}")
    data = answer.get("data")
    if data is not None:
        _check_selection(operation.selection_set, schema().query_type, data, "data",
                         variables, problems)
    return problems


def _check_selection(selection_set: Any, parent: Any, value: Any, where: str,
                     variables: dict[str, Any], problems: list[str]) -> None:
    from graphql import FieldNode

    if not isinstance(value, dict):
        problems.append(f"{where}: an object expected, not {value!r}"[:300])
        return
    selected = {}
    for node in selection_set.selections:
        # A field under `@include(if: false)` or `@skip(if: true)` is not selected at all.
        if isinstance(node, FieldNode) and _included(node, variables):
            selected[(node.alias or node.name).value] = node
    for key in sorted(set(value) - set(selected)):
        problems.append(f"{where}.{key}: not selected by the query")
    for key, node in selected.items():
        if key not in value:
            # A field whose resolution failed is null with an error, never absent.
            problems.append(f"{where}.{key}: selected but absent")
            continue
        if node.name.value == "__typename":
            continue
        field = parent.fields[node.name.value]
        _check_value(field.type, node, value[key], f"{where}.{key}", variables, problems)


def _included(node: Any, variables: dict[str, Any]) -> bool:
    """GraphQL's `@include(if:)` and `@skip(if:)` on a field, read from the query's own text."""
    from graphql import BooleanValueNode, VariableNode

    for directive in node.directives or ():
        for argument in directive.arguments or ():
            if argument.name.value != "if":
                continue
            value = argument.value
            flag = bool(variables.get(value.name.value)) if isinstance(value, VariableNode) \
                else bool(isinstance(value, BooleanValueNode) and value.value)
            if (directive.name.value == "include" and not flag) \
                    or (directive.name.value == "skip" and flag):
                return False
    return True


def _check_value(kind: Any, node: Any, value: Any, where: str, variables: dict[str, Any],
                 problems: list[str]) -> None:
    from graphql import (
        GraphQLEnumType,
        GraphQLList,
        GraphQLNonNull,
        GraphQLScalarType,
    )

    if isinstance(kind, GraphQLNonNull):
        if value is None:
            problems.append(f"{where}: null where the schema says non-null")
            return
        kind = kind.of_type
    if value is None:
        return
    if isinstance(kind, GraphQLList):
        if not isinstance(value, list):
            problems.append(f"{where}: a list expected")
            return
        for n, item in enumerate(value):
            _check_value(kind.of_type, node, item, f"{where}[{n}]", variables, problems)
        return
    if isinstance(kind, GraphQLScalarType):
        accepted = _SCALARS.get(kind.name)
        if accepted is not None and (not isinstance(value, accepted)
                                     or (bool not in accepted and isinstance(value, bool))):
            problems.append(f"{where}: {value!r} is not a {kind.name}")
        return
    if isinstance(kind, GraphQLEnumType):
        if value not in kind.values:
            problems.append(f"{where}: {value!r} is not a {kind.name}")
        return
    if node.selection_set is not None:
        _check_selection(node.selection_set, kind, value, where, variables, problems)
