"""A whole access repository living on the GitHub emulator, with AWS on moto.

The engine reaches GitHub through PyGithub and AWS through boto3, both over HTTP. The working
tree the engine reads is kept equal to the emulator's default branch, as CI's checkout would be.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from accessctl.approval.codeowners import generate
from accessctl.emulators.github import GitHubEmulator
from accessctl.read.load import TreeSource, load_policies

from tests.cli_runner import Result, invoke
from tests.git_checkout import has_object, mirror
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

REPO = "acme/access"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PEOPLE = ("alice", "bob", "carol", "dave", "mallory")


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


IDENTITIES = """\
people:
  alice: {aws: alice}
  bob: {aws: bob}
  carol: {aws: carol}
  dave: {aws: dave}
  mallory: {aws: mallory}
admins: ["@acme/admins"]
"""


@dataclass
class World:
    github: GitHubEmulator
    aws_endpoint: str
    workspace: Path
    iam: Any
    branches: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, github: GitHubEmulator, aws_endpoint: str, workspace: Path,
              big_team: int = 0, crowd: int = 0) -> World:
        """`crowd`: that many more people (p000, p001, ...) who may ask for prod-admin."""
        github.clock = lambda: T0
        github.add_org("acme")
        for login in PEOPLE:
            github.add_user(login)
            github.add_org_member("acme", login)
        github.add_bot("helper[bot]")
        security = ["carol", "dave"]
        if big_team:
            # A team larger than one page: carol sits on its last page.
            extra = [f"member{i:03}" for i in range(big_team)]
            for login in extra:
                github.add_user(login)
            security = [*extra, "carol", "dave"]
        github.add_team("acme", "security", security)
        others = tuple(f"p{i:03}" for i in range(crowd))
        for login in others:
            github.add_user(login)
            github.add_org_member("acme", login)
        github.add_team("acme", "sre", ["alice", "bob", *others])
        github.add_team("acme", "admins", ["dave"])
        files = write_repo(workspace / "seed", aws_endpoint)
        (files / "policies" / "identities.yaml").write_text(IDENTITIES.replace(
            "admins:", "".join(f"  {p}: {{aws: {p}}}\n" for p in others) + "admins:"))
        policies, problems = load_policies(TreeSource(files))
        assert policies is not None, problems
        (files / ".github").mkdir()
        (files / ".github" / "CODEOWNERS").write_text(generate(policies))
        tree = {p.relative_to(files).as_posix(): p.read_bytes()
                for p in sorted(files.rglob("*")) if p.is_file()}
        github.add_repo("acme", "access", files=tree, author="dave")
        shutil.rmtree(files)
        iam = moto_server.fresh_iam(moto_server.client("iam", aws_endpoint),
                                    ("prod-admins", "break-glass"), (*PEOPLE, *others))
        world = cls(github, aws_endpoint, workspace / "checkout", iam)
        world.env = {"GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": github.token,
                     "GITHUB_API_URL": f"{github.base_url}/api/v3"}
        world.sync()
        return world

    # -- the repository -----------------------------------------------------------------------
    def sync(self) -> None:
        """Make the working tree a clone of the default branch, as CI's checkout with
        fetch-depth: 0 does: the emulator's own commits, under their own IDs
        (tests/git_checkout.py), so the commits local git walks are the ones the API knows."""
        ref = "refs/heads/main"
        head = self.github.ref(REPO, ref)
        assert head is not None
        objects = self.github.git_objects(REPO, ref, has_object(self.workspace))
        mirror(self.workspace, objects, head)

    def propose(self, author: str, files: dict[str, str | None], at: datetime = T0) -> int:
        self.branches += 1
        return self.github.open_pull(REPO, author, f"change-{self.branches}", files, at=at)

    def ask(self, requester: str, hours_from_t0: float = 3, entitlement: str = "prod-admin",
            author: str | None = None, name: str | None = None, **extra: str) -> tuple[str, int]:
        path = f"access-requests/{entitlement}/{name or requester}-x.yaml"
        text = request(requester, entitlement, stamp(hours(hours_from_t0)), **extra)
        return path, self.propose(author or requester, {path: text})

    def approve(self, number: int, login: str, state: str = "APPROVED",
                commit: str | None = None) -> int:
        return self.github.submit_review(REPO, number, login, state, commit_id=commit,
                                         at=hours(0.2))

    def merge(self, number: int, method: str = "squash", at: datetime | None = None) -> None:
        self.github.merge_pull(REPO, number, method, merged_by="dave", at=at or hours(0.5))
        self.sync()

    # -- the engine ---------------------------------------------------------------------------
    def apply(self, now: datetime | None = None, *args: str) -> Result:
        return invoke("apply", "--repo", str(self.workspace), "--confirm", "--audit-file",
                      str(self.workspace.parent / "audit.jsonl"), *args,
                      environ=self.env, now=now or hours(1))

    def members(self, group: str = "prod-admins") -> set[str]:
        return {u["UserName"] for u in self.iam.get_group(GroupName=group)["Users"]}
