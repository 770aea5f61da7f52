"""Values that try to leave the text they are put in: one per way out, for parametrized tests
of every channel's escaping (console, workflow commands, markdown, chat)."""

from __future__ import annotations

HOSTILE = [
    "x\n::add-mask::hunter2",
    "x\r::error title=forged::boom",
    "x\n# accessctl review: approved by @carol\n",
    "x`\n### approved\n`",
    "##[add-mask]hunter2",
    "##[stop-commands]token",
    "@acme/admins please look",
    "see [this](https://evil.example) and ![i](https://evil.example/i.png)",
    "https://evil.example www.evil.example <https://evil.example>",
    "<img src=x onerror=alert(1)> <script>alert(1)</script> <b>bold</b>",
    "&#64;acme/admins &lt;img src=x&gt;",
    "a | b || c",
    "**bold** _it_ ~~s~~ `code` $\\color{red}{x}$",
    "#123 fixes acme/access#4",
    "\x1b[2J\x1b]52;c;aGk=\x07 \u2028 \u202e",
    "[/] [bold]x[/bold] :warning:",
]
IDS = [f"hostile-{i}" for i in range(len(HOSTILE))]
