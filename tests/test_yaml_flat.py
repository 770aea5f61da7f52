"""The loader's flat fast path (`key: plain value` lines) never answers differently from libyaml.

Files are generated from pieces chosen to sit on the edge of the flat shape: keys that resolve to
booleans or null, separators without a space, values starting with indicators, '#' and ':' inside
values, quotes, brackets, indentation, tabs, CR, non-ASCII, document markers, duplicate keys.
Whenever the fast path returns a document, libyaml's path must return the same data (with the
same Python types) and the same marks; whenever libyaml finds a problem, the fast path must have
stepped aside.
"""

from __future__ import annotations

from typing import Any

from accessctl.read.yamlfile import MAX_NODES, _composed_document, _flat_document, parse
from hypothesis import example, given, settings
from hypothesis import strategies as st

KEYS = ("requester", "reason", "a", "_x", "x1", "yes", "no", "on", "Off", "null", "NULL",
        "true", "False", "y", "n", "e", "inf", "nan", "a-b", "1", "0x1f", "a.b", "~", "<<", "=")
SEPARATORS = (": ", ":  ", ":", " : ", ":\t", ": \t", "\t: ")
VALUE_CHARS = "aZ09 _-.:/+#'\"[]{},?!&*|>%@`~=<\\;()^$\t"
VALUE_WORDS = ("yes", "No", "true", "null", "~", "1", "-1", "+1", "0x1F", "0o17", "017", "1_000",
               "1.5", ".5", "1e3", "1.0e+3", ".inf", "-.INF", ".nan", "2026-11-23T09:00:00Z",
               "2026-11-23", "12:30", "190:20:30", "...", "---", "-", "- x", "? x", ": x",
               "x: y", "x #y", "x#y", "x:", "x: ", "'q'", "\"q\"", "[a]", "{a: b}", "&a x",
               "*a", "!!str x", "!x y", "|", ">", "%x", "@x", "`x", "=", "<<", "é", "\u2028",
               "x\r", "", " ", "INC-4211", "Investigate 5xx, rollback", "a - b", "a ? b")
PREFIXES = ("", " ", "  ", "\t", "- ", "? ")
COMMENTS = ("", " # c", "  #c", "#c", " #", "\t# c")


def mostly(common: str, *rare: str) -> st.SearchStrategy[str]:
    """`common` three times in four, else one of `rare`: most files stay near the flat shape."""
    return st.one_of(st.just(common), st.just(common), st.just(common), st.sampled_from(rare))


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(mostly("pair", "comment", "blank", "marker", "raw"))
    if kind == "comment":
        return draw(st.sampled_from(("# c", "  # indented", "#", "# key: value", "#\u00e9")))
    if kind == "blank":
        return draw(st.sampled_from(("", " ", "  ", "\t")))
    if kind == "marker":
        return draw(st.sampled_from(("---", "...", "%YAML 1.1", "--- x", "... # c")))
    if kind == "raw":
        return draw(st.text(alphabet=VALUE_CHARS + "\n", max_size=12))
    key = draw(st.one_of(st.sampled_from(KEYS[:5]), st.sampled_from(KEYS)))
    value = draw(st.one_of(st.sampled_from(VALUE_WORDS),
                           st.text(alphabet=VALUE_CHARS, min_size=0, max_size=10),
                           st.text(alphabet="ab09 .:-,", min_size=1, max_size=10)))
    return (draw(mostly("", *PREFIXES[1:])) + key + draw(mostly(": ", *SEPARATORS[1:]))
            + value + draw(mostly("", *COMMENTS[1:])))


@st.composite
def documents(draw: st.DrawFn) -> str:
    # Files of clean lines with at most one generated line in them: the fast path answers often
    # enough for the comparison to mean something.
    clean = st.tuples(st.sampled_from(("requester", "reason", "ticket", "expires_at", "x1")),
                      st.sampled_from("ab09./+_"),
                      st.text(alphabet="ab09 .:-,'\"/+_", max_size=10))
    body = [f"{k}: {first}{rest}"
            for k, first, rest in draw(st.lists(clean, max_size=4, unique_by=lambda t: t[0]))]
    for _ in range(draw(st.integers(0, 2))):
        body.insert(draw(st.integers(0, len(body))), draw(lines()))
    ending = draw(st.sampled_from(("\n", "", "\n\n", "\n  ", "\n# end")))
    return "\n".join(body) + ending


def typed(value: Any) -> Any:
    """Values with their exact types, so that True == 1 and 1.0 == 1 do not hide a difference."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def check_same(text: str) -> None:
    for raw in (text, text.encode("utf-8")):
        flat = _flat_document(raw, "f.yaml", MAX_NODES)
        if flat is None:
            continue
        composed, findings = _composed_document(raw, "f.yaml", MAX_NODES)
        assert findings == [], (text, findings)
        assert composed is not None
        assert typed(flat.data) == typed(composed.data), text
        assert flat.marks == composed.marks, text


@settings(max_examples=3000, deadline=None, database=None)
@given(documents())
@example("# yaml-language-server: $schema=../../schemas/access-request.schema.json\n"
         "requester: alice\nentitlement: prod-admin\nreason: Investigate INC-1, then 5xx\n"
         "ticket: INC-1\nstarts_at: 2026-11-23T09:00:00Z\nexpires_at: 2026-11-23T13:00:00Z\n")
@example("a: x\n  #c\nb: y\n")
@example("a: x\n  # c\n")
@example("a: b:c\n")
@example("a: ...\n")
@example("a: 1_000\nb: .5\nc: yes\nd: null\ne: 0x1F\n")
def test_the_flat_path_agrees_with_libyaml(text: str) -> None:
    check_same(text)


def test_request_files_take_the_flat_path() -> None:
    text = ("# yaml-language-server: $schema=../../schemas/access-request.schema.json\n"
            "requester: alice\nentitlement: prod-admin\nreason: Investigate INC-1\n"
            "ticket: INC-1\nexpires_at: 2026-11-23T13:00:00Z\n")
    flat = _flat_document(text.encode(), "r.yaml", MAX_NODES)
    assert flat is not None
    assert flat.data["expires_at"] == "2026-11-23T13:00:00Z"  # timestamps stay strings
    assert flat.location(("ticket",)).line == 5
    assert flat.location(()).line == 2


def test_what_the_flat_path_leaves_to_libyaml() -> None:
    # Duplicates, null keys, naive-looking values in quotes, indentation: libyaml's findings.
    for text in ("a: x\na: y\n", "null: x\n", "a: 'x'\n", "a:\n  b: c\n", "a: [x]\n",
                 "a: x\n...\n", "a: \u00e9\n", "a: x\r\n", "a:\tx\n", "a: !!str x\n", ""):
        assert _flat_document(text, "f.yaml", MAX_NODES) is None, text
    document, findings = parse(b"a: x\na: y\n", "f.yaml")
    assert document is None and findings[0].code == "yaml-duplicate-key"
    assert (findings[0].location.line, findings[0].location.column) == (2, 1)


def test_the_node_budget_still_applies() -> None:
    text = "".join(f"k{i}: v\n" for i in range(20))
    assert _flat_document(text, "f.yaml", 41) is not None
    assert _flat_document(text, "f.yaml", 40) is None  # 1 + 2 x 20 values: libyaml's path says
    document, findings = parse(text, "f.yaml", max_nodes=40)
    assert document is None and findings[0].code == "yaml-too-large"
