"""A whole access repository living on the GitLab emulator, with AWS on moto.

The engine reaches GitLab through python-gitlab and AWS through boto3, both over HTTP. People act
as themselves: each has a token, and approvals go through the approve endpoint, so the project's
approval settings apply as GitLab applies them. The working tree the engine reads is kept equal
to the default branch, as CI's checkout would be.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gitlab
from accessctl.approval.codeowners import generate
from accessctl.emulators.gitlab import GitLabEmulator
from accessctl.read.load import TreeSource, load_policies

from tests.cli_runner import Result, invoke
from tests.git_checkout import commit_tree
from tests.repo_fixture import request, write_repo
from tests.servers import moto_server

PROJECT = "acme/access"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PEOPLE = ("alice", "bob", "carol", "dave", "mallory")
BOT = "project_7_bot_3f9a"
"""A project access token's bot user, as GitLab names them."""
ENGINE = "project_7_bot_ci"
"""The engine's own identity: the project access token CI holds."""
CODEOWNERS = ".gitlab/CODEOWNERS"

# No teams here: they come from GitLab's groups, as in a real deployment.
IDENTITIES = """\
people:
  alice: {aws: alice}
  bob: {aws: bob}
  carol: {aws: carol}
  dave: {aws: dave}
  mallory: {aws: mallory}
admins: ["@acme/admins"]
"""


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def token(login: str) -> str:
    return f"glpat-{login}"


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock one second later at each reading: what happens later in a test happens later on
    GitLab too (a push after an approval, an approval after the merge request was opened)."""
    seconds = itertools.count()
    return lambda: start + timedelta(seconds=next(seconds))


@dataclass
class World:
    gitlab: GitLabEmulator
    aws_endpoint: str
    workspace: Path
    iam: Any
    project_id: int = 0
    branches: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, emulator: GitLabEmulator, aws_endpoint: str, workspace: Path) -> World:
        emulator.clock = ticking(T0)
        emulator.add_group("acme")
        for login in PEOPLE:
            emulator.add_user(login, token=token(login))
            # Everyone belongs to the parent group: inherited membership must not make them
            # members of acme/security.
            emulator.add_member("acme", login, 30, kind="groups")
        emulator.add_user(BOT, "access bot", bot=True, token=token(BOT))
        emulator.add_user(ENGINE, "accessctl", bot=True, token=token(ENGINE))
        for team, members in (("security", ["carol", "dave"]), ("sre", ["alice", "bob"]),
                              ("admins", ["dave"])):
            emulator.add_group(f"acme/{team}")
            for login in members:
                emulator.add_member(f"acme/{team}", login, 30, kind="groups")
        files = write_repo(workspace / "seed", aws_endpoint)
        (files / "policies" / "identities.yaml").write_text(IDENTITIES)
        policies, problems = load_policies(TreeSource(files))
        assert policies is not None, problems
        (files / ".gitlab").mkdir()
        (files / CODEOWNERS).write_text(generate(policies))
        tree = {p.relative_to(files).as_posix(): p.read_bytes()
                for p in sorted(files.rglob("*")) if p.is_file()}
        shutil.rmtree(files)
        project_id = emulator.add_project(PROJECT, tree)
        emulator.add_member(PROJECT, ENGINE, 20, kind="projects")
        iam = moto_server.fresh_iam(moto_server.client("iam", aws_endpoint),
                                    ("prod-admins", "break-glass"), PEOPLE)
        world = cls(emulator, aws_endpoint, workspace / "checkout", iam, project_id)
        world.env = {"CI_PROJECT_ID": str(project_id), "CI_SERVER_URL": emulator.base_url,
                     "ACCESSCTL_VCS_TOKEN": token(ENGINE)}
        world.sync()
        return world

    # -- the repository -----------------------------------------------------------------------
    def sync(self, branch: str | None = None) -> Path:
        """Make the working tree equal to a branch (the default one), as CI's checkout does.
        The default branch's states are also committed to the checkout's local git history
        (GIT_DEPTH: 0); another branch's files are only written into the working tree."""
        with self.gitlab.lock:
            project = self.gitlab.projects[self.project_id]
            default = branch is None or branch == project.default_branch
            tree = dict(project.commits[project.branches[branch or project.default_branch]].files)
        commit_tree(self.workspace, tree, commit=default)
        return self.workspace

    def client(self, login: str) -> Any:
        """python-gitlab as `login` would use it."""
        return gitlab.Gitlab(self.gitlab.base_url, private_token=token(login))

    def head(self) -> str:
        """The default branch's commit now."""
        with self.gitlab.lock:
            project = self.gitlab.projects[self.project_id]
            return project.branches[project.default_branch]

    def on_main(self, files: dict[str, str | None], author: str = "dave") -> str:
        """An admin's change on the default branch (as a reviewed policy change would land);
        the checkout follows."""
        sha = self.gitlab.push_direct(PROJECT, files, author=author)
        self.sync()
        return sha

    def propose(self, author: str, files: dict[str, str | None],
                start: str | None = None) -> int:
        """A merge request by `author` from a new branch, cut from `start` (a commit) or from
        the default branch as it is now."""
        self.branches += 1
        branch = f"change-{self.branches}"
        if start is not None:
            self.gitlab.create_branch(PROJECT, branch, start)
        return self.gitlab.open_merge_request(PROJECT, branch, author, files)

    def ask(self, requester: str, hours_from_t0: float = 3, entitlement: str = "prod-admin",
            author: str | None = None, start: str | None = None) -> tuple[str, int]:
        path = f"access-requests/{entitlement}/{requester}-x.yaml"
        text = request(requester, entitlement, stamp(hours(hours_from_t0)))
        return path, self.propose(author or requester, {path: text}, start)

    def approve(self, iid: int, login: str) -> None:
        """`login` presses Approve (the emulator refuses it as GitLab would, e.g. the author)."""
        mr = self.client(login).projects.get(self.project_id, lazy=True).mergerequests.get(
            iid, lazy=True)
        mr.approve()

    def merge(self, iid: int, method: str = "squash") -> None:
        self.gitlab.merge(PROJECT, iid, method, merged_by="dave", at=hours(0.5))
        self.sync()

    # -- the engine ---------------------------------------------------------------------------
    @property
    def audit_file(self) -> Path:
        return self.workspace.parent / "audit.jsonl"

    def apply(self, now: datetime | None = None, *, confirm: bool = True) -> Result:
        return invoke("apply", "--repo", str(self.workspace), *(["--confirm"] if confirm else []),
                      "--vcs", "gitlab", "--audit-file", str(self.audit_file),
                      environ=self.env, now=now or hours(1))

    def members(self, group: str = "prod-admins") -> set[str]:
        return {u["UserName"] for u in self.iam.get_group(GroupName=group)["Users"]}
