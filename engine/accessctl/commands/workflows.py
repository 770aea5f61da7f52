"""`accessctl workflows`: keep the CI workflows equal to what policies/providers.yaml calls for.

One job per provider instance in apply, revoke and reconcile, each with only its own platform's
credentials; a job for an instance that is gone, or an instance with no job, is caught here
(and by `validate`) instead of at run time.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

import click
import yaml

from accessctl import __version__
from accessctl.commands.common import environment, repo_option, sort_findings
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Finding, Location, Policies, Severity
from accessctl.read.load import PROVIDERS_FILE, TreeSource, load_policies
from accessctl.scaffold import requirements
from accessctl.scaffold.credentials import CredentialsError
from accessctl.scaffold.github_workflows import (
    GENERATED,
    PLATFORM_EXTRA,
    REQUIREMENTS,
    Install,
)

COMMAND = "accessctl workflows --write"


def engine_in_repo(repo: Path) -> bool:
    """The repository holds the engine itself (its pyproject names accessctl): jobs install it
    from the checkout. Anywhere else they install the version pinned in requirements.txt."""
    try:
        data = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    project = data.get("project")
    return isinstance(project, dict) and project.get("name") == "accessctl"


def expected_files(repo: Path, policies: Policies, vcs: str) -> dict[str, str]:
    """path -> text the policies call for (ValueError naming what cannot be generated)."""
    instances = list(policies.providers.values())
    install = Install(from_source=engine_in_repo(repo))
    if vcs == "gitlab":
        from accessctl.scaffold import gitlab_ci

        files = {gitlab_ci.PATH: gitlab_ci.render(instances, install)}
    else:
        from accessctl.scaffold import github_workflows

        files = github_workflows.render(instances, install)
    if not install.from_source:
        current = _read(repo / REQUIREMENTS)
        if current is None or not requirements.is_lock(current):
            version = (current and requirements.pinned_version(current)) or __version__
            extras = {PLATFORM_EXTRA[i.platform] for i in instances} | {vcs}
            files[REQUIREMENTS] = requirements.render(extras, version)
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except (FileNotFoundError, IsADirectoryError):
        return None


def difference(path: str, current: str, expected: str) -> str:
    """What differs, in a few words: jobs that should not be there or are missing, else the
    first line that differs."""
    if path.endswith((".yml", ".yaml")):
        try:
            have, want = yaml.safe_load(current), yaml.safe_load(expected)
        except yaml.YAMLError:
            have = want = None
        if isinstance(have, dict) and isinstance(want, dict):
            jobs_have = set(have.get("jobs", have) or ())
            jobs_want = set(want.get("jobs", want) or ())
            extra, missing = sorted(jobs_have - jobs_want), sorted(jobs_want - jobs_have)
            parts = []
            if extra:
                parts.append(f"jobs not in {PROVIDERS_FILE}: {', '.join(extra)}")
            if missing:
                parts.append(f"no job for: {', '.join(missing)}")
            if parts:
                return "; ".join(parts)
    have_lines, want_lines = current.splitlines(), expected.splitlines()
    for group in difflib.SequenceMatcher(None, have_lines, want_lines,
                                         autojunk=False).get_opcodes():
        tag, i1, i2, j1, j2 = group
        if tag == "equal":
            continue
        found = have_lines[i1].strip() if i1 < i2 else "(nothing)"
        wanted = want_lines[j1].strip() if j1 < j2 else "(nothing)"
        return f"line {i1 + 1}: has {found!r}, expected {wanted!r}"
    return "line ends differ"


def stale(repo: Path, expected: dict[str, str], generated_only: bool = False
          ) -> list[tuple[str, str]]:
    """(path, what differs) for each file that is missing or differs. `generated_only`: skip
    files that do not carry the generated header (a repository that writes its own CI)."""
    found = []
    for path, text in expected.items():
        current = _read(repo / path)
        if generated_only and (current is None or
                               (path != REQUIREMENTS and not current.startswith(GENERATED))):
            continue
        if current is None:
            found.append((path, "missing"))
        elif current != text:
            found.append((path, difference(path, current, text)))
    return found


def findings_for(repo: Path, policies: Policies) -> list[Finding]:
    """For `validate`: every generated workflow file that policies/providers.yaml has outrun.
    Files without the generated header are someone's own CI and are left alone."""
    found = []
    for vcs, marker in (("github", ".github/workflows/apply.yml"), ("gitlab", ".gitlab-ci.yml")):
        current = _read(repo / marker)
        if current is None or not current.startswith(GENERATED):
            continue
        try:
            expected = expected_files(repo, policies, vcs)
        except ValueError as error:
            found.append(Finding(Location(PROVIDERS_FILE), "workflows-ungenerable", str(error)))
            continue
        flag = "" if vcs == "github" else " --vcs gitlab"
        for path, what in stale(repo, expected, generated_only=True):
            found.append(Finding(Location(path), "workflows-stale",
                                 f"{path} does not match {PROVIDERS_FILE} ({what}): run "
                                 f"'{COMMAND}{flag}' and commit the result"))
    return found


@click.command("workflows")
@repo_option
@click.option("--write", is_flag=True, help="Write the workflows from policies/providers.yaml.")
@click.option("--check", is_flag=True,
              help="Exit 1 when a workflow differs from what policies/providers.yaml calls for "
              "(the default).")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default="github",
              show_default=True,
              help="github: .github/workflows/*.yml; gitlab: .gitlab-ci.yml.")
@click.pass_context
def command(ctx: click.Context, repo: Path, write: bool, check: bool, vcs_kind: str) -> None:
    """Generate the CI workflows from policies/providers.yaml (--write) or check them (--check,
    the default).

    apply, revoke and reconcile get one job per provider instance, each holding only that
    platform's credentials: OIDC for aws, gcp and entra (workload identity), one secret named
    after the provider's token_env / private_key_env / password_env for the others.
    """
    if write and check:
        raise ConfigError("pass one of --write or --check, not both")
    env = environment(ctx)
    if not (repo / "policies").is_dir():
        raise ConfigError(
            f"{repo} has no policies/ directory: run from the access repository or pass --repo")
    policies, findings = load_policies(TreeSource(repo))
    errors = [f for f in sort_findings(findings) if f.severity is Severity.ERROR
              and f.location.path == PROVIDERS_FILE]
    for finding in errors:
        env.stdout.write(f"{finding.location}: {finding.severity.value}: {finding.message} "
                         f"[{finding.code}]\n")
    if policies is None or errors:
        raise FindingsError(f"{PROVIDERS_FILE} has errors: fix them before generating workflows")
    try:
        expected = expected_files(repo, policies, vcs_kind)
    except (CredentialsError, ValueError) as error:
        raise FindingsError(f"{PROVIDERS_FILE}: {error}") from None
    flag = "" if vcs_kind == "github" else " --vcs gitlab"
    if write:
        for path, text in expected.items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if _read(target) != text:
                target.write_text(text, encoding="utf-8")
                env.stdout.write(f"wrote {path}\n")
        return
    problems = stale(repo, expected)
    for path, what in problems:
        env.stdout.write(f"{path}: {what}\n")
    if problems:
        raise FindingsError(f"{', '.join(p for p, _ in problems)} "
                            f"{'does' if len(problems) == 1 else 'do'} not match "
                            f"{PROVIDERS_FILE}: run '{COMMAND}{flag}' and commit the result")
    env.stdout.write(f"{', '.join(expected)}: up to date\n")
