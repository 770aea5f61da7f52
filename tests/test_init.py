"""`accessctl init`: a new access repository that passes its own checks as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from accessctl import __version__
from accessctl.scaffold.init_files import PLATFORMS

from tests.cli_runner import Result, invoke
from tests.engine_lock import write_lock


def init(repo: Path, *args: str) -> Result:
    """`accessctl init` without the lock (uv and a package index are not at hand here), then
    the lock's stand-in."""
    result = invoke("init", str(repo), *args, "--no-lock")
    if result.code == 0 and (repo / "requirements.in").exists():
        write_lock(repo)
    return result


def checks(repo: Path, vcs: str) -> dict[str, int]:
    """Exit code of each check the new repository's CI runs."""
    codes = {}
    for args in (("validate",), ("test",), ("codeowners", "--check", "--vcs", vcs),
                 ("workflows", "--check", "--vcs", vcs), ("schemas", "--check")):
        result = invoke(*args, "--repo", str(repo))
        codes[" ".join(args[:1])] = result.code
        assert result.code == 0, (args, result.out, result.err)
    return codes


def test_aws_and_okta_on_github(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    result = init(repo, "--vcs", "github", "--platform", "aws,okta", "--org", "acme")
    assert result.code == 0, result.out + result.err
    assert checks(repo, "github") == dict.fromkeys(
        ["validate", "test", "codeowners", "workflows", "schemas"], 0)
    for path in ("access-requests", "policies/entitlements/aws-prod-admin.yaml",
                 "policies/entitlements/okta-prod-vpn.yaml", "policies/identities.yaml",
                 "policies/tests/examples.yaml", ".github/CODEOWNERS",
                 ".github/workflows/apply.yml", ".github/workflows/validate.yml",
                 ".github/pull_request_template.md", "README.md",
                 "schemas/providers.schema.json", "requirements.in"):
        assert (repo / path).exists(), path
    assert not (repo / "engine").exists() and not (repo / "pyproject.toml").exists()
    # The engine is installed pinned, in every job, from its lock with hashes.
    assert f"accessctl[aws,github,okta]=={__version__}" in (repo / "requirements.in").read_text()
    apply = (repo / ".github" / "workflows" / "apply.yml").read_text()
    assert apply.count("pip install --quiet --require-hashes --no-deps -r requirements.txt") == 2
    assert "run `accessctl lock` in" in result.out
    # Okta by the recommended service app: its key, never an API token.
    assert "OKTA_PRIVATE_KEY: ${{ secrets.OKTA_PRIVATE_KEY }}" in apply
    assert "OKTA_API_TOKEN" not in apply
    # The README tells a requester how to ask, who approves and how it ends.
    readme = (repo / "README.md").read_text()
    assert "accessctl request aws-prod-admin" in readme
    assert "| `okta-prod-vpn` |" in readme and "## How it ends" in readme
    # And the person who ran it what to configure.
    assert "variables: AWS_ROLE_ARN" in result.out
    assert "secrets:   ACCESSCTL_LEDGER_KEY, OKTA_PRIVATE_KEY" in result.out


def test_every_platform_on_gitlab(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    result = init(repo, "--vcs", "gitlab", "--platform", ",".join(PLATFORMS))
    assert result.code == 0, result.out + result.err
    checks(repo, "gitlab")
    assert (repo / ".gitlab-ci.yml").is_file() and not (repo / ".github").exists()
    assert (repo / ".gitlab" / "CODEOWNERS").is_file()
    assert (repo / ".gitlab" / "merge_request_templates" / "Default.md").is_file()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_each_platform_alone(tmp_path: Path, platform: str) -> None:
    repo = tmp_path / platform
    assert init(repo, "--platform", platform).code == 0
    checks(repo, "github")


def test_repeated_platform_options_are_one_list(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    assert init(repo, "--platform", "gcp", "--platform", "aws,gcp").code == 0
    assert sorted(p.name for p in (repo / "policies" / "entitlements").iterdir()) == [
        "aws-prod-admin.yaml", "gcp-prod-viewer.yaml"]


def test_a_non_empty_directory_is_refused_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    refused = invoke("init", str(tmp_path), "--platform", "aws")
    assert refused.code == 2
    assert "is not empty" in refused.err and "--force" in refused.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    forced = init(tmp_path, "--platform", "aws", "--force")
    assert forced.code == 0, forced.err
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    checks(tmp_path, "github")


@pytest.mark.parametrize(("args", "message"), [
    (("--platform", "aws,oktaa"), "--platform oktaa: not a platform; choose from aws, okta"),
    (("--platform", ","), "--platform: name at least one of"),
    (("--platform", "aws", "--org", "a b"), "--org 'a b'"),
])
def test_bad_options_are_usage_errors(tmp_path: Path, args: tuple[str, ...],
                                      message: str) -> None:
    result = invoke("init", str(tmp_path / "x"), *args)
    assert result.code == 2
    assert message in result.err
    assert not (tmp_path / "x").exists()


def test_the_workflow_check_catches_a_job_provider_mismatch(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    assert init(repo, "--platform", "aws,okta").code == 0
    providers = repo / "policies" / "providers.yaml"
    providers.write_text(providers.read_text() + "  aws-staging:\n    platform: aws\n")
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert ".github/workflows/apply.yml: no job for: aws-staging" in result.out
    validated = invoke("validate", "--repo", str(repo))
    assert validated.code == 1
    assert "[workflows-stale]" in validated.out


def test_a_platform_added_without_locking_it_is_caught(tmp_path: Path) -> None:
    # The lock must hold the new platform's SDK: the check says so before a job fails on it.
    repo = tmp_path / "access"
    assert init(repo, "--platform", "aws").code == 0
    providers = repo / "policies" / "providers.yaml"
    providers.write_text(providers.read_text() + "  okta-main:\n    platform: okta\n"
                         "    org_url: https://acme.okta.com\n")
    written = invoke("workflows", "--write", "--repo", str(repo))
    assert written.code == 0, written.err
    assert "accessctl[aws,github,okta]==" in (repo / "requirements.in").read_text()
    assert ("next: requirements.txt: locked without the extra okta that policies/providers.yaml "
            "needs: run 'accessctl lock'") in written.out
    checked = invoke("workflows", "--check", "--repo", str(repo))
    assert checked.code == 1
    assert "requirements.txt: locked without the extra okta" in checked.out
    assert "'accessctl lock'" in checked.err
    assert invoke("lock", "--check", "--repo", str(repo)).code == 1
    validated = invoke("validate", "--repo", str(repo), "--format", "json")
    assert validated.code == 1
    assert [f["file"] for f in validated.json()["findings"] if f["code"] == "engine-lock"] == [
        "requirements.txt"]
    write_lock(repo)
    assert invoke("workflows", "--check", "--repo", str(repo)).code == 0
    assert invoke("lock", "--check", "--repo", str(repo)).code == 0


ACTION = "acme/accessctl@" + "0123456789abcdef" * 2 + "01234567"


def test_with_the_action_the_repository_holds_no_engine_and_no_lock(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    result = invoke("init", str(repo), "--platform", "aws,okta", "--use-action", ACTION)
    assert result.code == 0, result.out + result.err
    checks(repo, "github")
    assert not (repo / "requirements.in").exists() and not (repo / "requirements.txt").exists()
    assert "accessctl lock" not in result.out
    for path in (repo / ".github" / "workflows").glob("*.yml"):
        assert "pip install" not in path.read_text(), path.name
        assert f"uses: {ACTION}" in path.read_text(), path.name


def test_with_the_gitlab_component_the_shared_jobs_are_included(tmp_path: Path) -> None:
    repo = tmp_path / "access"
    component = "$CI_SERVER_FQDN/acme/accessctl/accessctl@" + "0" * 40
    result = init(repo, "--vcs", "gitlab", "--platform", "aws", "--use-component", component)
    assert result.code == 0, result.out + result.err
    checks(repo, "gitlab")
    text = (repo / ".gitlab-ci.yml").read_text()
    assert f"  - component: {component}\n    inputs:\n      lock: requirements.txt\n" in text
    assert "\nvalidate:" not in text and "\n.mutate:" not in text, "they come from the component"
    assert "apply:aws-prod:\n  extends: [.apply, .aws-prod]" in text


@pytest.mark.parametrize(("args", "message"), [
    (("--use-action", "acme/accessctl@v1"), "the full 40-character commit"),
    (("--vcs", "gitlab", "--use-action", ACTION), "--use-action is for --vcs github"),
    (("--use-component", "x"), "--use-component for --vcs gitlab"),
])
def test_a_bad_engine_source_is_a_usage_error(tmp_path: Path, args: tuple[str, ...],
                                              message: str) -> None:
    result = invoke("init", str(tmp_path / "x"), "--platform", "aws", *args)
    assert result.code == 2
    assert message in result.err
