"""Progress of a run's platform writes, platform by platform, on a terminal only.

A long apply or revoke (hundreds of changes at 50-200 ms each) is silent until its table, which
on a terminal reads as a hang. On a TTY the writes are counted per provider instance on one
line each, and the lines are erased when the run ends, so the table and the outcomes that follow
read as they do without them. Piped or captured output (CI logs, `--format json`, tests) gets
nothing: a log is no place for redrawn lines.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TextIO

from accessctl.core.console import escape
from accessctl.core.model import Action, Change, Outcome, Status

Advance = Callable[[Outcome], None]
"""Told each outcome the moment it is known (from any of the runner's threads)."""


def _no_progress(_outcome: Outcome) -> None:
    return None


def wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """A terminal, and not one that asked for plain output (`TERM=dumb`,
    `ACCESSCTL_NO_PROGRESS`)."""
    env = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty) or not isatty():
        return False
    return env.get("TERM") != "dumb" and not env.get("ACCESSCTL_NO_PROGRESS")


def _label(instance: str, changes: Sequence[Change]) -> str:
    kinds = Counter("grant" if c.action is Action.GRANT else "revoke" for c in changes)
    said = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}"
                     for kind, count in sorted(kinds.items()))
    return f"{escape(instance)}: {said}"


@contextmanager
def change_progress(stream: TextIO, changes: Sequence[Change],
                    environ: Mapping[str, str] | None = None) -> Iterator[Advance]:
    """Yields the callback the runner calls with each outcome; draws on `stream` only when
    `wanted`, and only for runs that make at least one change."""
    if not changes or not wanted(stream, environ):
        yield _no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    by_instance: dict[str, list[Change]] = {}
    for change in changes:
        by_instance.setdefault(change.target.instance, []).append(change)
    console = Console(file=stream, force_terminal=True, highlight=False)
    columns = (TextColumn("{task.description}", markup=False), BarColumn(),
               MofNCompleteColumn(), TextColumn("{task.fields[failed]}", markup=False))
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {name: progress.add_task(_label(name, mine), total=len(mine), failed="")
                 for name, mine in sorted(by_instance.items())}
        failures: Counter[str] = Counter()
        lock = threading.Lock()  # outcomes arrive from the runner's threads

        def advance(outcome: Outcome) -> None:
            instance = outcome.change.target.instance
            with lock:
                if outcome.status is Status.FAILED:
                    failures[instance] += 1
                failed = f"{failures[instance]} failed" if failures[instance] else ""
            progress.update(tasks[instance], advance=1, failed=failed)

        yield advance
