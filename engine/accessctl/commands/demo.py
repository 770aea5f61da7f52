"""`accessctl demo`: the main job end to end on local servers, with no credentials."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from accessctl.commands.common import environment, repo_option
from accessctl.core.errors import ConfigError, FindingsError


@click.command("demo")
@repo_option
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's working files (checkout, audit log) in this directory.")
@click.pass_context
def command(ctx: click.Context, repo: Path, keep: Path | None) -> None:
    """Request, validate, approve, merge, grant, expire, revoke, report: narrated, on local
    servers started in-process (GitHub emulator, moto for AWS, Google Cloud emulator)."""
    env = environment(ctx)
    if not (repo / "policies").is_dir():
        raise ConfigError(f"{repo} has no policies/: run from the accessctl repository")
    try:
        from accessctl.demo import run_demo
    except ImportError as error:
        raise ConfigError(f"the demo needs the test servers: pip install 'accessctl[demo]' "
                          f"({error.name} is missing)") from None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        failures = run_demo(repo, keep, env.stdout)
    else:
        with tempfile.TemporaryDirectory(prefix="accessctl-demo-") as workdir:
            failures = run_demo(repo, Path(workdir), env.stdout)
    if failures:
        raise FindingsError(f"{failures} demo step(s) did not go as expected")
    env.stdout.write("\nThe demo ran end to end.\n")
