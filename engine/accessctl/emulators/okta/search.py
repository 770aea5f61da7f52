"""Okta's search and filter expressions (`search=`, `filter=`): `eq`, `sw`, `co` and `pr`,
`and`/`or` and parentheses, compared case-insensitively; anything else is a 400 `E0000031`."""

from __future__ import annotations

import re
from typing import Any

from accessctl.emulators.http import JSON, HttpError, Request
from accessctl.emulators.okta.wire import okta_error

_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<string>"(?:[^"\\]|\\.)*")|(?P<word>[\w.:-]+))')


class Search:
    """A tiny recursive-descent parser for Okta's SCIM-like search and filter expressions."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise invalid_search()
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.position = 0

    def parse(self) -> Any:
        tree = self._or()
        if self.position != len(self.tokens):
            raise invalid_search()
        return tree

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise invalid_search()
        self.position += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while (token := self._peek()) and token[0] == "word" and token[1].lower() == "or":
            self.position += 1
            left = ("or", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._clause()
        while (token := self._peek()) and token[0] == "word" and token[1].lower() == "and":
            self.position += 1
            left = ("and", left, self._clause())
        return left

    def _clause(self) -> Any:
        kind, text = self._next()
        if (kind, text) == ("paren", "("):
            inner = self._or()
            if self._next() != ("paren", ")"):
                raise invalid_search()
            return inner
        if kind != "word":
            raise invalid_search()
        operator = self._next()
        if operator[0] != "word" or operator[1].lower() not in ("eq", "sw", "co", "pr"):
            raise invalid_search()
        if operator[1].lower() == "pr":
            return ("pr", text, None)
        value_kind, value = self._next()
        if value_kind == "string":
            # Okta's escapes: \" and \\ inside a double-quoted string.
            literal: JSON = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif value_kind == "word" and value.lower() in ("true", "false"):
            literal = value.lower() == "true"
        elif value_kind == "word" and value.isdigit():
            literal = int(value)
        else:
            raise invalid_search()
        return (operator[1].lower(), text, literal)


def invalid_search() -> HttpError:
    return HttpError(400, okta_error("E0000031", "Invalid search criteria."))


def matches(tree: Any, lookup: Any) -> bool:
    operator, left, right = tree
    if operator == "and":
        return matches(left, lookup) and matches(right, lookup)
    if operator == "or":
        return matches(left, lookup) or matches(right, lookup)
    value = lookup(left)
    if operator == "pr":
        return value is not None and value != ""
    if value is None:
        return False
    if isinstance(right, str):
        have, want = str(value).casefold(), right.casefold()
        if operator == "eq":
            return have == want
        if operator == "sw":
            return have.startswith(want)
        return want in have
    return bool(operator == "eq" and value == right)


def search_of(request: Request) -> Any:
    """The parsed `search` (or `filter`) expression of a request; None without one."""
    expression = request.arg("search") or request.arg("filter")
    return Search(expression).parse() if expression else None
