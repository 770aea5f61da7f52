"""Untrusted values in the markdown the engine writes, kept as text. Pure.

The pull request comment, the job summary and `report --format md` show file names, logins,
reasons and tickets that requesters wrote. GitHub and GitLab render that markdown (and raw HTML),
then turn text that looks like `@login`, `@org/team`, `#12` or a URL into mentions, references and
links. `text(value)` makes a value inline text with none of that, the same in a paragraph, a list
item or a table cell:

- control characters are shown as escapes (`\\n`, as on the console): a value stays on its line,
  so it cannot start a heading, a list, a table row or a link definition;
- markdown punctuation is backslash-escaped (emphasis, code, links and images, table pipes,
  headings, HTML `<>`, entity `&`, math `$`);
- mention and reference sigils (`@` `#` `!` `~` `%` `&` `$`) before a word, and `://` and `www.`,
  get a zero-width space, so GitHub and GitLab neither notify nor link (a backslash is not
  enough: they look for mentions in the rendered text, where the backslash is gone).

`chat(value)` does the same for Slack-style webhook text, where `<...>` is how links and
mentions are written (`<https://...|x>`, `<!channel>`, `<@U123>`): `&`, `<` and `>` are the
characters Slack asks senders to escape.
"""

from __future__ import annotations

import re

from accessctl.core.console import escape

_ZERO_WIDTH = "&#8203;"
"""A zero-width space, written as an entity so the markdown source shows it."""

_PUNCTUATION = re.compile(r"[\\`*_\[\]<>#!|~$&]")
_SIGIL = re.compile(r"(?<=[@#!~%&$])(?=[\w\"])|(?<=:)(?=//)|(?i:(?<=\bwww)(?=\.))")


def text(value: str) -> str:
    """A value as inline markdown text: a paragraph's, a list item's or a table cell's."""
    shown = _PUNCTUATION.sub(lambda m: "\\" + m.group(), escape(value))
    return _SIGIL.sub(_ZERO_WIDTH, shown)


def code(value: str) -> str:
    """A value in code style. `<code>` rather than backticks: a backtick code span takes no
    escapes, so a value could close it."""
    return f"<code>{text(value)}</code>"


_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~/%+-]*)?")


def link(url: str) -> str:
    """A URL the engine got from the VCS (a pull request's address) as a working link, when it
    is a plain http(s) address; anything else is shown as inert text."""
    if _PLAIN_URL.fullmatch(url):
        return f"<{url}>"
    return text(url)


_CHAT = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def chat(value: str) -> str:
    """Slack-style webhook text: no links, no `<!here>`, no `<@U123>` mention (Slack reads
    mentions and links only inside `<...>`; a plain `@name` stays text), on one line."""
    return "".join(_CHAT.get(c, c) for c in escape(value))
