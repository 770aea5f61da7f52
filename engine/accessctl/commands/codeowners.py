"""`accessctl codeowners`: keep the platform's CODEOWNERS equal to what the policies say.

The platform reads the first CODEOWNERS it finds in its own order (GitHub: .github/, the root,
docs/; GitLab: the root, docs/, .gitlab/). The command writes and checks that very file, so that a
stray CODEOWNERS earlier in the order can never be the one approvals are judged by unnoticed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click

from accessctl.approval.codeowners import COMMAND, LOCATIONS, generate
from accessctl.commands.common import environment, repo_option, sort_findings
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Severity
from accessctl.read.load import TreeSource, load_policies

DEFAULT_PLACE = {"github": ".github/CODEOWNERS", "gitlab": ".gitlab/CODEOWNERS"}
"""Where a new file goes when the platform's search finds none."""


def platform_file(repo: Path, vcs: str) -> str:
    """The CODEOWNERS the platform would use: the first that exists, else the default place."""
    return next((p for p in LOCATIONS[vcs] if (repo / p).is_file()), DEFAULT_PLACE[vcs])


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
        raise FindingsError("the policies have errors: fix them before writing CODEOWNERS")
    try:
        return generate(policies)
    except ValueError as error:
        raise FindingsError(str(error)) from None


@click.command("codeowners")
@repo_option
@click.option("--write", is_flag=True, help="Write the CODEOWNERS file from the policies.")
@click.option("--check", is_flag=True,
              help="Exit 1 when CODEOWNERS differs from the policies (the default).")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default="github",
              show_default=True, help="Whose CODEOWNERS: where it is looked for, in what order.")
@click.pass_context
def command(ctx: click.Context, repo: Path, write: bool, check: bool, vcs_kind: str) -> None:
    """Generate CODEOWNERS from the policies (--write) or check it is current (--check, the
    default, as for `schemas` and `workflows`).

    Entitlement approvers own their access-requests/<name>/ directory, admins own the rest. The
    file is the one the platform uses (GitHub: .github/CODEOWNERS unless the root or docs/ holds
    one first in its order; GitLab: CODEOWNERS, docs/CODEOWNERS, else .gitlab/CODEOWNERS).
    """
    if write and check:
        raise ConfigError("pass one of --write or --check, not both")
    env = environment(ctx)
    text = expected(repo, env.stdout)
    path = platform_file(repo, vcs_kind)
    target = repo / path
    if write:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        env.stdout.write(f"wrote {path}\n")
        return
    write_command = COMMAND if vcs_kind == "github" else f"{COMMAND} --vcs {vcs_kind}"
    try:
        # A checkout with CRLF line ends still holds the same file in the repository.
        current = target.read_text(encoding="utf-8").replace("\r\n", "\n")
    except FileNotFoundError:
        raise FindingsError(f"{path} is missing: run '{write_command}' and commit the "
                            "result") from None
    if current != text:
        raise FindingsError(f"{path} does not match the policies (it is the CODEOWNERS "
                            f"{vcs_kind} uses): run '{write_command}' and commit the result")
    env.stdout.write(f"{path} is up to date\n")
