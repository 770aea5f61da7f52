"""What the engine prints stays text: no untrusted value can start a line, a workflow command or a
terminal escape sequence.

Request files are written by requesters, and their names and values reach stdout and stderr: a
terminal, and in CI the GitHub Actions runner, which reads every output line for workflow
commands (`::add-mask::`, `::error::`, `::stop-commands::`; the legacy `##[add-mask]` anywhere in
a line) in jobs that hold production credentials. Two layers keep them inert:

- `escape(value)` for each untrusted value put into a line: control characters (CR, LF, the
  other C0 and C1 controls, DEL, Unicode line separators and bidirectional overrides) are shown
  as visible escapes (`\\n`, `\\x1b`, `\\u2028`), so a value can never begin a new line;
- `GuardedStream`, which every command's stdout and stderr go through (commands/common.py),
  for what a value-level escape cannot see: it escapes control characters other than LF and tab,
  breaks `##[` wherever it appears and `::` at the start of a line (after white space, as the
  runner trims it), with `\\u005b` and `\\u003a`, which leave a JSON line valid and equal.

The engine's own workflow commands (annotations) are written with `GuardedStream.command`. Under
GitHub Actions the whole run is also inside `::stop-commands::<random token>`, so whatever a check
misses is not acted on either.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO, cast

from accessctl.core import workflow_commands
from accessctl.core.environment import Environment

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}]")
_CONTROL_IN_LINE = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}]")
_LEGACY_COMMAND = re.compile(r"(?<=##)\[")
_LEADING_COMMAND = re.compile(r"\s*:(?=:)")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(value: str) -> str:
    """An untrusted value as it may appear inside a line: every control character shown as an
    escape (a backslash in the value itself is left as it is: this is for reading, not
    round-tripping)."""
    return _CONTROL.sub(_visible, value)


def guard_line(line: str) -> str:
    """One output line (without its line break) that the runner cannot read as a command."""
    line = _CONTROL_IN_LINE.sub(_visible, line)
    line = _LEGACY_COMMAND.sub(r"\\u005b", line)
    leading = _LEADING_COMMAND.match(line)
    if leading:
        line = f"{line[:leading.end()]}\\u003a{line[leading.end() + 1:]}"
    return line


@dataclass
class _Commands:
    """The runner's command processing, shared by stdout and stderr: stopped by `token`."""

    token: str | None = None


class GuardedStream(io.TextIOBase):
    """A text stream that writes every line through `guard_line`.

    Writes may split a line anywhere: the guarded form of a line's beginning never changes once
    more of the line arrives, so what was already written stays right and only the rest is sent.
    """

    def __init__(self, inner: TextIO, commands: _Commands | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.commands = commands or _Commands()
        self._line = ""
        self._sent = 0

    def write(self, text: str) -> int:
        *complete, rest = text.split("\n")
        out = []
        for piece in complete:
            out.append(guard_line(self._line + piece)[self._sent:] + "\n")
            self._line, self._sent = "", 0
        if rest:
            self._line += rest
            guarded = guard_line(self._line)
            out.append(guarded[self._sent:])
            self._sent = len(guarded)
        self.inner.write("".join(out))
        return len(text)

    def command(self, lines: Iterable[str]) -> None:
        """Write the engine's own workflow commands, each on a line of its own. Their values
        must be escaped already (engine/accessctl/core/workflow_commands.py)."""
        self.end_line()
        token = self.commands.token
        out = [workflow_commands.resume(token)] if token else []
        out += list(lines)
        if token:
            self.commands.token = workflow_commands.stop_token()
            out.append(workflow_commands.stop(self.commands.token))
        self.inner.write("".join(f"{line}\n" for line in out))
        self.inner.flush()

    def end_line(self) -> None:
        """Finish a line left unfinished, so that what comes next starts a line."""
        if self._line:
            self.inner.write("\n")
            self._line, self._sent = "", 0

    def flush(self) -> None:
        self.inner.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"


def write_commands(stream: TextIO, lines: Iterable[str]) -> None:
    """The engine's own workflow commands to `stream`, guarded or not."""
    if isinstance(stream, GuardedStream):
        stream.command(lines)
    else:
        stream.write("".join(f"{line}\n" for line in lines))


def install(env: Environment) -> bool:
    """Put the environment's stdout and stderr behind the guard (once); under GitHub Actions,
    stop the runner's command processing too. True when this call installed it."""
    if isinstance(env.stdout, GuardedStream):
        return False
    shared = _Commands()
    out, err = GuardedStream(env.stdout, shared), GuardedStream(env.stderr, shared)
    env.stdout, env.stderr = cast(TextIO, out), cast(TextIO, err)
    if workflow_commands.active(env.environ):
        # On stdout only, flushed at once: the runner reads stdout and stderr on two pipes, and
        # a second stop on the other could land after a resume. Either way the guard, not the
        # stop, is what keeps each line inert, so the order of the two pipes is not relied on.
        shared.token = workflow_commands.stop_token()
        out.inner.write(workflow_commands.stop(shared.token) + "\n")
        out.inner.flush()
    return True


def release(env: Environment) -> None:
    """Resume the runner's command processing at the end of the run (when it was stopped)."""
    out, err = env.stdout, env.stderr
    if not isinstance(out, GuardedStream) or not isinstance(err, GuardedStream):
        return
    token = out.commands.token
    if token is None:
        return
    out.commands.token = None
    err.flush()
    out.end_line()
    out.inner.write(workflow_commands.resume(token) + "\n")
    out.inner.flush()
