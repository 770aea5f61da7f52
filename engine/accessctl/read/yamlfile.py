"""The only YAML reader in the engine.

Safe loading (the C parser where present), duplicate keys rejected, alias expansion bounded, a size
limit per file, and a line/column for every value so that every later error can point at the file.
Timestamps are not resolved here: they stay strings, so that naive times can be refused with a
clear message instead of silently becoming local times.

A file that is certainly a flat mapping of plain `key: value` lines (nearly every request) is read
by a line parser that gives libyaml's exact values and positions; anything else goes to libyaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from accessctl.core.model import Finding, Location

MAX_FILE_BYTES = 256 * 1024
MAX_NODES = 20_000
"""Values a document may expand to, aliases included: a 'billion laughs' stops here."""
POLICY_MAX_FILE_BYTES = 16 * 1024 * 1024
POLICY_MAX_NODES = 2_000_000
"""identities.yaml and providers.yaml grow with the organisation (5,000 people is ~25,000
values), and only protected, code-owned commits change them; requests keep the small limits."""
MAX_DEPTH = 64

JsonPath = tuple[str | int, ...]

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
"""JSON's data model: no binary, sets, ordered maps or language-specific objects."""
_STR_TAG = "tag:yaml.org,2002:str"

try:  # The C parser is several times faster; fall back where libyaml is missing.
    _Parser: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Parser = yaml.SafeLoader


class _Loader(_Parser):  # type: ignore[misc]
    """Safe loader without the implicit timestamp resolver."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_IMPLICIT: dict[Any, list[tuple[str, Any]]] = _Loader.yaml_implicit_resolvers
_SCALAR, _SEQUENCE, _MAPPING = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
_DEFAULT_TAGS = {_SCALAR: _Loader.DEFAULT_SCALAR_TAG, _SEQUENCE: _Loader.DEFAULT_SEQUENCE_TAG,
                 _MAPPING: _Loader.DEFAULT_MAPPING_TAG}


def _resolve(self: Any, kind: type, value: Any, implicit: tuple[bool, bool]) -> Any:
    """BaseResolver.resolve for a loader without wildcard or path resolvers, minus its list
    concatenation per scalar: the C composer calls this once for every node."""
    if kind is _SCALAR and implicit[0]:
        for tag, regexp in _IMPLICIT.get(value[0] if value else "", ()):
            if regexp.match(value):
                return tag
    return _DEFAULT_TAGS[kind]


if None not in _IMPLICIT and not _Loader.yaml_path_resolvers:
    _Loader.resolve = _resolve


@dataclass
class Document:
    """A parsed YAML file and where each value was written."""

    path: str
    data: Any
    marks: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, json_path: JsonPath = ()) -> Location:
        """The closest recorded position for `json_path` (falls back to its parents)."""
        probe = tuple(json_path)
        while probe:
            if probe in self.marks:
                line, column = self.marks[probe]
                return Location(self.path, line, column)
            probe = probe[:-1]
        line, column = self.marks.get((), (1, 1))
        return Location(self.path, line, column)


class _TooLarge(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.mark = mark


class _Builder:
    """Turns a composed node graph into plain Python values, counting every value it expands."""

    def __init__(self, document: Document, max_nodes: int) -> None:
        self.document = document
        # Only its scalar constructors are used; a bare constructor, not a whole loader per file.
        self.constructor = yaml.constructor.SafeConstructor()
        self.max_nodes = max_nodes
        self.budget = max_nodes
        self.findings: list[Finding] = []
        # Aliased nodes carry their anchor's position; report the key being expanded instead.
        self.current_key: yaml.Mark | None = None

    def build(self, node: yaml.Node, path: JsonPath, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise _TooLarge(
                f"the document expands to more than {self.max_nodes} values (aliases included); "
                "split it or remove anchors and aliases",
                self.current_key or node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise _TooLarge(f"the document nests deeper than {MAX_DEPTH} levels", node.start_mark)
        self.document.marks.setdefault(path, _position(node.start_mark))
        if node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"the tag {node.tag!r} is not allowed", node.start_mark
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _STR_TAG:
            return node.value  # what SafeConstructor.construct_yaml_str returns, without dispatch
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _TooLarge(
                    "merge keys (<<) are not supported: write the values out", key_node.start_mark
                )
            if not isinstance(key_node, yaml.ScalarNode):
                # A sequence or mapping as a key is not JSON, and would expand aliases unbounded.
                raise _TooLarge("keys must be plain strings, not lists or mappings",
                                key_node.start_mark)
            self.budget -= 1
            if key_node.tag == _STR_TAG:
                key = key_node.value
            else:
                key = self.constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.findings.append(
                    Finding(
                        Location(self.document.path, line, key_node.start_mark.column + 1),
                        "yaml-duplicate-key",
                        f"key {key!r} appears twice (first on line {seen[key]}): keep one",
                    )
                )
                continue
            seen[key] = line
            self.current_key = key_node.start_mark
            self.document.marks[(*path, key)] = _position(key_node.start_mark)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        return result


def _position(mark: yaml.Mark | None) -> tuple[int, int]:
    if mark is None:
        return (1, 1)
    return (mark.line + 1, mark.column + 1)


_ODD_BREAKS = {"\x85": "NEL (U+0085)", "\u2028": "line separator (U+2028)",
               "\u2029": "paragraph separator (U+2029)"}


_ODD_BREAK = re.compile("[\x85\u2028\u2029]|\r(?!\n)")
_ODD_BREAK_BYTES = re.compile(b"\r|\xc2\x85|\xe2\x80[\xa8\xa9]")
"""The UTF-8 encodings of the characters above: without one of them no text needs decoding."""


def _yaml_only_line_break(text: str | bytes) -> tuple[int, str] | None:
    """The git line number and name of the first character YAML, but not git, breaks lines at."""
    if isinstance(text, bytes):
        if _ODD_BREAK_BYTES.search(text) is None:
            return None
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None  # reported by the parser as not UTF-8
    found = _ODD_BREAK.search(text)
    if found is None:
        return None
    index = found.start()
    name = _ODD_BREAKS.get(found.group(), "carriage return without a newline")
    return text.count("\n", 0, index) + 1, name


def parse(
    text: str | bytes, path: str, *, max_bytes: int = MAX_FILE_BYTES, max_nodes: int = MAX_NODES
) -> tuple[Document | None, list[Finding]]:
    """Parse one YAML document. Returns the document, or None and the findings that stopped it."""
    size = len(text)
    if size > max_bytes:
        return None, [
            Finding(
                Location(path, 1, 1),
                "file-too-large",
                f"the file is {size} bytes; the limit is {max_bytes}: a request or policy "
                "file this large is not a mistake to keep",
            )
        ]
    odd_break = _yaml_only_line_break(text)
    if odd_break is not None:
        return None, [
            Finding(Location(path, odd_break[0], 1), "yaml-line-break",
                    f"line {odd_break[0]} holds a {odd_break[1]}: YAML counts it as a line "
                    "break but git does not, so positions would be wrong; use plain newlines")]
    flat = _flat_document(text, path, max_nodes)
    if flat is not None:
        return flat, []
    return _composed_document(text, path, max_nodes)


# -- the flat fast path ----------------------------------------------------------------------------
# Nearly every request file is a handful of `key: plain value` lines under a comment. libyaml
# composes a node (with two marks) per scalar and the builder walks them again; for a file that is
# certainly in that shape, one regular expression per line gives the same values and positions at
# a fraction of the cost. Anything the expressions below do not certainly cover (quotes, flow or
# block collections, indentation, tabs, non-ASCII, empty values, document markers, duplicate
# keys, tags the resolver would give a non-JSON type...) goes to libyaml, which also writes every
# finding. tests/test_yaml_flat.py checks, on generated near-miss files, that whenever this path
# answers, libyaml's answer is the same data and the same marks.

_FLAT_TEXT = re.compile("[\x20-\x7e\n]*")
_FLAT_BYTES = re.compile(b"[\x20-\x7e\n]*")
"""Printable ASCII and newlines only: no tab, CR, BOM, control or non-ASCII character."""
_FLAT_LINE = re.compile(
    # A key at column 0 (simple keys are bounded at 1024 characters: stay far below), ": ", then
    # a plain scalar that starts with no indicator, holds no '#' and no ': ' nor a trailing ':',
    # and no flow brackets; then spaces, or spaces and a comment.
    r"([A-Za-z_][A-Za-z0-9_]{0,127}): +([A-Za-z0-9_./+](?:[^#:\[\]{}]|:(?=[^ ]))*?)(?: +#.*| *)"
    # or a blank line, or a comment at any indentation.
    r"| *(?:#.*)?"
)
_FLAT_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null")
)


def _implicit_tag(value: str) -> str:
    """The tag _Loader's resolver gives a plain scalar (value is never empty here)."""
    for tag, regexp in _IMPLICIT.get(value[0], ()):
        if regexp.match(value):
            return str(tag)
    return _STR_TAG


def _flat_document(text: str | bytes, path: str, max_nodes: int) -> Document | None:
    """The document when `text` is certainly a flat mapping of plain scalars; None when unsure."""
    if isinstance(text, bytes):
        if _FLAT_BYTES.fullmatch(text) is None:
            return None
        text = text.decode("ascii")
    elif _FLAT_TEXT.fullmatch(text) is None:
        return None
    data: dict[str, Any] = {}
    marks: dict[JsonPath, tuple[int, int]] = {}
    constructor: yaml.constructor.SafeConstructor | None = None
    match = _FLAT_LINE.fullmatch
    for number, line in enumerate(text.split("\n"), 1):
        found = match(line)
        if found is None:
            return None
        key = found.group(1)
        if key is None:
            continue  # blank or comment
        if key in data or _implicit_tag(key) != _STR_TAG:
            return None  # libyaml's path reports duplicates; `null:` is not the key "null"
        value: Any = found.group(2)
        tag = _implicit_tag(value)
        if tag != _STR_TAG:
            if tag not in _FLAT_TAGS:
                return None
            constructor = constructor or yaml.constructor.SafeConstructor()
            try:
                value = constructor.construct_object(yaml.ScalarNode(tag, value), deep=True)
            except (ValueError, TypeError, KeyError, IndexError, OverflowError):
                return None  # e.g. `0b_`: libyaml's path words the finding
        data[key] = value
        marks[(key,)] = (number, 1)
    if not data or 1 + 2 * len(data) > max_nodes:
        return None
    marks[()] = next(iter(marks.values()))  # the mapping starts at its first key
    return Document(path, data, marks)


def _composed_document(text: str | bytes, path: str,
                       max_nodes: int) -> tuple[Document | None, list[Finding]]:
    """Any YAML: composed by libyaml, built by `_Builder`, every problem a finding."""
    document = Document(path, None)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = _position(mark)
        problem = error.problem or "invalid YAML"
        context = f" {error.context}" if error.context else ""
        return None, [
            Finding(
                Location(path, line, column),
                "yaml-syntax",
                f"YAML syntax error: {problem}{context}; fix the line or quote the value",
            )
        ]
    except yaml.YAMLError as error:
        return None, [Finding(Location(path, 1, 1), "yaml-syntax", f"YAML error: {error}")]
    except UnicodeDecodeError:
        return None, [Finding(Location(path, 1, 1), "yaml-encoding", "the file is not UTF-8")]
    if node is None:
        return None, [Finding(Location(path, 1, 1), "yaml-empty", "the file is empty")]
    builder = _Builder(document, max_nodes)
    try:
        document.data = builder.build(node, ())
    except _TooLarge as error:
        line, column = _position(error.mark)
        return None, [Finding(Location(path, line, column), "yaml-too-large", str(error))]
    except yaml.constructor.ConstructorError as error:
        line, column = _position(error.problem_mark)
        return None, [
            Finding(
                Location(path, line, column),
                "yaml-tag",
                f"unsupported YAML value: {error.problem}; use plain strings, numbers and lists",
            )
        ]
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:
        # PyYAML's scalar constructors fail in these ways on values like `!!bool maybe`.
        line, column = _position(node.start_mark)
        return None, [Finding(Location(path, line, column), "yaml-value",
                              f"a value cannot be read ({type(error).__name__}: {error}); "
                              "remove the explicit !!tag or quote the value")]
    if builder.findings:
        return None, builder.findings
    return document, []


def expect_mapping(document: Document) -> list[Finding]:
    """Every file the engine reads holds one mapping at its top level."""
    if isinstance(document.data, Mapping):
        return []
    kind = type(document.data).__name__
    return [
        Finding(
            document.location(),
            "not-a-mapping",
            f"the file must hold a mapping of keys to values, not a {kind}",
        )
    ]
