"""A quick validity check compiled from a JSON Schema, for the common case: a valid file.

It understands a small subset of JSON Schema 2020-12 (the keywords below) and answers True only
when the instance is certainly valid under jsonschema's own rules: exact types (a bool is not an
integer, 1.0 is not taken for an integer), `re.search` for patterns as jsonschema does, `len` for
string lengths. Whenever it is unsure it answers False and the caller runs jsonschema, which also
writes the messages. A schema using any keyword outside the subset gets no quick check at all
(`compile_check` returns None), so a schema change can never make the quick check wrong.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples",
                          "default", "deprecated", "readOnly", "writeOnly"})
_KEYWORDS = frozenset({"type", "enum", "const", "properties", "additionalProperties", "required",
                       "propertyNames", "pattern", "minLength", "maxLength", "items",
                       "uniqueItems", "minItems", "maxItems", "minimum", "maximum", "format"})
_FORMATS = frozenset({"regex"})
_STRING_ONLY = frozenset({"type", "pattern", "minLength", "maxLength", "format"})
_OBJECT_ONLY = frozenset({"type", "properties", "additionalProperties", "required",
                          "propertyNames"})


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A function instance -> True only if certainly valid; None if the schema is not covered."""
    try:
        return _compile(schema)
    except (_Unsupported, re.error, TypeError, ValueError):
        return None


def _always(_: Any) -> bool:
    return True


def _type_check(name: str) -> Check:
    # Exact Python types as the YAML loader produces them; anything else is "not sure".
    if name == "string":
        return lambda x: type(x) is str
    if name == "integer":
        return lambda x: type(x) is int
    if name == "number":
        return lambda x: type(x) is int or type(x) is float
    if name == "boolean":
        return lambda x: type(x) is bool
    if name == "object":
        return lambda x: type(x) is dict
    if name == "array":
        return lambda x: type(x) is list
    if name == "null":
        return lambda x: x is None
    raise _Unsupported(name)


def _compile(schema: Any) -> Check:
    if schema is True or (isinstance(schema, Mapping) and not schema):
        return _always
    if not isinstance(schema, Mapping):
        raise _Unsupported(repr(schema))
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise _Unsupported(", ".join(sorted(unknown)))
    # The common shapes, fused into one function per schema (this runs per value, 10,000 files
    # a run): the exact type, then that type's keywords, without the "vacuously true for other
    # types" guards that an exact type makes moot. Only schemas that use nothing else.
    keywords = set(schema) - _ANNOTATIONS
    if schema.get("type") == "string" and keywords <= _STRING_ONLY:
        return _typed(str, _all(_string_checks(schema)))
    if schema.get("type") == "object" and keywords <= _OBJECT_ONLY:
        return _typed(dict, _object_check(schema))

    checks: list[Check] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        type_checks = [_type_check(k) for k in kinds]
        checks.append(type_checks[0] if len(type_checks) == 1
                      else lambda x: any(t(x) for t in type_checks))
    if "enum" in schema or "const" in schema:
        allowed = list(schema["enum"]) if "enum" in schema else [schema["const"]]
        # Same type and equal: stricter than jsonschema's equality (1.0 == 1), never looser.
        checks.append(lambda x: any(type(x) is type(a) and x == a for a in allowed))

    # Keywords that apply to one type only hold vacuously for the others (as in JSON Schema).
    string_checks = _string_checks(schema)
    if string_checks:
        string_check = _all(string_checks)
        checks.append(lambda x: (type(x) is str and string_check(x))
                      or not isinstance(x, str))
    number_checks = _number_checks(schema)
    if number_checks:
        checks.append(partial(_number_only, checks=number_checks))
    if {"properties", "additionalProperties", "required", "propertyNames"} & set(schema):
        checks.append(partial(_only_for, kind=dict, checks=[_object_check(schema)]))
    if {"items", "uniqueItems", "minItems", "maxItems"} & set(schema):
        checks.append(partial(_only_for, kind=list, checks=[_array_check(schema)]))
    return _all(checks)


def _typed(kind: type, check: Check) -> Check:
    """Exactly `kind` (a subclass is "not sure") and `check`."""
    if check is _always:
        return lambda x: type(x) is kind
    return lambda x: type(x) is kind and check(x)


def _all(checks: list[Check]) -> Check:
    """One function for the conjunction, without a generator per call (this runs per value)."""
    if not checks:
        return _always
    first, *rest = checks
    if not rest:
        return first
    others = _all(rest)
    return lambda x: first(x) and others(x)


def _only_for(value: Any, kind: type, checks: list[Check]) -> bool:
    """Keywords for one JSON type: vacuously true for other types (jsonschema's is_type is an
    isinstance test); checked on the exact type; a subclass is "not sure"."""
    if not isinstance(value, kind):
        return True
    return type(value) is kind and all(c(value) for c in checks)


def _number_only(value: Any, checks: list[Check]) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return True  # not a JSON number: minimum and maximum do not apply
    exact: type = type(value)
    return exact in (int, float) and all(c(value) for c in checks)


def _string_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda x: search(x) is not None)
    if "minLength" in schema:
        low = int(schema["minLength"])
        checks.append(lambda x: len(x) >= low)
    if "maxLength" in schema:
        high = int(schema["maxLength"])
        checks.append(lambda x: len(x) <= high)
    if "format" in schema:
        if schema["format"] not in _FORMATS:
            raise _Unsupported(f"format {schema['format']}")
        checks.append(_is_regex)
    return checks


def _is_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


def _number_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda x: x >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda x: x <= high)
    return checks


def _object_check(schema: Mapping[str, Any]) -> Check:
    properties = {k: _compile(v) for k, v in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra_schema = schema.get("additionalProperties", True)
    extra: Check | None = None if extra_schema is False else _compile(extra_schema)
    names: Check | None = (
        _compile(schema["propertyNames"]) if "propertyNames" in schema else None
    )

    def check(value: dict[str, Any]) -> bool:
        for key in required:
            if key not in value:
                return False
        for key, item in value.items():
            if type(key) is not str:
                return False
            if names is not None and not names(key):
                return False
            known = properties.get(key)
            if known is not None:
                if not known(item):
                    return False
            elif extra is None or not extra(item):
                return False
        return True

    return check


def _array_check(schema: Mapping[str, Any]) -> Check:
    items: Check | None = _compile(schema["items"]) if "items" in schema else None
    unique = bool(schema.get("uniqueItems", False))
    low = int(schema.get("minItems", 0))
    high = schema.get("maxItems")

    def check(value: list[Any]) -> bool:
        if len(value) < low or (high is not None and len(value) > high):
            return False
        if items is not None and not all(items(v) for v in value):
            return False
        # Only strings are compared here: jsonschema's equality of 1, 1.0 and True differs.
        return not unique or (all(type(v) is str for v in value) and len(set(value)) == len(value))

    return check
