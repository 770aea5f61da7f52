"""`accessctl schemas`: keep the repository's schemas/ (used by editors) equal to the engine's."""

from __future__ import annotations

from pathlib import Path

import click

from accessctl import schemas
from accessctl.commands.common import environment, repo_option
from accessctl.core.errors import ConfigError, FindingsError


def exported() -> dict[str, str]:
    import json

    return {f"{name}.schema.json": json.dumps(schemas.schema(name), indent=2) + "\n"
            for name in schemas.NAMES}


@click.command("schemas")
@repo_option
@click.option("--write", is_flag=True, help="Write schemas/*.schema.json.")
@click.option("--check", is_flag=True,
              help="Exit 1 when schemas/ differs from the engine's (the default).")
@click.pass_context
def command(ctx: click.Context, repo: Path, write: bool, check: bool) -> None:
    """Export the JSON Schemas for editors (--write) or check they are current (--check, the
    default)."""
    if write and check:
        raise ConfigError("pass one of --write or --check, not both")
    env = environment(ctx)
    directory = repo / "schemas"
    stale = [name for name, text in exported().items()
             if not (directory / name).is_file() or (directory / name).read_text() != text]
    if write:
        directory.mkdir(exist_ok=True)
        for name, text in exported().items():
            (directory / name).write_text(text)
        env.stdout.write(f"wrote {len(exported())} schemas to {directory}\n")
        return
    if stale:
        raise FindingsError(f"schemas/ is out of date ({', '.join(stale)}): run "
                            "'accessctl schemas --write' and commit the result")
    env.stdout.write("schemas/ is up to date\n")
