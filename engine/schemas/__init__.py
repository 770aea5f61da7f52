"""The JSON Schemas the engine validates with (the copies in the repository's schemas/ are for
editors, exported by `accessctl schemas --write`)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

NAMES = ("access-request", "entitlement", "identities", "providers")


@cache
def schema(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def validator_for(fragment: Any) -> Draft202012Validator:
    return Draft202012Validator(fragment, format_checker=Draft202012Validator.FORMAT_CHECKER)
