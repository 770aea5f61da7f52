"""`accessctl workflows`: keep the CI workflows equal to what policies/providers.yaml calls for.

One job per provider instance in apply, revoke and reconcile, each with only its own platform's
credentials; a job for an instance that is gone, or an instance with no job, is caught here
(and by `validate`) instead of at run time.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path

import click
import yaml

from accessctl import __version__
from accessctl.commands.common import environment, repo_option, sort_findings
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Finding, Location, Policies, Severity
from accessctl.read.load import PROVIDERS_FILE, TreeSource, load_policies
from accessctl.scaffold import requirements
from accessctl.scaffold.credentials import CredentialsError
from accessctl.scaffold.github_workflows import GENERATED
from accessctl.scaffold.install import ACTION_REF, Install
from accessctl.scaffold.issue_form import GENERATED as FORM_GENERATED
from accessctl.scaffold.issue_form import PATH as FORM_PATH

COMMAND = "accessctl workflows --write"
VALIDATE_YML = ".github/workflows/validate.yml"
GITLAB_CI = ".gitlab-ci.yml"

_ACTION_LINE = re.compile(r"^      - name: Install accessctl\n"
                          r"        uses: (?P<ref>\S+@[0-9a-f]{40}(?: # [\w.+-]+)?)$", re.M)
_COMPONENT_LINE = re.compile(r"^  - component: (?P<ref>\S+)$", re.M)
COMPONENT_REF = re.compile(r"^[\w.$-]+(?:/[\w.-]+)+@[\w.-]+$")
"""A GitLab CI/CD component: HOST/GROUP/PROJECT/accessctl@VERSION ($CI_SERVER_FQDN for the
host where the project lives)."""


def engine_in_repo(repo: Path) -> bool:
    """The repository holds the engine itself (its pyproject names accessctl): jobs install it
    from the checkout. Anywhere else they install the version pinned in requirements.txt."""
    try:
        data = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    project = data.get("project")
    return isinstance(project, dict) and project.get("name") == "accessctl"


def action_ref(value: str) -> str | None:
    """--use-action's value: OWNER/REPO@SHA (optionally ` # VERSION`), or none for pip."""
    if value.lower() == "none":
        return None
    ref, _, comment = value.partition(" # ")
    if not ACTION_REF.match(ref.strip()) or (comment and not re.fullmatch(r"[\w.+-]+", comment)):
        raise ConfigError(f"--use-action {value!r}: give OWNER/REPO@SHA with the full 40-character "
                          "commit (a tag or branch can be moved under you), optionally followed "
                          "by ' # v1.2.3'; or 'none' to install from requirements.txt")
    return f"{ref.strip()} # {comment}" if comment else ref.strip()


def component_ref(value: str) -> str | None:
    """--use-component's value: HOST/GROUP/PROJECT/accessctl@VERSION, or none."""
    if value.lower() == "none":
        return None
    if not COMPONENT_REF.match(value):
        raise ConfigError(f"--use-component {value!r}: give the component as GitLab's include "
                          "names it, e.g. $CI_SERVER_FQDN/acme/accessctl/accessctl@<commit>; or "
                          "'none' to install from requirements.txt")
    return value


def current_action(repo: Path) -> str | None:
    """The engine's action the generated GitHub workflows use now (read from validate.yml)."""
    text = read_file(repo / VALIDATE_YML)
    match = _ACTION_LINE.search(text) if text and text.startswith(GENERATED) else None
    return match["ref"] if match else None


def current_component(repo: Path) -> str | None:
    """The engine's GitLab component the generated .gitlab-ci.yml includes now."""
    text = read_file(repo / GITLAB_CI)
    match = _COMPONENT_LINE.search(text) if text and text.startswith(GENERATED) else None
    return match["ref"] if match else None


def provider_policies(env: Environment, repo: Path, doing: str) -> Policies:
    """The repository's policies, for a command that generates from policies/providers.yaml:
    its errors there are printed and stop `doing` (others are the validate job's to report)."""
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
        raise FindingsError(f"{PROVIDERS_FILE} has errors: fix them before {doing}")
    return policies


def install_for(repo: Path, vcs: str, use: str | None = None) -> Install:
    """How this repository's jobs get the engine. `use`: the action (GitHub) or component
    (GitLab) to use from now on, "none" for the lock; None keeps the current choice."""
    if engine_in_repo(repo):
        return Install(from_source=True)
    if vcs == "gitlab":
        component = current_component(repo) if use is None else component_ref(use)
        return Install(from_source=False, component=component)
    action = current_action(repo) if use is None else action_ref(use)
    return Install(from_source=False, action=action)


def wanted_input(repo: Path, policies: Policies, vcs: str) -> str:
    """requirements.in as policies/providers.yaml calls for it, keeping the owner's version and
    pip options (an older requirements.txt's pin is the version when there is no .in yet)."""
    current = read_file(repo / requirements.INPUT) or ""
    legacy = read_file(repo / requirements.LOCK)
    pinned = requirements.pin(current) or (
        requirements.pin(legacy) if legacy and not requirements.is_lock(legacy) else None)
    return requirements.render_input(requirements.extras_needed(policies, vcs),
                                     pinned.version if pinned else __version__,
                                     requirements.options(current))


def expected_files(repo: Path, policies: Policies, vcs: str, use: str | None = None
                   ) -> dict[str, str]:
    """path -> text the policies call for (ValueError naming what cannot be generated)."""
    instances = list(policies.providers.values())
    install = install_for(repo, vcs, use)
    if vcs == "gitlab":
        from accessctl.scaffold import gitlab_ci

        files = {gitlab_ci.PATH: gitlab_ci.render(instances, install)}
        if install.from_source:
            files[gitlab_ci.TEMPLATE] = gitlab_ci.template()
    else:
        from accessctl.scaffold import github_workflows, issue_form, request_workflow

        files = github_workflows.render(instances, install)
        # Asking without git: the issue form offers the entitlements there are (none: no form).
        files[request_workflow.PATH] = request_workflow.render(install)
        if policies.entitlements:
            files[issue_form.PATH] = issue_form.render(list(policies.entitlements.values()))
    if install.uses_lock:
        files[requirements.INPUT] = wanted_input(repo, policies, vcs)
    return files


def engine_requires() -> tuple[str, list[str]] | None:
    """The installed engine's version and Requires-Dist lines, when it was installed (not run
    from a source tree)."""
    from importlib import metadata

    try:
        return metadata.version("accessctl"), metadata.requires("accessctl") or []
    except metadata.PackageNotFoundError:
        return None


def lock_problems(repo: Path, input_text: str) -> list[str]:
    """What keeps requirements.txt from installing what requirements.in asks for."""
    want = requirements.pin(input_text)
    if want is None:
        return [f"{requirements.INPUT} pins no accessctl==VERSION: run '{COMMAND}'"]
    installed = engine_requires()
    provides = (requirements.extra_requirements(installed[1])
                if installed and installed[0] == want.version else None)
    return requirements.lock_problems(read_file(repo / requirements.LOCK), want, provides)


def generated(text: str) -> bool:
    """The file carries a generated header: the workflows' or the issue form's."""
    return text.startswith((GENERATED, FORM_GENERATED))


def read_file(path: Path) -> str | None:
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
        current = read_file(repo / path)
        if generated_only and (current is None or
                               (path != requirements.INPUT and not generated(current))):
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
        current = read_file(repo / marker)
        if current is None or not current.startswith(GENERATED):
            continue
        try:
            expected = expected_files(repo, policies, vcs)
        except ValueError as error:
            found.append(Finding(Location(PROVIDERS_FILE), "workflows-ungenerable", str(error)))
            continue
        flag = "" if vcs == "github" else " --vcs gitlab"
        for path, what in stale(repo, expected, generated_only=True):
            source = "policies/entitlements/" if path == FORM_PATH else PROVIDERS_FILE
            found.append(Finding(Location(path), "workflows-stale",
                                 f"{path} does not match {source} ({what}): run "
                                 f"'{COMMAND}{flag}' and commit the result"))
        if requirements.INPUT in expected:
            found.extend(Finding(Location(requirements.LOCK), "engine-lock",
                                 f"{requirements.LOCK}: {problem}")
                         for problem in lock_problems(repo, expected[requirements.INPUT]))
    return found


@click.command("workflows")
@repo_option
@click.option("--write", is_flag=True, help="Write the workflows from policies/providers.yaml.")
@click.option("--check", is_flag=True,
              help="Exit 1 when a workflow differs from what policies/providers.yaml calls for, "
              "or the engine's lock does not cover it (the default).")
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default="github",
              show_default=True,
              help="github: .github/workflows/*.yml; gitlab: .gitlab-ci.yml.")
@click.option("--use-action", "use_action", metavar="OWNER/REPO@SHA|none", default=None,
              help="GitHub: the jobs run the engine's action at this commit instead of "
              "installing requirements.txt (kept by later runs; 'none' goes back).")
@click.option("--use-component", "use_component", metavar="HOST/GROUP/PROJECT/accessctl@REF|none",
              default=None,
              help="GitLab: .gitlab-ci.yml includes the engine's CI/CD component for the "
              "shared jobs (kept by later runs; 'none' goes back).")
@click.pass_context
def command(ctx: click.Context, repo: Path, write: bool, check: bool, vcs_kind: str,
            use_action: str | None, use_component: str | None) -> None:
    """Generate the CI workflows from policies/providers.yaml (--write) or check them (--check,
    the default).

    apply, revoke and reconcile get one job per provider instance, each holding only that
    platform's credentials: OIDC for aws, gcp and entra (workload identity), one secret named
    after the provider's token_env / private_key_env / password_env for the others. Every job
    installs the engine from requirements.txt, a lock with hashes (`accessctl lock`), or runs
    it through the engine's GitHub Action or GitLab component.
    """
    if write and check:
        raise ConfigError("pass one of --write or --check, not both")
    use = use_action if vcs_kind == "github" else use_component
    wrong = use_component if vcs_kind == "github" else use_action
    if wrong is not None:
        raise ConfigError(f"--use-{'component' if vcs_kind == 'github' else 'action'} is for "
                          f"--vcs {'gitlab' if vcs_kind == 'github' else 'github'}")
    if use is not None and not write:
        raise ConfigError(f"--use-{'action' if vcs_kind == 'github' else 'component'} goes with "
                          "--write (later checks keep what the workflows use)")
    env = environment(ctx)
    policies = provider_policies(env, repo, "generating workflows")
    try:
        expected = expected_files(repo, policies, vcs_kind, use)
    except (CredentialsError, ValueError) as error:
        raise FindingsError(f"{PROVIDERS_FILE}: {error}") from None
    flag = "" if vcs_kind == "github" else " --vcs gitlab"
    locked = requirements.INPUT in expected
    if write:
        for path, text in expected.items():
            target = repo / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if read_file(target) != text:
                target.write_text(text, encoding="utf-8")
                env.stdout.write(f"wrote {path}\n")
        for problem in lock_problems(repo, expected[requirements.INPUT]) if locked else ():
            env.stdout.write(f"next: {requirements.LOCK}: {problem}\n")
        return
    problems = stale(repo, expected)
    if locked:
        problems += [(requirements.LOCK, problem)
                     for problem in lock_problems(repo, expected[requirements.INPUT])]
    for path, what in problems:
        env.stdout.write(f"{path}: {what}\n")
    if problems:
        raise FindingsError(f"{', '.join(dict.fromkeys(p for p, _ in problems))} "
                            f"{'does' if len(problems) == 1 else 'do'} not match "
                            f"{PROVIDERS_FILE}: run '{COMMAND}{flag}'"
                            f"{' and ' + repr(requirements.COMMAND) if locked else ''}, "
                            "and commit the result")
    env.stdout.write(f"{', '.join([*expected, *([requirements.LOCK] if locked else [])])}: "
                     "up to date\n")
