"""`accessctl revoke`: the scheduled sweep. It only ever takes access away, never grants."""

from __future__ import annotations

from pathlib import Path

import click

from engine.commands import mutate
from engine.model import Action


@click.command("revoke")
@mutate.options
def command(ctx: click.Context, repo: Path, now_text: str | None, confirm: bool,
            audit_file: Path | None, commit: str | None, concurrency: int) -> None:
    """Revoke every grant no unexpired request backs (dry-run unless --confirm)."""
    mutate.run(ctx, repo, now_text, confirm, audit_file, commit, concurrency,
               frozenset({Action.REVOKE}))
