"""GitHub Actions workflow commands the engine means to write, escaped by GitHub's rules.

The runner reads a step's output line by line for `::name key=value,...::data`. A value is safe
in a command only escaped as the runner unescapes it (actions/runner, ActionCommand.cs):

- data: `%` -> `%25`, CR -> `%0D`, LF -> `%0A`;
- a property value additionally `:` -> `%3A` and `,` -> `%2C` (they end a value).

Everything else the engine prints must not be read as a command at all: see core/console.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

_DATA = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY = {**_DATA, ":": "%3A", ",": "%2C"}


def escape_data(text: str) -> str:
    return "".join(_DATA.get(c, c) for c in text)


def escape_property(text: str) -> str:
    return "".join(_PROPERTY.get(c, c) for c in text)


def command(name: str, data: str = "", properties: Mapping[str, object] | None = None) -> str:
    """One command line (no line break), every property value and the data escaped."""
    props = ",".join(f"{key}={escape_property(str(value))}"
                     for key, value in (properties or {}).items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(data)}"


def annotation(level: str, message: str, *, file: str, line: int, col: int,
               title: str) -> str:
    """An `error`, `warning` or `notice` annotation on a file's line."""
    return command(level, message, {"file": file, "line": line, "col": col, "title": title})


def active(environ: Mapping[str, str]) -> bool:
    """Running as a GitHub Actions step (the runner sets GITHUB_ACTIONS=true)."""
    return environ.get("GITHUB_ACTIONS") == "true"


def stop_token() -> str:
    """A `::stop-commands::` token nobody can guess: output cannot resume commands early."""
    return secrets.token_hex(16)


def stop(token: str) -> str:
    return f"::stop-commands::{token}"


def resume(token: str) -> str:
    return f"::{token}::"
