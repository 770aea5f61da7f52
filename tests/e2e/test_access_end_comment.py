"""The pull request comment says when each requested access fully ends: its expiry plus what
outlives the revoke on its platform. The validate job holds no platform credentials, so an
Identity Center permission set's SessionDuration is given as the longest AWS allows, and the
comment says so ("at the latest")."""

from __future__ import annotations

from pathlib import Path

from accessctl.approval.codeowners import generate
from accessctl.read.load import TreeSource, load_policies

from tests.e2e.github_world import REPO, World, hours, stamp
from tests.e2e.test_workflow_commands import MARKER, head_tree, payload, validate
from tests.repo_fixture import request

SSO = """\
name: prod-sso
provider: aws-test
target:
  kind: account_assignment
  account_id: "123456789012"
  permission_set: AdministratorAccess
eligible: ["@acme/sre"]
approvers: ["@acme/security"]
max_duration: 4h
"""


def test_the_comment_says_when_access_fully_ends(world: World, tmp_path: Path) -> None:
    (world.workspace / "policies" / "entitlements" / "prod-sso.yaml").write_text(SSO)
    policies, problems = load_policies(TreeSource(world.workspace))
    assert policies is not None, problems
    policy_change = world.propose("dave", {
        "policies/entitlements/prod-sso.yaml": SSO, ".github/CODEOWNERS": generate(policies)})
    world.merge(policy_change, at=hours(0.05))

    expires = hours(3)
    number = world.propose("alice", {
        "access-requests/prod-admin/alice-x.yaml": request("alice", "prod-admin", stamp(expires)),
        "access-requests/prod-sso/alice-y.yaml": request("alice", "prod-sso", stamp(expires)),
    }, at=hours(0.1))
    result = validate(world, payload("pull_request.opened", tmp_path, number=number),
                      head_tree(world, number, tmp_path))
    assert result.code == 0, result.out + result.err
    [comment] = world.github.comments(REPO, number)
    assert MARKER in comment
    assert (f"- <code>alice-x.yaml</code>: access fully ends by {stamp(expires)}: none beyond "
            "propagation: IAM evaluates the group's policies on every request.") in comment
    assert (f"- <code>alice-y.yaml</code>: access fully ends by {stamp(hours(15))} at the "
            "latest: role sessions started before the revoke last up to the permission set's "
            "SessionDuration, at most 12h") in comment
