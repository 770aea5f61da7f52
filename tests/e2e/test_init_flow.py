"""A repository made by `accessctl init`, lived in: on the GitHub emulator, with AWS on moto.

alice asks by pull request, bob (security) approves, it merges, and the generated apply job's own
command line (its `run:` script executed by bash, with `accessctl` standing in to capture the
arguments) grants her the group. The generated validate job's command line judges the pull
request first.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from accessctl.emulators.github import GitHubEmulator

from tests.cli_runner import Result, invoke
from tests.e2e.github_world import T0, hours, stamp
from tests.engine_lock import write_lock
from tests.git_checkout import has_object, mirror
from tests.servers import moto_server

REPO = "acme/access"


def job_arguments(workflow: Path, job: str, environ: dict[str, str]) -> list[str]:
    """The accessctl arguments the job's script passes, by running that script in bash with a
    stand-in `accessctl` that prints them."""
    data = yaml.safe_load(workflow.read_text())
    step = next(s for s in data["jobs"][job]["steps"] if "accessctl " in s.get("run", "")
                and "install" not in s["run"])
    script = "accessctl() { printf '%s\\0' \"$@\"; }\n" + step["run"]
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env={**environ,
                          "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout.split("\0")[:-1]


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator() as emulator:
        yield emulator


def test_a_new_repository_grants_by_its_generated_job(github: GitHubEmulator, tmp_path: Path,
                                                      aws_endpoint: str) -> None:
    github.clock = lambda: T0
    github.add_org("acme")
    for login in ("alice", "bob"):
        github.add_user(login)
        github.add_org_member("acme", login)
    github.add_team("acme", "sre", ["alice"])
    github.add_team("acme", "security", ["bob"])
    iam: Any = moto_server.fresh_iam(moto_server.client("iam", aws_endpoint), ("prod-admins",),
                                     ("alice", "bob"))

    seed = tmp_path / "seed"
    made = invoke("init", str(seed), "--platform", "aws", "--org", "acme", "--no-lock")
    assert made.code == 0, made.err
    write_lock(seed)  # uv and a package index are not at hand: tests/test_engine_lock.py
    # The one test-only change: AWS is moto (endpoint_url changes no workflow).
    providers = seed / "policies" / "providers.yaml"
    providers.write_text(providers.read_text().replace(
        "    platform: aws\n", f"    platform: aws\n    endpoint_url: {aws_endpoint}\n"))
    assert invoke("workflows", "--check", "--repo", str(seed)).code == 0
    tree = {p.relative_to(seed).as_posix(): p.read_bytes()
            for p in sorted(seed.rglob("*")) if p.is_file()}
    github.add_repo("acme", "access", files=tree, author="bob")
    shutil.rmtree(seed)

    env = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": github.token,
           "GITHUB_API_URL": f"{github.base_url}/api/v3"}
    path = "access-requests/aws-prod-admin/alice-inc-1234.yaml"
    number = github.open_pull(REPO, "alice", "ask", {path: (
        "requester: alice\nentitlement: aws-prod-admin\nreason: Investigate INC-1234\n"
        f"ticket: INC-1234\nexpires_at: {stamp(hours(3))}\n")}, at=T0)

    checkout = tmp_path / "checkout"

    def sync() -> str:
        # The default branch as actions/checkout with fetch-depth: 0 gives it: the emulator's
        # own commits under their own IDs, so local history and the API name the same commits.
        head = github.ref(REPO, "refs/heads/main")
        assert head is not None
        mirror(checkout, github.git_objects(REPO, "refs/heads/main", has_object(checkout)), head)
        return head

    def run(workflow: Path, job: str, repo: Path, **variables: str) -> Result:
        runner = tmp_path / "runner"
        runner.mkdir(exist_ok=True)
        args = job_arguments(workflow, job, {
            "INSTANCE": job, "GITHUB_TOKEN": "unused", "SINCE": "",
            "GITHUB_SERVER_URL": "https://github.example", "RUNNER_TEMP": str(runner),
            "GITHUB_STEP_SUMMARY": str(runner / "summary.md"), **variables,
        })
        return invoke(*args, "--repo", str(repo), environ=env, now=hours(1))

    # The pull request, judged at its head by the generated validate job's command.
    head = tmp_path / "head"
    github.checkout(REPO, github.repo(REPO).pulls[number].head_sha, head)
    event = tmp_path / "event.json"
    event.write_text(f'{{"pull_request": {{"number": {number}}}, "number": {number}}}')
    validated = run(head / ".github" / "workflows" / "validate.yml", "validate", head,
                    GITHUB_EVENT_PATH=str(event), FROM_FORK="false")
    assert validated.code == 0, validated.out + validated.err
    assert "needed from @acme/security" in github.comments(REPO, number)[0]

    github.submit_review(REPO, number, "bob", "APPROVED", at=hours(0.2))
    github.merge_pull(REPO, number, "squash", merged_by="bob", at=hours(0.5))
    sha = sync()
    applied = run(checkout / ".github" / "workflows" / "apply.yml", "aws-prod", checkout,
                  GITHUB_SHA=sha)
    assert applied.code == 0, applied.out + applied.err
    assert {u["UserName"] for u in iam.get_group(GroupName="prod-admins")["Users"]} == {"alice"}
    assert (tmp_path / "runner" / "audit.jsonl").is_file()
