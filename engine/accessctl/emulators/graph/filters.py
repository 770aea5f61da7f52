"""OData `$filter` as Graph serves it here: `prop eq 'literal' [and ...]` and
`prop in ('a', 'b', ...)`, with escape-aware string literals; anything else is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable

from accessctl.emulators.graph.wire import refuse

IN_LIMIT = 15
"""Graph refuses more than 15 values in one `in (...)` clause."""


def _literal(text: str, position: int) -> tuple[str, int]:
    """The OData string literal whose opening quote is just before `position` (a quote inside
    is written as two), and the position after its closing quote."""
    literal: list[str] = []
    while True:
        quote_at = text.find("'", position)
        if quote_at < 0:
            raise refuse(400, "BadRequest", f"Unterminated string literal in filter {text!r}.")
        literal.append(text[position:quote_at])
        if text.startswith("''", quote_at):
            literal.append("'")
            position = quote_at + 2
            continue
        return "".join(literal), quote_at + 1


def parse_filter(text: str, allowed: Iterable[str]) -> dict[str, str]:
    """Parse `prop eq 'literal' [and prop eq 'literal']...`, the only OData form served here.

    String literals are escape-aware: OData writes a single quote inside one as two quotes.
    Anything else is refused, as Graph refuses filters it does not support.
    """
    allowed_names = set(allowed)
    result: dict[str, str] = {}
    position = 0
    clause = re.compile(r"\s*(\w+)\s+eq\s+'")
    while True:
        match = clause.match(text, position)
        if not match or match.group(1) not in allowed_names:
            raise refuse(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter "
                         f"clause specified: {text!r}.")
        result[match.group(1)], position = _literal(text, match.end())
        rest = re.compile(r"\s+and\s+").match(text, position)
        if rest:
            position = rest.end()
            continue
        if text[position:].strip():
            raise refuse(400, "Request_UnsupportedQuery", f"Unsupported filter {text!r}.")
        return result


def parse_in_filter(text: str, allowed: Iterable[str]) -> tuple[str, list[str]] | None:
    """Parse `prop in ('a', 'b', ...)` (None: not that form). More than `IN_LIMIT` values are
    refused, as Graph refuses them."""
    match = re.compile(r"\s*(\w+)\s+in\s*\(").match(text)
    if not match:
        return None
    if match.group(1) not in set(allowed):
        raise refuse(400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter "
                     f"clause specified: {text!r}.")
    values: list[str] = []
    position = match.end()
    while True:
        opening = re.compile(r"\s*'").match(text, position)
        if not opening:
            raise refuse(400, "BadRequest", f"Invalid filter {text!r}.")
        value, position = _literal(text, opening.end())
        values.append(value)
        after = re.compile(r"\s*([,)])").match(text, position)
        if not after:
            raise refuse(400, "BadRequest", f"Invalid filter {text!r}.")
        position = after.end()
        if after.group(1) == ")":
            break
    if text[position:].strip():
        raise refuse(400, "Request_UnsupportedQuery", f"Unsupported filter {text!r}.")
    if len(values) > IN_LIMIT:
        raise refuse(400, "Request_UnsupportedQuery", f"The number of values in an 'in' "
                     f"clause ({len(values)}) exceeds the limit of {IN_LIMIT}.")
    return match.group(1), values
