"""Turn JSON Schema errors into findings a person can act on, at the right line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from accessctl.core.model import Finding
from accessctl.read.yamlfile import Document, JsonPath

if TYPE_CHECKING:  # imported lazily: only a file with schema errors needs jsonschema
    from jsonschema import ValidationError


def _field(path: JsonPath) -> str:
    return ".".join(str(p) for p in path) or "the file"


def _known_keys(error: ValidationError) -> list[str]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    return sorted((schema.get("properties") or {}).keys())


def unknown_key(key: str, known: Sequence[str], where: str) -> str:
    """'unknown key 'tiket' in the file: did you mean 'ticket'? (known keys: ...)'."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    guess = f": did you mean {close[0]!r}?" if close else ""
    listed = f" (known keys: {', '.join(known)})" if known else ""
    return f"unknown key {key!r} in {where}{guess}{listed}"


def describe(error: ValidationError) -> str:
    """One sentence for one schema error."""
    where = _field(tuple(error.absolute_path))
    keyword = error.validator
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"missing required key {missing!r} in {where}"
    if keyword == "additionalProperties":
        known = _known_keys(error)
        extra = [k for k in error.instance if k not in known] \
            if isinstance(error.instance, dict) else []
        return unknown_key(str(extra[0]) if extra else "?", known, where)
    if keyword == "type":
        return f"{where} must be of type {error.validator_value}; got {error.instance!r} " \
               "(quote the value to make it a string)"
    if keyword == "pattern":
        description = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
        example = ""
        if isinstance(error.schema, dict) and error.schema.get("examples"):
            example = f" such as {error.schema['examples'][0]!r}"
        if "RFC 3339" in description and isinstance(error.instance, str):
            return (
                f"{where}: {error.instance!r} is not an RFC 3339 time with an offset: add Z for "
                "UTC or an offset like +02:00 (e.g. 2026-11-23T13:00:00Z)"
            )
        return f"{where}: {error.instance!r} is not in the expected form{example}"
    if keyword == "enum":
        return f"{where}: {error.instance!r} is not one of {error.validator_value}"
    return f"{where}: {error.message}"


def findings(
    document: Document, errors: Iterable[ValidationError], code: str, prefix: JsonPath = ()
) -> list[Finding]:
    result = []
    for error in sorted(errors, key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        path = (*prefix, *error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            # One finding per unknown key, at the key itself rather than at its parent.
            known = _known_keys(error)
            extra = [k for k in error.instance if k not in known]
            where = _field(tuple(error.absolute_path))
            for key in extra:
                result.append(Finding(document.location((*path, key)), code,
                                      unknown_key(str(key), known, where)))
            if extra:
                continue
        message = describe(error)
        result.append(Finding(document.location(path), code, message))
    return result
