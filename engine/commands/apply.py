"""`accessctl apply`: grant what active requests ask for, and end what they no longer back."""

from __future__ import annotations

from pathlib import Path

import click

from engine.commands import mutate
from engine.model import Action


@click.command("apply")
@mutate.options
def command(ctx: click.Context, repo: Path, now_text: str | None, confirm: bool,
            audit_file: Path | None, commit: str | None, concurrency: int) -> None:
    """Grant active requests and revoke ended ones (dry-run unless --confirm)."""
    mutate.run(ctx, repo, now_text, confirm, audit_file, commit, concurrency,
               frozenset({Action.GRANT, Action.REVOKE}))
