"""`accessctl lock`: the engine's lock, written by uv, checked offline.

In an access repository it writes requirements.in (the engine's pin, with the extras that
policies/providers.yaml and the VCS call for) and compiles it into requirements.txt with
`uv pip compile --generate-hashes`: every package pinned with its hashes, the file every
generated job installs with `pip install --require-hashes --no-deps`. In the engine's own
repository it compiles the GitHub Action's locks (action/locks/*.txt) from pyproject.toml.

Resolution is uv's, run as a subprocess: the engine resolves nothing itself. uv's own settings
(UV_INDEX_URL, UV_FIND_LINKS, UV_NO_INDEX, uv.toml) apply; without a package index it fails
with its own words and a note of what to do, never hangs (HTTP timeouts, and an overall one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click

from accessctl.commands.common import environment, repo_option, sort_findings
from accessctl.commands.workflows import (
    engine_in_repo,
    lock_problems,
    read_file,
    wanted_input,
)
from accessctl.core.console import escape
from accessctl.core.environment import Environment
from accessctl.core.errors import ConfigError, FindingsError
from accessctl.core.model import Severity
from accessctl.read.load import PROVIDERS_FILE, TreeSource, load_policies
from accessctl.scaffold import action_locks, requirements

TIMEOUT = 600
"""Seconds uv may take for one lock: resolving ~100 packages from PyPI takes seconds."""

INSTALL_UV = ("accessctl lock needs uv, which resolves the engine's dependencies and records "
              "their hashes: install it (`pip install uv`, or see "
              "https://docs.astral.sh/uv/getting-started/installation/) and run it again")


def find_uv(environ: dict[str, str]) -> str:
    """uv on PATH, else beside this Python (a virtualenv that was not activated)."""
    found = shutil.which("uv", path=environ.get("PATH", ""))
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise FindingsError(INSTALL_UV)


def uv_environment(environ: dict[str, str]) -> dict[str, str]:
    """uv's environment: the caller's, with bounded HTTP waits, and no Python downloaded (the
    lock is made for requirements.PYTHON whatever interpreter uv finds)."""
    return {"UV_HTTP_TIMEOUT": "30", "UV_PYTHON": sys.executable, **environ,
            "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}


def run_uv(env: Environment, repo: Path, arguments: list[str]) -> None:
    environ = dict(env.environ)
    uv = find_uv(environ)
    try:
        done = subprocess.run([uv, *arguments], cwd=repo, env=uv_environment(environ),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise FindingsError(f"uv pip compile did not finish in {TIMEOUT // 60} minutes: is the "
                            "package index reachable? (uv's settings, such as UV_INDEX_URL, "
                            "apply)") from None
    except OSError as error:
        raise FindingsError(f"{uv} could not be run ({error.strerror}): {INSTALL_UV}") from None
    if done.returncode != 0:
        said = [escape(line) for line in done.stderr.strip().splitlines()[-20:]]
        for line in said:
            env.stderr.write(f"  uv: {line}\n")
        raise FindingsError(
            f"uv pip compile failed (exit {done.returncode}){': ' + said[0] if said else ''}. "
            "It needs the package index (PyPI, or the one uv is configured with) or, with "
            "--offline, every package in uv's cache or a --find-links location; and the "
            f"accessctl version in {requirements.INPUT} must exist there (docs/ci.md, "
            "'The engine's lock')")


def _vcs(repo: Path, chosen: str | None) -> str:
    if chosen:
        return chosen
    gitlab = (repo / ".gitlab-ci.yml").is_file()
    return "gitlab" if gitlab and not (repo / ".github" / "workflows").is_dir() else "github"


@click.command("lock")
@repo_option
@click.option("--vcs", "vcs_kind", type=click.Choice(["github", "gitlab"]), default=None,
              help="The VCS whose extra the lock holds [default: gitlab when the repository "
              "has .gitlab-ci.yml and no .github/workflows, else github].")
@click.option("--check", is_flag=True,
              help="Write nothing: exit 1 unless the lock covers what policies/providers.yaml "
              "needs (offline, no uv needed).")
@click.option("--upgrade", is_flag=True,
              help="Take the newest versions allowed (by default versions already locked are "
              "kept where they still fit).")
@click.option("--offline", is_flag=True,
              help="Use only uv's cache and local files (--find-links), no network.")
@click.pass_context
def command(ctx: click.Context, repo: Path, vcs_kind: str | None, check: bool, upgrade: bool,
            offline: bool) -> None:
    """Write the engine's lock, requirements.txt, with every package's hashes (--check: check
    it).

    requirements.in names the engine's version and the extras policies/providers.yaml needs;
    `uv pip compile --generate-hashes` turns it into requirements.txt, which the generated jobs
    install with `pip install --require-hashes --no-deps`. In the engine's own repository this
    writes the GitHub Action's locks, action/locks/*.txt.
    """
    env = environment(ctx)
    if check and (upgrade or offline):
        raise ConfigError("--check writes nothing: --upgrade and --offline are for writing")
    extra_arguments = (["--upgrade"] if upgrade else []) + (["--offline"] if offline else [])
    if engine_in_repo(repo):
        _action_locks(env, repo, check, extra_arguments)
        return
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
        raise FindingsError(f"{PROVIDERS_FILE} has errors: fix them before locking the engine")
    wanted = wanted_input(repo, policies, _vcs(repo, vcs_kind))
    if check:
        problems = ([f"{requirements.INPUT}: does not match {PROVIDERS_FILE}: run "
                     f"'{requirements.COMMAND}'"]
                    if read_file(repo / requirements.INPUT) != wanted else [])
        problems += [f"{requirements.LOCK}: {p}" for p in lock_problems(repo, wanted)]
        for problem in problems:
            env.stdout.write(problem + "\n")
        if problems:
            raise FindingsError(f"the engine's lock does not cover {PROVIDERS_FILE}")
        env.stdout.write(f"{requirements.LOCK}: covers {requirements.INPUT}\n")
        return
    write(env, repo, wanted, extra_arguments)


def compile_arguments(extra: list[str], emit: bool) -> list[str]:
    """uv's arguments for an access repository's lock, run at its root (its header repeats
    them, and Renovate runs them again). `emit`: requirements.in names where the wheel comes
    from (--find-links, --index-url), and the lock must tell pip too."""
    emitted = ["--emit-find-links", "--emit-index-url"] if emit else []
    return ["pip", "compile", "--quiet", "--generate-hashes", "--universal",
            "--python-version", requirements.PYTHON, "--no-strip-extras", *emitted,
            "--output-file", requirements.LOCK, requirements.INPUT, *extra]


def write(env: Environment, repo: Path, wanted: str, extra: list[str]) -> None:
    """requirements.in as wanted, then requirements.txt from it (also `accessctl init`)."""
    target = repo / requirements.INPUT
    if read_file(target) != wanted:
        target.write_text(wanted, encoding="utf-8")
        env.stdout.write(f"wrote {requirements.INPUT}\n")
    run_uv(env, repo, compile_arguments(extra, emit=bool(requirements.options(wanted))))
    problems = lock_problems(repo, wanted)
    for problem in problems:
        env.stdout.write(f"{requirements.LOCK}: {problem}\n")
    if problems:
        raise FindingsError(f"uv wrote {requirements.LOCK}, but it does not cover "
                            f"{requirements.INPUT}")
    count = len(requirements.parse_lock((repo / requirements.LOCK).read_text(encoding="utf-8")))
    env.stdout.write(f"wrote {requirements.LOCK}: {count} packages, each with its hashes\n")


def _action_locks(env: Environment, repo: Path, check: bool, extra: list[str]) -> None:
    """The engine's own repository: the GitHub Action's locks, from pyproject.toml."""
    provides = action_locks.declared(
        tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8")))
    problems: list[str] = []
    for path, extras in action_locks.locks().items():
        if not check:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            run_uv(env, repo, [*action_locks.compile_arguments(path, extras), *extra])
            env.stdout.write(f"wrote {path}\n")
        problems += action_locks.problems(path, read_file(repo / path), extras, provides)
    for problem in problems:
        env.stdout.write(problem + "\n")
    if problems:
        raise FindingsError("the action's locks do not cover pyproject.toml")
    if check:
        env.stdout.write(f"{action_locks.DIRECTORY}: every lock covers pyproject.toml\n")
