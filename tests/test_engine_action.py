"""How jobs get the engine: the lock's install line, the GitHub Action, the GitLab component.

Every generated job that holds credentials installs the engine pinned with hashes before any
credential exists in it. action.yml, the generated workflows and the GitLab files are held to the
vendors' schemas (check-jsonschema's built-in copies, offline), actionlint and zizmor; each
checker is also shown a bad file once, so that one which checks nothing cannot pass. The
action's own shell steps run here in bash, with the engine of this checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from accessctl.scaffold import action_locks

from tests.cli_runner import invoke
from tests.engine_lock import write_lock
from tests.test_workflows import GitLabLoader, tool, zizmor
from tests.test_workflows_generated import EVERY_PLATFORM, access_repo, load

ROOT = Path(__file__).resolve().parent.parent
ACTION = "acme/accessctl@" + "0123456789abcdef" * 2 + "01234567"
INSTALL = "python -m pip install --quiet --require-hashes --no-deps -r requirements.txt"
CREDENTIAL_ACTIONS = ("aws-actions/configure-aws-credentials@", "google-github-actions/auth@",
                      "actions/create-github-app-token@")


def schema_check(schema: str, *paths: Path,
                 transform: bool = False) -> subprocess.CompletedProcess[str]:
    extra = ["--data-transform", "gitlab-ci"] if transform else []
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", schema, *extra,
                           *map(str, paths)], capture_output=True, text=True, timeout=120)


def lint(workflows: Path) -> None:
    """The vendor's schema, actionlint and zizmor (pedantic), all clean."""
    files = sorted(workflows.glob("*.yml"))
    checked = schema_check("vendor.github-workflows", *files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = subprocess.run([tool("actionlint"), "-no-color", *map(str, files)],
                            capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert [(f["ident"], f["determinations"]["severity"]) for f in zizmor(workflows)] == []


SHARED_SECRETS = {"ACCESSCTL_LEDGER_KEY", "ACCESSCTL_VCS_TOKEN", "ACCESSCTL_WEBHOOK_URL",
                  "ACCESSCTL_HEARTBEAT_URL", "PAGERDUTY_TOKEN"}


def holds_credentials(job: dict[str, Any]) -> bool:
    """The job federates with a cloud or reads a platform's secret."""
    secrets = set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job))) - SHARED_SECRETS
    return job.get("permissions", {}).get("id-token") == "write" or bool(secrets)


def first_credential_step(steps: list[dict[str, Any]]) -> int:
    """The index of the first step that obtains or reads a credential."""
    for index, step in enumerate(steps):
        if str(step.get("uses", "")).startswith(CREDENTIAL_ACTIONS) or "secrets." in str(
                step.get("env", "")):
            return index
    return len(steps)


# The lock: every job installs it, with hashes, before any credential.

def test_every_job_with_credentials_installs_the_lock_with_hashes_first(tmp_path: Path) -> None:
    # Before: `pip install --quiet -r requirements.txt`, a pin with lower-bound dependencies.
    repo = access_repo(tmp_path, EVERY_PLATFORM)
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    workflows = repo / ".github" / "workflows"
    privileged = 0
    for path in sorted(workflows.glob("*.yml")):
        for name, job in load(path)["jobs"].items():
            steps = job["steps"]
            installs = [i for i, s in enumerate(steps) if s.get("name") == "Install accessctl"]
            if name == "record-applied":
                assert installs == []
                continue
            assert [steps[i]["run"] for i in installs] == [INSTALL], (path.name, name)
            assert installs[0] < first_credential_step(steps), (path.name, name)
            privileged += holds_credentials(job)
            assert "pip install" not in yaml.safe_dump(steps[installs[0] + 1:]), (path.name, name)
    # Ten instances in three workflows, and the request workflow's job that mints its App token.
    assert privileged == 31
    lint(workflows)


def test_the_gitlab_jobs_install_the_lock_with_hashes(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM)
    assert invoke("workflows", "--write", "--vcs", "gitlab", "--repo", str(repo)).code == 0
    data = yaml.load((repo / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    assert data[".mutate"]["before_script"][0] == INSTALL
    assert data["validate"]["script"][0] == INSTALL
    assert "pip install" not in (repo / ".gitlab-ci.yml").read_text().replace(INSTALL, "")
    checked = schema_check("vendor.gitlab-ci", repo / ".gitlab-ci.yml", transform=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# The GitHub Action.

def test_action_yml_is_a_valid_action_and_zizmor_finds_nothing(tmp_path: Path) -> None:
    checked = schema_check("vendor.github-actions", ROOT / "action.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = tmp_path / "action.yml"
    bad.write_text((ROOT / "action.yml").read_text().replace("using: composite",
                                                             "using: compost"))
    assert schema_check("vendor.github-actions", bad).returncode == 1
    assert [(f["ident"], f["determinations"]["severity"])
            for f in zizmor(ROOT / "action.yml")] == []


def action_step(name: str) -> str:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    script = next(s["run"] for s in steps if s["name"].startswith(name))
    assert isinstance(script, str)
    return script


def test_the_action_has_a_lock_for_every_platform_it_names() -> None:
    named = re.search(r"^\s*(aws\|[a-z|]+)\)$", action_step("Install"), re.M)
    assert named is not None
    assert tuple(named[1].split("|")) == action_locks.PLATFORMS
    for path in action_locks.locks():
        assert (ROOT / path).is_file(), path
    checked = invoke("lock", "--check", "--repo", str(ROOT))
    assert checked.code == 0, checked.out + checked.err


def run_install(tmp_path: Path, command: str, extras: str) -> subprocess.CompletedProcess[str]:
    """The action's install step in bash, with a stand-in `python` that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "python"
    stand_in.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    stand_in.chmod(0o755)
    return subprocess.run(["bash", "-c", action_step("Install")], capture_output=True, text=True,
                          timeout=60, env={"PATH": f"{bin_dir}:/usr/bin:/bin",
                                           "GITHUB_ACTION_PATH": str(ROOT),
                                           "RUNNER_TEMP": str(tmp_path), "COMMAND": command,
                                           "EXTRAS": extras})


@pytest.mark.parametrize(("extras", "lock"), [
    ("aws,github,pagerduty", "aws"), ("okta,gitlab", "okta"), ("github", "base"),
    ("gitlab", "base"), ("", "base"), ("entra,entra,github", "entra"),
])
def test_the_action_installs_the_lock_of_the_jobs_platform(tmp_path: Path, extras: str,
                                                           lock: str) -> None:
    done = run_install(tmp_path, "install", extras)
    assert done.returncode == 0, done.stdout + done.stderr
    arguments = done.stdout.splitlines()
    assert arguments == ["-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                         "--require-hashes", "--no-deps", "--only-binary", ":all:", "-r",
                         f"{ROOT}/action/locks/{lock}.txt"]
    # A later command in the same job finds it installed.
    again = run_install(tmp_path, "apply", extras)
    assert again.returncode == 0
    assert again.stdout.startswith("Installed earlier in this job")


@pytest.mark.parametrize(("extras", "message"), [
    ("aws,okta", "one platform per job (aws and okta given)"),
    ("aws;touch pwned", "is not a comma-separated list"),
    ("awss", "no extra 'awss'"),
])
def test_the_action_refuses_extras_it_has_no_lock_for(tmp_path: Path, extras: str,
                                                      message: str) -> None:
    done = run_install(tmp_path, "install", extras)
    assert done.returncode == 1
    assert message in done.stdout
    assert not (tmp_path / "pwned").exists()


def run_action(tmp_path: Path, repo: Path, command: str, args: str, summary: str = "false",
               instance: str = "") -> subprocess.CompletedProcess[str]:
    """The action's command step in bash: the engine of this checkout, as the action runs it
    from its own commit, on this environment's Python and packages."""
    bin_dir = tmp_path / "python-bin"
    bin_dir.mkdir(exist_ok=True)
    # A launcher, not a link: a link elsewhere would lose the virtualenv's packages.
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    environ = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GITHUB_ACTION_PATH": str(ROOT),
               "COMMAND": command, "INSTANCE": instance, "ARGS": args, "SUMMARY": summary,
               "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "HOME": str(tmp_path)}
    return subprocess.run(["bash", "-c", action_step("accessctl")], cwd=repo,
                          capture_output=True, text=True, timeout=120, env=environ)


def test_the_action_runs_the_engine_with_its_arguments_as_given(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    assert invoke("init", str(repo), "--platform", "aws", "--no-lock").code == 0
    write_lock(repo)
    validated = run_action(tmp_path, repo, "validate", "\n  --format\n   text  \n\n")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "0 requests" in validated.stdout
    summarised = run_action(tmp_path, repo, "codeowners", "--check", summary="true")
    assert summarised.returncode == 0, summarised.stderr
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## accessctl codeowners\n```text\n")
    assert ".github/CODEOWNERS is up to date" in summary
    # An argument is one argument, never shell: no expansion, no command substitution.
    hostile = run_action(tmp_path, repo, "validate", "--format\n$(touch pwned) text")
    assert hostile.returncode == 2
    assert "'$(touch pwned) text'" in hostile.stderr
    assert not (repo / "pwned").exists()
    wrong = run_action(tmp_path, repo, "validate;id", "")
    assert wrong.returncode == 1 and "is not an accessctl command" in wrong.stdout


def test_workflows_using_the_action_hold_no_engine_and_pass_the_linters(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM)
    result = invoke("workflows", "--write", "--use-action", f"{ACTION} # v0.1.0",
                    "--repo", str(repo))
    assert result.code == 0, result.out + result.err
    assert not (repo / "requirements.in").exists()
    workflows = repo / ".github" / "workflows"
    for path in sorted(workflows.glob("*.yml")):
        text = path.read_text()
        assert "pip install" not in text and "setup-python" not in text, path.name
        assert "accessctl " not in "".join(re.findall(r"run: .*", text)), path.name
        for name, job in load(path)["jobs"].items():
            if name == "record-applied":
                continue
            steps = job["steps"]
            engine = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith(
                "acme/accessctl@")]
            assert steps[engine[0]]["with"]["command"] == "install", (path.name, name)
            assert engine[0] < first_credential_step(steps), (path.name, name)
            assert all(steps[i]["uses"] == ACTION for i in engine)
    lint(workflows)
    # The choice is kept by later runs, and the check passes; 'none' goes back to the lock.
    assert invoke("workflows", "--write", "--repo", str(repo)).out == ""
    assert f"uses: {ACTION} # v0.1.0\n" in (workflows / "apply.yml").read_text()
    assert invoke("workflows", "--check", "--repo", str(repo)).code == 0
    back = invoke("workflows", "--write", "--use-action", "none", "--repo", str(repo))
    assert back.code == 0
    assert INSTALL in (workflows / "apply.yml").read_text()
    assert (repo / "requirements.in").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (("--use-action", "acme/accessctl@main"), "the full 40-character commit"),
    (("--use-action", f"{ACTION} # v1; rm"), "the full 40-character commit"),
    (("--check", "--use-action", ACTION), "--use-action goes with --write"),
    (("--vcs", "gitlab", "--use-action", ACTION), "--use-action is for --vcs github"),
    (("--vcs", "gitlab", "--use-component", "a b"), "--use-component 'a b'"),
])
def test_a_bad_engine_source_is_a_usage_error(tmp_path: Path, args: tuple[str, ...],
                                              message: str) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM)
    result = invoke("workflows", *args, *(() if "--check" in args else ("--write",)),
                    "--repo", str(repo))
    assert result.code == 2
    assert message in result.err
    assert not (repo / ".github").exists()


# The GitLab component.

def test_the_component_is_valid_gitlab_ci(tmp_path: Path) -> None:
    text = (ROOT / "templates" / "accessctl.yml").read_text()
    header, body = text.split("\n---\n")
    spec = yaml.safe_load(header)["spec"]["inputs"]
    assert spec["lock"]["default"] == "requirements.txt"
    assert '-r "$[[ inputs.lock ]]"' in body and "image: $[[ inputs.image ]]" in body
    (tmp_path / "header.yml").write_text(header + "\n")
    (tmp_path / "body.yml").write_text(body)
    checked = schema_check("vendor.gitlab-ci", tmp_path / "header.yml", tmp_path / "body.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "bad.yml").write_text(header.replace("default: requirements.txt",
                                                     "type: file") + "\n")
    assert schema_check("vendor.gitlab-ci", tmp_path / "bad.yml").returncode == 1


def test_a_gitlab_ci_including_the_component_is_valid_and_kept(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM)
    component = "$CI_SERVER_FQDN/acme/accessctl/accessctl@" + "1" * 40
    result = invoke("workflows", "--write", "--vcs", "gitlab", "--use-component", component,
                    "--repo", str(repo))
    assert result.code == 0, result.out + result.err
    path = repo / ".gitlab-ci.yml"
    data = yaml.load(path.read_text(), Loader=GitLabLoader)
    assert data["include"] == [{"component": component,
                                "inputs": {"lock": "requirements.txt"}}]
    # What the component defines is what these jobs extend.
    body = yaml.load((ROOT / "templates" / "accessctl.yml").read_text().split("\n---\n")[1],
                     Loader=GitLabLoader)
    extended = {p for job in data.values() if isinstance(job, dict)
                for p in job.get("extends", [])}
    assert {".apply", ".revoke", ".reconcile"} <= extended & set(body)
    assert extended <= set(body) | set(data)
    assert "validate" in body and "validate" not in data
    checked = schema_check("vendor.gitlab-ci", path, transform=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    write_lock(repo)
    assert invoke("workflows", "--write", "--vcs", "gitlab", "--repo", str(repo)).out == ""
    assert invoke("workflows", "--check", "--vcs", "gitlab", "--repo", str(repo)).code == 0


def test_the_dev_tools_are_installed() -> None:
    # The lock tests build and resolve offline with these (pyproject's dev extra).
    for name in ("uv", "check-jsonschema", "actionlint", "zizmor"):
        assert os.access(tool(name), os.X_OK), name
    assert shutil.which("bash")


def test_every_option_the_action_steps_pass_exists(tmp_path: Path) -> None:
    import click
    from accessctl.cli import cli

    repo = access_repo(tmp_path, EVERY_PLATFORM)
    assert invoke("workflows", "--write", "--use-action", ACTION, "--repo", str(repo)).code == 0
    seen = set()
    for path in sorted((repo / ".github" / "workflows").glob("*.yml")):
        for job in load(path)["jobs"].values():
            for step in job["steps"]:
                if step.get("uses") != ACTION or step["with"]["command"] == "install":
                    continue
                command = step["with"]["command"]
                with click.Context(cli) as ctx:
                    found = cli.get_command(ctx, command)
                assert found is not None, command
                known = {o for p in found.params for o in (*p.opts, *p.secondary_opts)}
                options = re.findall(r"(?<![\w-])(--[a-z][\w-]*)", str(step["with"].get("args")))
                if step["with"].get("instance"):
                    options.append("--provider")
                assert [o for o in options if o not in known] == [], (path.name, command)
                seen.add(command)
    assert seen == {"apply", "revoke", "reconcile", "validate", "codeowners", "workflows",
                    "schemas", "request"}
