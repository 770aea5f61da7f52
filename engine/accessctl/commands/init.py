"""`accessctl init`: a new access repository, ready to commit, with no engine inside.

The policies, examples and documents come from scaffold/init_files.py; schemas/, CODEOWNERS,
the workflows and requirements.in are then generated from those policies by the very code that
`schemas --check`, `codeowners --check` and `workflows --check` compare against, and
requirements.txt, the engine's lock, is compiled by `accessctl lock`, so the new repository
passes its own checks from the first commit.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from accessctl.commands.common import environment, sort_findings
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Severity
from accessctl.read.load import TreeSource, load_policies
from accessctl.scaffold.init_files import ORG_PATTERN, PLATFORMS, files


def _platforms(values: tuple[str, ...]) -> list[str]:
    chosen = [p.strip().lower() for value in values for p in value.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PLATFORMS]
    if unknown:
        raise ConfigError(f"--platform {', '.join(unknown)}: not a platform; choose from "
                          f"{', '.join(PLATFORMS)}")
    if not chosen:
        raise ConfigError(f"--platform: name at least one of {', '.join(PLATFORMS)}")
    return list(dict.fromkeys(chosen))


def _write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default="github",
              show_default=True, help="Where the repository will live.")
@click.option("--platform", "platform_values", multiple=True, required=True,
              metavar="NAME[,NAME...]",
              help=f"Platforms to grant on, comma-separated or repeated: {', '.join(PLATFORMS)}.")
@click.option("--org", default="example", show_default=True,
              help="Your organisation or group on the VCS: the example teams are @ORG/sre and "
                   "@ORG/security.")
@click.option("--force", is_flag=True,
              help="Write into a directory that is not empty (files of the same names are "
                   "replaced).")
@click.option("--no-lock", is_flag=True,
              help="Write requirements.in but not its lock, requirements.txt (no uv or package "
                   "index at hand): run `accessctl lock` in the repository before pushing.")
@click.option("--use-action", "use_action", metavar="OWNER/REPO@SHA", default=None,
              help="GitHub: the jobs run the engine's action at this commit; no lock is kept "
                   "here.")
@click.option("--use-component", "use_component", metavar="HOST/GROUP/PROJECT/accessctl@REF",
              default=None,
              help="GitLab: .gitlab-ci.yml includes the engine's CI/CD component.")
@click.pass_context
def command(ctx: click.Context, directory: Path, vcs_kind: str,
            platform_values: tuple[str, ...], org: str, force: bool, no_lock: bool,
            use_action: str | None, use_component: str | None) -> None:
    """Write a new access repository into DIRECTORY.

    It holds access-requests/, policies/ (one instance and one example entitlement per platform,
    identities, policy tests), schemas/, CODEOWNERS, the CI workflows with one job per platform
    instance, the engine's lock (requirements.in pinning this engine's version and
    requirements.txt with every package's hashes, made by `accessctl lock`, which needs uv), a
    README for requesters and a pull request template. `validate`, `test`, `codeowners --check`
    and `workflows --check` pass on it as written.
    """
    env = environment(ctx)
    use = use_action if vcs_kind == "github" else use_component
    if (use_component if vcs_kind == "github" else use_action) is not None:
        raise ConfigError("--use-action is for --vcs github, --use-component for --vcs gitlab")
    platforms = _platforms(platform_values)
    if not ORG_PATTERN.match(org):
        raise ConfigError(f"--org {org!r}: a VCS organisation or group name (letters, digits "
                          "and '-')")
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file: name a new or empty directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ConfigError(f"{directory} is not empty: name a new or empty directory, or pass "
                          "--force to write into it (files of the same names are replaced)")
    written = files(platforms, vcs_kind, org)
    for path, text in written.items():
        _write(directory, path, text)
    (directory / "access-requests").mkdir(exist_ok=True)

    from accessctl.commands.schemas import exported

    for name, text in exported().items():
        _write(directory, f"schemas/{name}", text)
        written[f"schemas/{name}"] = text
    policies, findings = load_policies(TreeSource(directory))
    errors = [f for f in sort_findings(findings) if f.severity is Severity.ERROR]
    if policies is None or errors:
        # The examples are the engine's own: a finding here is a bug in them, said plainly.
        for finding in errors:
            env.stderr.write(f"{finding.location}: {finding.message} [{finding.code}]\n")
        raise FindingsError("the example policies do not load (a bug: please report it)")

    from accessctl.approval.codeowners import generate
    from accessctl.commands.codeowners import platform_file
    from accessctl.commands.workflows import expected_files
    from accessctl.scaffold import github_workflows, requirements
    from accessctl.scaffold.install import Install

    generated = {platform_file(directory, vcs_kind): generate(policies),
                 **expected_files(directory, policies, vcs_kind, use)}
    for path, text in generated.items():
        _write(directory, path, text)
    written.update(generated)
    env.stdout.write(f"wrote {len(written)} files in {directory}:\n")
    for path in sorted(written):
        env.stdout.write(f"  {path}\n")
    unlocked = None
    if requirements.INPUT in generated and not no_lock:
        from accessctl.commands import lock

        try:
            lock.write(env, directory, generated[requirements.INPUT], [])
        except FindingsError as error:
            unlocked = str(error)
    elif requirements.INPUT in generated:
        unlocked = "--no-lock"
    # The names CI needs, read from the GitHub workflows (GitLab's jobs read the same names).
    text = "".join(github_workflows.render(list(policies.providers.values()),
                                           Install(False)).values())
    optional = ("ACCESSCTL_AUDIT_SINK", "ACCESSCTL_HEARTBEAT_URL", "ACCESSCTL_VCS_TOKEN",
                "ACCESSCTL_WEBHOOK_URL", "PAGERDUTY_TOKEN")
    variables = sorted(set(re.findall(r"vars\.(\w+)", text)) - set(optional))
    secrets = sorted(set(re.findall(r"secrets\.(\w+)", text)) - set(optional))
    where = ("Settings > Environments > production" if vcs_kind == "github"
             else "Settings > CI/CD > Variables")
    env.stdout.write(
        "\nnext:\n"
        "  1. replace the examples in policies/ (people, teams, entitlements), then run\n"
        "     `accessctl codeowners --write` (and `accessctl workflows --write` after\n"
        "     changing providers.yaml); `accessctl validate` and `accessctl test` check them\n"
        f"  2. commit, push, and set in {where}:\n"
        f"     variables: {', '.join(variables) or '(none)'}\n"
        f"     secrets:   {', '.join(secrets)}; optional: {', '.join(optional)}\n"
        "  3. protect the default branch: code owner review required (docs/ci.md)\n")
    if vcs_kind == "github":
        from accessctl.scaffold import request_workflow

        env.stdout.write(
            "  asking without git (optional, docs/requesting.md): a GitHub App with Contents,\n"
            "     Pull requests and Issues (write) on this repository; in Settings > Environments"
            f"\n     > {request_workflow.ENVIRONMENT} (default branch only) variable "
            f"{request_workflow.CLIENT_ID}\n     and secret {request_workflow.PRIVATE_KEY}; "
            "the label access-request; its bot login\n     under request_bots in "
            "policies/identities.yaml\n")
    if unlocked is not None:
        env.stdout.write(
            f"  4. {requirements.LOCK}, the engine's lock, is not written yet ({unlocked}):\n"
            f"     run `{requirements.COMMAND}` in {directory} (it needs uv and the package\n"
            "     index) and commit it; the jobs install nothing else\n")
        if unlocked != "--no-lock":
            raise FindingsError(f"{directory}: written, but without {requirements.LOCK}: "
                                f"{unlocked}")
