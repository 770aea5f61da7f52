"""The JSON Schemas the engine validates with (the copies in the repository's schemas/ are for
editors, exported by `accessctl schemas --write`).

Validators are built once per schema. In front of jsonschema sits a quick check compiled from the
same schema (`accessctl.schemas.quick`): it says "valid" only when it is sure, and jsonschema runs
whenever it is not, so the messages always come from jsonschema.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from accessctl.schemas.quick import compile_check

if TYPE_CHECKING:  # jsonschema takes ~0.15 s to import: only files with errors need it
    from jsonschema import Draft202012Validator, ValidationError

NAMES = ("access-request", "entitlement", "identities", "providers", "schedule")


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _build(fragment: Any) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(fragment, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def validator(name: str) -> Draft202012Validator:
    return _build(schema(name))


@cache
def _quick(name: str) -> Callable[[Any], bool] | None:
    return compile_check(schema(name))


def errors(name: str, instance: Any) -> list[ValidationError]:
    """Every schema error of `instance` against the named schema ([] when it is valid)."""
    check = _quick(name)
    if check is not None and check(instance):
        return []
    return list(validator(name).iter_errors(instance))


class Checker:
    """A schema fragment's checks: the quick one first, jsonschema (built on first need) after.
    `iter_errors` is jsonschema's, so callers written for a validator keep working."""

    def __init__(self, fragment: Any) -> None:
        self.fragment = fragment
        self.quick = compile_check(fragment)
        self._validator: Draft202012Validator | None = None

    @property
    def validator(self) -> Draft202012Validator:
        if self._validator is None:
            self._validator = _build(self.fragment)
        return self._validator

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self.quick is not None and self.quick(instance):
            return iter(())
        return self.validator.iter_errors(instance)

    def is_valid(self, instance: Any) -> bool:
        return next(self.iter_errors(instance), None) is None


_lock = threading.Lock()
_by_fragment: dict[int, Checker] = {}
"""id(fragment) -> its checker. Fragments are module constants (provider settings and target
schemas); the checker keeps the fragment itself, so a reused id is noticed."""


def validator_for(fragment: Any) -> Checker:
    """The checker of a schema fragment, built once per fragment."""
    checker = _by_fragment.get(id(fragment))
    if checker is None or checker.fragment is not fragment:
        checker = Checker(fragment)
        with _lock:
            _by_fragment[id(fragment)] = checker
    return checker


def errors_for(fragment: Any, instance: Any) -> list[ValidationError]:
    return list(validator_for(fragment).iter_errors(instance))
