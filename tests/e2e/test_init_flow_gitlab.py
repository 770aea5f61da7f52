"""A repository made by `accessctl init --vcs gitlab`, lived in: on the GitLab emulator, with AWS
on moto.

alice asks by merge request, bob (security) approves, it merges, and the generated pipeline's
own scripts (`.gitlab-ci.yml`'s validate job, and `apply:<instance>` as `.apply` and the
instance's variables make it, executed by bash with `accessctl` standing in to capture the
arguments) judge the merge request and then grant her the group.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from accessctl.emulators.gitlab import GitLabEmulator

from tests.cli_runner import invoke
from tests.e2e.gitlab_world import T0, hours, stamp, ticking, token
from tests.engine_lock import write_lock
from tests.git_checkout import commit_tree
from tests.servers import moto_server
from tests.test_workflows import GitLabLoader

PROJECT = "acme/access"
ENGINE = "accessctl-engine"


def script_calls(lines: list[str], environ: dict[str, str], tmp: Path) -> list[list[str]]:
    """The accessctl calls a job's script lines make, each as its arguments, by running the
    lines in bash with a stand-in `accessctl` (the install lines and git are left out: there is
    nothing to install, and no remote to fetch from)."""
    calls = tmp / "calls"
    calls.write_bytes(b"")
    script = ("accessctl() { printf '%s\\0' \"$@\" >> \"$CALLS\"; printf '\\n' >> \"$CALLS\"; }\n"
              "git() { return 1; }\n")
    script += "\n".join(line for line in lines if "pip install" not in line)
    subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                   env={**environ, "CALLS": str(calls), "PATH": "/usr/bin:/bin"},
                   capture_output=True, text=True, timeout=60, check=True)
    return [line.split("\0")[:-1] for line in calls.read_text().splitlines() if line]


def flatten(lines: list[Any]) -> list[str]:
    """A job's script as GitLab runs it: `!reference` lists spliced in place."""
    flat: list[str] = []
    for line in lines:
        flat += flatten(line) if isinstance(line, list) else [line]
    return flat


@pytest.fixture
def gitlab() -> Iterator[GitLabEmulator]:
    with GitLabEmulator() as emulator:
        yield emulator


def test_a_new_gitlab_repository_grants_by_its_generated_pipeline(
        gitlab: GitLabEmulator, tmp_path: Path, aws_endpoint: str) -> None:
    gitlab.clock = ticking(T0)
    gitlab.add_group("acme")
    for login in ("alice", "bob"):
        gitlab.add_user(login, token=token(login))
    gitlab.add_user(ENGINE, "accessctl", bot=True, token=token(ENGINE))
    for team, member in (("sre", "alice"), ("security", "bob")):
        gitlab.add_group(f"acme/{team}")
        gitlab.add_member(f"acme/{team}", member, 30, kind="groups")
    iam: Any = moto_server.fresh_iam(moto_server.client("iam", aws_endpoint), ("prod-admins",),
                                     ("alice", "bob"))

    seed = tmp_path / "seed"
    made = invoke("init", str(seed), "--vcs", "gitlab", "--platform", "aws", "--org", "acme",
                  "--no-lock")
    assert made.code == 0, made.err
    write_lock(seed)  # uv and a package index are not at hand: tests/test_engine_lock.py
    providers = seed / "policies" / "providers.yaml"
    providers.write_text(providers.read_text().replace(
        "    platform: aws\n", f"    platform: aws\n    endpoint_url: {aws_endpoint}\n"))
    assert invoke("workflows", "--check", "--vcs", "gitlab", "--repo", str(seed)).code == 0
    pipeline = yaml.load((seed / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    tree = {p.relative_to(seed).as_posix(): p.read_bytes()
            for p in sorted(seed.rglob("*")) if p.is_file()}
    shutil.rmtree(seed)
    project_id = gitlab.add_project(PROJECT, tree)
    gitlab.add_member(PROJECT, ENGINE, 20, kind="projects")
    env = {"CI_PROJECT_ID": str(project_id), "CI_SERVER_URL": gitlab.base_url,
           "ACCESSCTL_VCS_TOKEN": token(ENGINE)}

    path = "access-requests/aws-prod-admin/alice-inc-1234.yaml"
    iid = gitlab.open_merge_request(PROJECT, "alice-asks", "alice", {path: (
        "requester: alice\nentitlement: aws-prod-admin\nreason: Investigate INC-1234\n"
        f"ticket: INC-1234\nexpires_at: {stamp(hours(3))}\n")})

    def checkout(branch: str, commit: bool) -> Path:
        with gitlab.lock:
            project = gitlab.projects[project_id]
            files = dict(project.commits[project.branches[branch]].files)
        where = tmp_path / "checkout"
        commit_tree(where, files, commit=commit)
        return where

    builds = tmp_path / "builds"
    builds.mkdir()
    ci = {"CI_BUILDS_DIR": str(builds), "CI_MERGE_REQUEST_IID": str(iid)}

    # The merge request, judged at its head by the generated validate job's own script.
    head = checkout("alice-asks", commit=False)
    calls = script_calls(flatten(pipeline["validate"]["script"]), ci, tmp_path)
    judged = next(c for c in calls if c[0] == "validate")
    validated = invoke(*judged, "--repo", str(head), environ=env, now=hours(0.1))
    assert validated.code == 0, validated.out + validated.err
    notes = gitlab.mr(PROJECT, iid).notes
    assert any("needed from @acme/security" in n.body for n in notes), [n.body for n in notes]

    gitlab.approve(PROJECT, iid, "bob")
    gitlab.merge(PROJECT, iid, "squash", merged_by="bob", at=hours(0.5))
    with gitlab.lock:
        project = gitlab.projects[project_id]
        sha = project.branches[project.default_branch]
    main = checkout(project.default_branch, commit=True)

    # apply:aws-prod: `.apply`'s before_script and script, with the instance's variables.
    job = pipeline["apply:aws-prod"]
    assert job["extends"] == [".apply", ".aws-prod"]
    variables = {k: str(v) for k, v in pipeline[".aws-prod"]["variables"].items()
                 if not str(v).startswith("$")}
    lines = flatten(pipeline[".mutate"]["before_script"]) + flatten(pipeline[".apply"]["script"])
    calls = script_calls(lines, {**variables, "CI_COMMIT_SHA": sha}, tmp_path)
    assert [c[0] for c in calls] == ["apply"]
    runner = tmp_path / "runner"
    runner.mkdir()
    arguments = [a if not a.startswith("audit-") else str(runner / a) for a in calls[0]]
    applied = invoke(*arguments, "--repo", str(main), environ=env, now=hours(1))
    assert applied.code == 0, applied.out + applied.err
    assert {u["UserName"] for u in iam.get_group(GroupName="prod-admins")["Users"]} == {"alice"}
    assert (runner / "audit-aws-prod.jsonl").is_file()
