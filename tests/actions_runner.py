"""How the GitHub Actions runner reads a step's output for workflow commands.

A model of actions/runner's ActionCommandManager.TryProcessCommand and ActionCommand.TryParseV2
/ TryParse (src/Runner.Worker/ActionCommandManager.cs, src/Runner.Common/ActionCommand.cs), so
that tests can ask what a job would have done with what the engine printed:

- output is read line by line (.NET ReadLine: a line ends at CR, LF or CRLF);
- `::name props::data` counts when the line starts with it after leading white space is trimmed;
  properties are split on ',' and unescaped (%0D %0A %3A %2C %25), data unescaped (%0D %0A %25);
- the legacy `##[name props]data` counts wherever `##[` appears in the line;
- only registered command names count (case-insensitively); `stop-commands` makes every later
  command inert until one named after its token comes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REGISTERED = frozenset({
    "set-env", "set-output", "save-state", "add-mask", "add-path", "add-matcher",
    "remove-matcher", "debug", "warning", "error", "notice", "group", "endgroup", "echo",
    "stop-commands",
})


@dataclass(frozen=True)
class Command:
    name: str
    data: str
    properties: dict[str, str] = field(default_factory=dict)


def _unescape(text: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in pairs:
        text = text.replace(escaped, plain)
    return text


_DATA = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY = (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%"))
_LEGACY = (("%3B", ";"), ("%0D", "\r"), ("%0A", "\n"), ("%5D", "]"), ("%25", "%"))


def _parse_v2(line: str, registered: set[str]) -> Command | None:
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props = info.partition(" ")
    if name.casefold() not in registered:
        return None
    properties = {}
    for pair in (p for p in props.strip().split(",") if p):
        key, sep, value = pair.partition("=")
        if sep and key and value:
            properties[key] = _unescape(value, _PROPERTY)
    return Command(name, _unescape(message[end + 2:], _DATA), properties)


def _parse_v1(line: str, registered: set[str]) -> Command | None:
    start = line.find("##[")
    if start < 0:
        return None
    close = line.find("]", start)
    if close < 0:
        return None
    info = line[start + 3:close]
    name, _, props = info.partition(" ")
    if name.casefold() not in registered:
        return None
    properties = {}
    for pair in (p for p in props.split(";") if p):
        key, sep, value = pair.partition("=")
        if sep and key and value:
            properties[key] = _unescape(value, _LEGACY)
    return Command(name, _unescape(line[close + 1:], _LEGACY), properties)


def commands(log: str) -> list[Command]:
    """The workflow commands the runner would act on in `log`, in order (a stop and the resume
    included; commands while stopped left out)."""
    registered = {name.casefold() for name in REGISTERED}
    stop: str | None = None
    acted: list[Command] = []
    for line in re.split(r"\r\n|\r|\n", log):
        command = _parse_v2(line, registered) or _parse_v1(line, registered)
        if command is None:
            continue
        if stop is not None:
            if command.name.casefold() == stop.casefold():
                registered.discard(stop.casefold())
                stop = None
                acted.append(command)
            continue
        if command.name.casefold() == "stop-commands":
            stop = command.data
            registered.add(stop.casefold())
        acted.append(command)
    return acted


def names(log: str) -> list[str]:
    return [c.name for c in commands(log)]
