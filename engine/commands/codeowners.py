"""`accessctl codeowners`: keep .github/CODEOWNERS equal to what the policies say."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click

from engine.codeowners import COMMAND, generate
from engine.commands.common import environment, repo_option, sort_findings
from engine.errors import ConfigError, FindingsError
from engine.load import TreeSource, load_policies
from engine.model import Severity

PATH = ".github/CODEOWNERS"


def expected(repo: Path, out: TextIO) -> str:
    """The file the policies call for; findings are printed to `out` and end the run."""
    if not repo.is_dir():
        raise ConfigError(f"{repo} is not a directory: pass --repo with the access repository")
    if not (repo / "policies").is_dir():
        raise ConfigError(
            f"{repo} has no policies/ directory: run from the access repository or pass --repo"
        )
    source = TreeSource(repo)
    policies, findings = load_policies(source)
    findings = sort_findings([*findings, *source.refused])
    for finding in findings:
        out.write(f"{finding.location}: {finding.severity.value}: {finding.message} "
              f"[{finding.code}]\n")
    if policies is None or any(f.severity is Severity.ERROR for f in findings):
        raise FindingsError(f"the policies have errors: fix them before writing {PATH}")
    try:
        return generate(policies)
    except ValueError as error:
        raise FindingsError(str(error)) from None


@click.command("codeowners")
@repo_option
@click.option("--write", is_flag=True, help=f"Write {PATH} from the policies.")
@click.option("--check", is_flag=True, help=f"Exit 1 when {PATH} differs from the policies.")
@click.pass_context
def command(ctx: click.Context, repo: Path, write: bool, check: bool) -> None:
    """Generate .github/CODEOWNERS from the policies (--write) or check it is current (--check).

    Entitlement approvers own their access-requests/<name>/ directory, admins own the rest.
    """
    if write == check:
        raise ConfigError("pass exactly one of --write or --check")
    env = environment(ctx)
    text = expected(repo, env.stdout)
    target = repo / PATH
    if write:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        env.stdout.write(f"wrote {PATH}\n")
        return
    try:
        # A checkout with CRLF line ends still holds the same file in the repository.
        current = target.read_text(encoding="utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise FindingsError(f"{PATH} is missing: run '{COMMAND}' and commit the result") from None
    if current != text:
        raise FindingsError(f"{PATH} does not match the policies: run '{COMMAND}' and commit "
                            "the result")
    env.stdout.write(f"{PATH} is up to date\n")
