"""The JSON Schemas the engine validates with (the copies in the repository's schemas/ are for
editors, exported by `accessctl schemas --write`).

Validators are built once per schema. In front of jsonschema sits a quick check compiled from the
same schema (`engine.schemas.quick`): it says "valid" only when it is sure, and jsonschema runs
whenever it is not, so the messages always come from jsonschema.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from engine.schemas.quick import compile_check

NAMES = ("access-request", "entitlement", "identities", "providers")


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _quick(name: str) -> Callable[[Any], bool] | None:
    return compile_check(schema(name))


def errors(name: str, instance: Any) -> list[ValidationError]:
    """Every schema error of `instance` against the named schema ([] when it is valid)."""
    check = _quick(name)
    if check is not None and check(instance):
        return []
    return list(validator(name).iter_errors(instance))


_lock = threading.Lock()
_by_fragment: dict[int, tuple[Any, Draft202012Validator, Callable[[Any], bool] | None]] = {}
"""id(fragment) -> (fragment, its validator, its quick check). Fragments are module constants
(provider settings and target schemas); keeping the fragment itself makes a reused id harmless."""


def _entry(fragment: Any) -> tuple[Any, Draft202012Validator, Callable[[Any], bool] | None]:
    entry = _by_fragment.get(id(fragment))
    if entry is None or entry[0] is not fragment:
        made = Draft202012Validator(fragment, format_checker=Draft202012Validator.FORMAT_CHECKER)
        entry = (fragment, made, compile_check(fragment))
        with _lock:
            _by_fragment[id(fragment)] = entry
    return entry


def validator_for(fragment: Any) -> Draft202012Validator:
    """A validator for a schema fragment, built once per fragment."""
    return _entry(fragment)[1]


def errors_for(fragment: Any, instance: Any) -> list[ValidationError]:
    _, made, check = _entry(fragment)
    if check is not None and check(instance):
        return []
    return list(made.iter_errors(instance))
