"""`accessctl revoke`: the scheduled sweep. It only ever takes access away, never grants."""

from __future__ import annotations

from typing import Any

import click

from accessctl.commands import mutate
from accessctl.core.model import Action


@click.command("revoke")
@mutate.options
def command(ctx: click.Context, **values: Any) -> None:
    """Revoke every grant no unexpired request backs (dry-run unless --confirm).

    The scheduled sweep: it never grants, so it needs no approval look-ups, except for
    break-glass grants whose review deadline may have passed: without the code owners'
    ratification they are revoked (and when the VCS cannot be asked, too, to be safe).
    """
    mutate.run(ctx, mutate.Options(**values), frozenset({Action.REVOKE}))
