"""`accessctl apply`: grant what active requests ask for, and end what they no longer back."""

from __future__ import annotations

from typing import Any

import click

from accessctl.commands import mutate
from accessctl.core.model import Action


@click.command("apply")
@mutate.options
def command(ctx: click.Context, **values: Any) -> None:
    """Grant approved active requests and revoke ended ones (dry-run unless --confirm)."""
    mutate.run(ctx, mutate.Options(**values), frozenset({Action.GRANT, Action.REVOKE}))
