"""`accessctl revoke`: the scheduled sweep. It only ever takes access away, never grants."""

from __future__ import annotations

from typing import Any

import click

from engine.commands import mutate
from engine.model import Action


@click.command("revoke")
@mutate.options
def command(ctx: click.Context, **values: Any) -> None:
    """Revoke every grant no unexpired request backs (dry-run unless --confirm).

    The scheduled sweep: it never grants, so it needs no approval look-ups.
    """
    mutate.run(ctx, mutate.Options(**values), frozenset({Action.REVOKE}))
