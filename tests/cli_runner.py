"""Run the CLI in-process with captured output and a fixed environment."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from accessctl.cli import run
from accessctl.core.environment import Environment


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]


def invoke(*args: str, environ: dict[str, str] | None = None,
           now: datetime | None = None, clock: Callable[[], datetime] | None = None) -> Result:
    """Run the CLI in-process; its clock stands still at `now`, or runs as `clock` says."""
    out, err = io.StringIO(), io.StringIO()
    fixed = now or datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    env = Environment(stdout=out, stderr=err, environ=environ or {},
                      clock=clock or (lambda: fixed))
    code = run(list(args), env)
    return Result(code, out.getvalue(), err.getvalue())
