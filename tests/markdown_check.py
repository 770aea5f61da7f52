"""What a markdown text turns into once rendered: for tests that feed it hostile values.

CommonMark with GFM tables and raw HTML on (as GitHub and GitLab take a comment), through
markdown-it-py. GitHub then turns text that looks like `@login`, `@org/team`, `#123` or a bare
URL into mentions and links; those are looked for in the rendered text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_TAG = re.compile(r"<[^>]*>")
_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9][A-Za-z0-9-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?)")
_REFERENCE = re.compile(r"(?<![\w&])#[0-9]")
_BARE_LINK = re.compile(r"(?i)\b(?:https?|ftp)://|\bwww\.")


@dataclass(frozen=True)
class Rendered:
    html: str

    @property
    def text(self) -> str:
        return html.unescape(_TAG.sub(" ", self.html))

    def headings(self) -> list[str]:
        return [html.unescape(_TAG.sub("", h)).strip()
                for h in re.findall(r"<h[1-6]>(.*?)</h[1-6]>", self.html, re.S)]

    def tags(self) -> set[str]:
        return {t.lower() for t in re.findall(r"<([A-Za-z][A-Za-z0-9]*)", self.html)}

    def rows(self) -> list[int]:
        """Cells per table row."""
        return [len(re.findall(r"<t[dh][ >]", row))
                for row in re.findall(r"<tr>(.*?)</tr>", self.html, re.S)]

    def mentions(self) -> set[str]:
        return set(_MENTION.findall(self.text))

    def problems(self, headings: list[str], tags: set[str],
                 mentions: frozenset[str] = frozenset()) -> list[str]:
        """What a hostile value achieved: a heading or tag that is not the engine's, a link, a
        live mention or issue reference, a URL GitHub would link."""
        found = []
        if self.headings() != headings:
            found.append(f"headings {self.headings()} (expected {headings})")
        extra = self.tags() - tags
        if extra:
            found.append(f"tags {sorted(extra)}")
        if self.mentions() - mentions:
            found.append(f"mentions {sorted(self.mentions() - mentions)}")
        for name, pattern in (("reference", _REFERENCE), ("bare link", _BARE_LINK)):
            match = pattern.search(self.text)
            if match:
                around = self.text[max(0, match.start() - 20):match.end() + 20]
                found.append(f"{name} at {around!r}")
        return found


def render(markdown: str) -> Rendered:
    return Rendered(_RENDERER.render(markdown))
