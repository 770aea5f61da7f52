"""`accessctl demo`: the whole lifecycle on local servers, narrated, with no credentials.

GitHub is our emulator (reached through PyGithub), AWS is moto in server mode (through boto3),
and Google Cloud is our emulator (through google-api-python-client): every step below is the
real engine talking HTTP to them, exactly as CI would talk to the real services.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from accessctl.approval.codeowners import generate
from accessctl.core.environment import Environment
from accessctl.read.load import TreeSource, load_policies

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
REPO = "acme/access"
PEOPLE = ("alice", "bob", "carol", "dave")
IAM_GROUPS = ("prod-admins", "billing-readers", "break-glass-admins")


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Servers:
    github: Any
    aws_endpoint: str
    gcp: Any


@contextmanager
def servers() -> Iterator[Servers]:
    from accessctl.emulators.aws import moto_server
    from accessctl.emulators.gcp import GcpEmulator
    from accessctl.emulators.github import GitHubEmulator

    with ExitStack() as stack:
        github = stack.enter_context(GitHubEmulator())
        endpoint = stack.enter_context(moto_server())
        gcp = stack.enter_context(GcpEmulator())
        yield Servers(github, endpoint, gcp)


class Demo:
    def __init__(self, example: Path, workdir: Path, out: TextIO) -> None:
        self.example = example
        self.workdir = workdir
        self.out = out
        self.checkout = workdir / "checkout"
        self.step = 0

    # -- narration ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.out.write(text + "\n")

    def title(self, text: str) -> None:
        self.step += 1
        self.say(f"\n== {self.step}. {text}")

    def run(self, args: Sequence[str], now: datetime, environ: dict[str, str]) -> int:
        from accessctl.cli import run

        self.say("$ accessctl " + " ".join(args))
        code = run(list(args), Environment(stdout=self.out, stderr=self.out, environ=environ,
                                           clock=lambda: now))
        self.say(f"(exit code {code})")
        return code

    # -- set-up ------------------------------------------------------------------------------
    def seed(self, live: Servers) -> dict[str, str]:
        from accessctl.emulators.aws import TEST_CREDENTIALS, client, reset

        reset(live.aws_endpoint)
        github, gcp = live.github, live.gcp
        github.clock = lambda: T0
        github.add_org("acme")
        for login in PEOPLE:
            github.add_user(login)
            github.add_org_member("acme", login)
        github.add_team("acme", "sre", ["alice", "bob"])
        github.add_team("acme", "security", ["carol", "dave"])
        github.add_team("acme", "data", ["bob", "carol"])
        github.add_repo("acme", "infra")
        iam = client("iam", live.aws_endpoint)
        for group in IAM_GROUPS:
            iam.create_group(GroupName=group)
        for login in PEOPLE:
            iam.create_user(UserName=login)
        gcp.add_project("acme-analytics")
        for login in PEOPLE:
            gcp.add_user(f"{login}@acme.example")
        files = self._repository_files(live)
        github.add_repo("acme", "access", files=files, author="dave")
        environ = {
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": github.token,
            "GITHUB_API_URL": github.api,
            "ACCESSCTL_GITHUB_TOKEN": github.token,
            **TEST_CREDENTIALS,
        }
        self.sync(github)
        return environ

    def _repository_files(self, live: Servers) -> dict[str, bytes]:
        """The example's policies, pointed at the local servers, with CODEOWNERS; no requests."""
        staging = self.workdir / "staging"
        shutil.copytree(self.example / "policies", staging / "policies")
        providers = {"providers": {
            "aws-prod": {"platform": "aws", "region": "us-east-1",
                         "endpoint_url": live.aws_endpoint},
            "github-acme": {"platform": "github", "base_url": live.github.api,
                            "token_env": "ACCESSCTL_GITHUB_TOKEN", "write_interval": 0},
            "gcp-main": {"platform": "gcp", "endpoint": live.gcp.base_url + "/"},
        }}
        (staging / "policies" / "providers.yaml").write_text(
            "# Local servers started by `accessctl demo`.\n" + yaml.safe_dump(providers))
        # Okta is left out of the demo: its entitlement would not load without its server.
        for path in (staging / "policies" / "entitlements").glob("okta-*.yaml"):
            path.unlink()
        identities = staging / "policies" / "identities.yaml"
        data = yaml.safe_load(identities.read_text())
        data.pop("teams", None)  # teams come from GitHub in the demo, as in a real org
        identities.write_text(yaml.safe_dump(data, sort_keys=False))
        policies, problems = load_policies(TreeSource(staging))
        if policies is None:
            raise RuntimeError(f"the example policies do not load: {problems}")
        (staging / ".github").mkdir()
        (staging / ".github" / "CODEOWNERS").write_text(generate(policies))
        files = {p.relative_to(staging).as_posix(): p.read_bytes()
                 for p in sorted(staging.rglob("*")) if p.is_file()}
        shutil.rmtree(staging)
        return files

    def sync(self, github: Any) -> None:
        """The CI checkout: the working tree equals the default branch."""
        github.checkout(REPO, f"refs/heads/{github.repo(REPO).default_branch}", self.checkout)

    # -- the story ---------------------------------------------------------------------------
    def story(self, live: Servers, environ: dict[str, str]) -> int:
        from accessctl.emulators.aws import client

        github = live.github
        iam = client("iam", live.aws_endpoint)
        failures = 0

        def members() -> str:
            users = iam.get_group(GroupName="prod-admins")["Users"]
            return ", ".join(sorted(u["UserName"] for u in users)) or "nobody"

        self.title("Nobody holds production access")
        self.say(f"IAM group prod-admins on AWS (moto at {live.aws_endpoint}): {members()}")

        self.title("alice asks for aws-prod-admin for 3 hours and opens a pull request")
        request_env = dict(environ)
        self.run(["request", "aws-prod-admin", "--for", "3h", "--reason",
                  "Investigate INC-4211 elevated 5xx on checkout", "--ticket", "INC-4211",
                  "--as", "alice", "--no-pr", "--repo", str(self.checkout)], T0, request_env)
        path = "access-requests/aws-prod-admin/alice-inc-4211.yaml"
        number = github.open_pull(REPO, "alice", "access/alice-inc-4211",
                                  {path: (self.checkout / path).read_bytes()},
                                  title="Access request: aws-prod-admin for alice", at=T0)
        self.say(f"pull request #{number} opened by alice")

        self.title("The validate check judges the pull request (no secrets) and comments")
        event = self.workdir / "event.json"
        event.write_text(json.dumps({"action": "opened", "number": number,
                                     "pull_request": {"number": number}}))
        head = self.workdir / "pr-head"
        shutil.copytree(self.checkout, head)
        failures += self.run(["validate", "--repo", str(head), "--event", str(event)],
                             T0, environ) != 0
        self.say("The comment on the pull request now reads:\n")
        self.say(github.comments(REPO, number)[-1])

        self.title("carol, a code owner in @acme/security, approves; the pull request merges")
        github.submit_review(REPO, number, "carol", "APPROVED", at=_at(0.2))
        github.merge_pull(REPO, number, "squash", merged_by="carol", at=_at(0.25))
        self.sync(github)

        self.title("carol asks for gcp-data-viewer; dave approves; merged")
        data = "access-requests/gcp-data-viewer/carol-churn.yaml"
        carol = github.open_pull(REPO, "carol", "access/carol-churn", {data: (
            "requester: carol\nentitlement: gcp-data-viewer\nreason: Churn analysis\n"
            f"expires_at: {_stamp(_at(2))}\n")}, at=_at(0.05))
        github.submit_review(REPO, carol, "dave", "APPROVED", at=_at(0.2))
        github.merge_pull(REPO, carol, "merge", merged_by="dave", at=_at(0.26))
        self.sync(github)

        self.title("bob asks for aws-prod-admin too, and has alice (not a code owner) approve")
        other = "access-requests/aws-prod-admin/bob-inc-4300.yaml"
        bob = github.open_pull(REPO, "bob", "access/bob-inc-4300", {other: (
            "requester: bob\nentitlement: aws-prod-admin\nreason: Look at the queue backlog\n"
            f"ticket: INC-4300\nexpires_at: {_stamp(_at(2))}\n")}, at=_at(0.1))
        github.submit_review(REPO, bob, "alice", "APPROVED", at=_at(0.2))
        github.merge_pull(REPO, bob, "squash", merged_by="dave", at=_at(0.3))
        self.sync(github)

        self.title("On merge, apply verifies every approval itself and grants only alice")
        self.say("(bob's request is denied, so the run exits 1: the workflow turns red and "
                 "the audit log says why)")
        self.run(["apply", "--repo", str(self.checkout), "--confirm", "--audit-file",
                  str(self.workdir / "audit.jsonl")], _at(0.5), environ)
        self.say(f"\nIAM group prod-admins now: {members()}")
        if members() != "alice":
            failures += 1
        bindings = [b for b in live.gcp.policy("projects/acme-analytics").get("bindings", [])
                    if b.get("condition")]
        for binding in bindings:
            self.say(f"Google Cloud binding {binding['role']} for {', '.join(binding['members'])}"
                     f" with condition {binding['condition']['expression']}: Google ends it "
                     "on time even if the revoke job is late")
        if not bindings:
            failures += 1

        self.title("Time passes: at 12:30 the scheduled revoke job runs")
        failures += self.run(["revoke", "--repo", str(self.checkout), "--confirm",
                              "--audit-file", str(self.workdir / "audit.jsonl")],
                             _at(3.5), environ) != 0
        self.say(f"\nIAM group prod-admins now: {members()}")
        if members() != "nobody":
            failures += 1

        self.title("The auditor's export")
        failures += self.run(["report", "--repo", str(self.checkout), "--format", "md"],
                             _at(3.5), environ) != 0
        return failures


def run_demo(example: Path, workdir: Path, out: TextIO,
             before: Callable[[Servers], None] | None = None) -> int:
    """Run the story; returns the number of steps that did not go as told (0 is success)."""
    demo = Demo(example, workdir, out)
    with servers() as live:
        demo.say(f"Local servers: GitHub emulator {live.github.base_url}, "
                 f"AWS (moto) {live.aws_endpoint}, Google Cloud emulator {live.gcp.base_url}")
        environ = demo.seed(live)
        if before is not None:
            before(live)
        return demo.story(live, environ)
