"""`accessctl workflows`: the CI files are generated from policies/providers.yaml and checked.

The repository's own workflows are generated output; a job for an instance that is gone, or an
instance with no job, fails `workflows --check` and `validate` instead of failing at run time.
Generated files for every platform are held to the same linters as the shipped ones.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from accessctl import __version__

from tests.cli_runner import invoke
from tests.engine_lock import write_lock
from tests.test_workflows import GitLabLoader, tool, zizmor

ROOT = Path(__file__).resolve().parent.parent
IDENTITIES = """\
people:
  alice: {}
teams:
  "@acme/security": [alice]
admins: ["@acme/security"]
"""

EVERY_PLATFORM = """\
providers:
  aws-prod:
    platform: aws
    region: eu-west-1
  aws-staging:
    platform: aws
  gcp-main:
    platform: gcp
  entra-main:
    platform: entra
  entra-legacy:
    platform: entra
    auth: client_secret
    tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    client_secret_env: ENTRA_LEGACY_SECRET
  okta-main:
    platform: okta
    org_url: https://acme.okta.com
    auth: private_key
    client_id: 0oa1jitengine0service7
  okta-old:
    platform: okta
    org_url: https://old.okta.com
    token_env: OKTA_OLD_TOKEN
  github-acme:
    platform: github
    token_env: ACCESSCTL_GITHUB_TOKEN
  gitlab-acme:
    platform: gitlab
  ad-corp:
    platform: ad
    url: ldaps://dc1.corp.example.com:636
    base_dn: DC=corp,DC=example,DC=com
    bind_dn: svc-accessctl@corp.example.com
"""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def access_repo(root: Path, providers: str, engine: bool = False) -> Path:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "providers.yaml").write_text(providers)
    (root / "policies" / "identities.yaml").write_text(IDENTITIES)
    if engine:
        shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def copy_of_this_repository(tmp: Path) -> Path:
    root = tmp / "repo"
    for name in ("policies", "access-requests", ".github", "schemas"):
        shutil.copytree(ROOT / name, root / name)
    for name in ("pyproject.toml", ".gitlab-ci.yml"):
        shutil.copy(ROOT / name, root / name)
    return root


def secrets_of(job: dict[str, Any]) -> set[str]:
    return set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))


@pytest.mark.parametrize("vcs", ["github", "gitlab"])
def test_this_repositorys_ci_files_are_the_generated_ones(vcs: str) -> None:
    result = invoke("workflows", "--check", "--vcs", vcs, "--repo", str(ROOT))
    assert result.code == 0, result.out + result.err


def test_without_a_flag_workflows_checks() -> None:
    result = invoke("workflows", "--repo", str(ROOT))
    assert result.code == 0, result.err
    assert "up to date" in result.out


def test_a_job_for_an_instance_no_longer_in_providers_is_caught(tmp_path: Path) -> None:
    repo = copy_of_this_repository(tmp_path)
    providers = repo / "policies" / "providers.yaml"
    text = providers.read_text()
    providers.write_text(re.sub(r"  okta-main:\n(    .*\n)+", "", text))
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert (".github/workflows/apply.yml: jobs not in policies/providers.yaml: okta-main"
            in result.out)
    assert "run 'accessctl workflows --write'" in result.err
    # validate says so too, against the file.
    validated = invoke("validate", "--repo", str(repo), "--format", "json")
    stale = [f for f in validated.json()["findings"] if f["code"] == "workflows-stale"]
    assert {f["file"] for f in stale} >= {".github/workflows/apply.yml",
                                                      ".github/workflows/revoke.yml",
                                                      ".github/workflows/reconcile.yml",
                                                      ".gitlab-ci.yml"}
    assert validated.code == 1
    # Regenerating fixes it: the okta jobs and their secret are gone, record-applied follows.
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    assert invoke("workflows", "--write", "--vcs", "gitlab", "--repo", str(repo)).code == 0
    assert invoke("workflows", "--check", "--repo", str(repo)).code == 0
    apply = load(repo / ".github" / "workflows" / "apply.yml")
    assert "okta-main" not in apply["jobs"]
    assert set(apply["jobs"]["record-applied"]["needs"]) == {"aws-prod", "github-acme",
                                                             "gcp-main"}
    assert "OKTA_API_TOKEN" not in (repo / ".github" / "workflows" / "revoke.yml").read_text()


def test_an_instance_without_a_job_is_caught(tmp_path: Path) -> None:
    repo = copy_of_this_repository(tmp_path)
    providers = repo / "policies" / "providers.yaml"
    providers.write_text(providers.read_text() + "  aws-staging:\n    platform: aws\n")
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert ".github/workflows/revoke.yml: no job for: aws-staging" in result.out


def test_a_hand_edit_is_named_by_its_line(tmp_path: Path) -> None:
    repo = copy_of_this_repository(tmp_path)
    apply = repo / ".github" / "workflows" / "apply.yml"
    apply.write_text(apply.read_text().replace("timeout-minutes: 30", "timeout-minutes: 300", 1))
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert re.search(r"apply.yml: line \d+: has 'timeout-minutes: 300', expected "
                     r"'timeout-minutes: 30'", result.out), result.out


def test_write_and_check_together_is_a_usage_error() -> None:
    result = invoke("workflows", "--write", "--check", "--repo", str(ROOT))
    assert result.code == 2


def test_every_platform_gets_its_own_credentials_only(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM, engine=True)
    result = invoke("workflows", "--write", "--repo", str(repo))
    assert result.code == 0, result.out + result.err
    workflows = repo / ".github" / "workflows"
    platform_secret = {
        "okta-main": {"OKTA_PRIVATE_KEY"},  # the service app: the key, never an API token
        "okta-old": {"OKTA_OLD_TOKEN"},
        "github-acme": {"ACCESSCTL_APP_PRIVATE_KEY"},  # the App's key: the job mints the token
        "gitlab-acme": {"GITLAB_TOKEN"},
        "ad-corp": {"AD_BIND_PASSWORD"},
        "entra-legacy": {"ENTRA_LEGACY_SECRET"},
    }
    oidc = {"aws-prod", "aws-staging", "gcp-main", "entra-main"}
    for name in ("apply.yml", "revoke.yml", "reconcile.yml"):
        jobs = load(workflows / name)["jobs"]
        assert set(jobs) - {"record-applied"} == set(platform_secret) | oidc
        for instance, job in jobs.items():
            if instance == "record-applied":
                continue
            shared = {"ACCESSCTL_LEDGER_KEY"}
            if name != "reconcile.yml":
                shared |= {"ACCESSCTL_VCS_TOKEN", "ACCESSCTL_WEBHOOK_URL"}
            if name == "revoke.yml":
                shared |= {"ACCESSCTL_HEARTBEAT_URL"}
            if name == "apply.yml":
                shared |= {"PAGERDUTY_TOKEN"}
            assert secrets_of(job) == platform_secret.get(instance, set()) | shared, instance
            assert (job["permissions"].get("id-token") == "write") == (instance in oidc)
    apply = load(workflows / "apply.yml")["jobs"]
    assert set(apply["record-applied"]["needs"]) == set(apply) - {"record-applied"}
    text = yaml.safe_dump(apply)
    # Two AWS accounts never share a role: the variables carry the instance's name.
    assert "vars.AWS_ROLE_ARN_AWS_PROD" in text and "vars.AWS_ROLE_ARN_AWS_STAGING" in text
    assert "aws-region: eu-west-1" in (workflows / "apply.yml").read_text()
    # Entra by workload identity: ids from variables, the token from GitHub's OIDC.
    entra = next(s for s in apply["entra-main"]["steps"] if "accessctl apply" in s.get("run", ""))
    assert entra["env"]["AZURE_CLIENT_ID"] == "${{ vars.AZURE_CLIENT_ID_ENTRA_MAIN }}"
    legacy = next(s for s in apply["entra-legacy"]["steps"]
                  if "accessctl apply" in s.get("run", ""))
    assert "AZURE_TENANT_ID" not in legacy["env"], "providers.yaml sets the tenant"
    # The same linters as the shipped workflows, pedantic.
    lint = subprocess.run([tool("actionlint"), "-no-color", *map(str, workflows.glob("*.yml"))],
                          capture_output=True, text=True, timeout=120)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert [(f["ident"], f["determinations"]["severity"]) for f in zizmor(workflows)] == []


def test_gitlab_template_for_every_platform(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, EVERY_PLATFORM, engine=True)
    assert invoke("workflows", "--write", "--vcs", "gitlab", "--repo", str(repo)).code == 0
    data = yaml.load((repo / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    assert data[".entra-main"]["id_tokens"]["AZURE_OIDC_TOKEN"]["aud"] == (
        "api://AzureADTokenExchange")
    assert data[".aws-staging"]["variables"]["AWS_ROLE_ARN"] == "$AWS_ROLE_ARN_AWS_STAGING"
    assert data[".okta-main"]["environment"]["name"] == "production/okta-main"
    assert "id_tokens" not in data[".okta-main"]
    assert len(data["record-applied"]["needs"]) == 10
    assert invoke("workflows", "--check", "--vcs", "gitlab", "--repo", str(repo)).code == 0


def test_a_github_instance_reading_github_token_is_refused(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, "providers:\n  gh:\n    platform: github\n")
    result = invoke("workflows", "--write", "--repo", str(repo))
    assert result.code == 1
    assert "gh: token_env is GITHUB_TOKEN, a name GitHub reserves" in result.err
    assert not (repo / ".github").exists()


def test_a_region_that_is_not_a_region_never_reaches_the_workflow(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, "providers:\n  aws:\n    platform: aws\n"
                                 "    region: \"eu-west-1 ${{ secrets.ACCESSCTL_LEDGER_KEY }}\"\n")
    result = invoke("workflows", "--write", "--repo", str(repo))
    assert result.code == 1
    assert "is not an AWS region name" in result.err


def test_no_schedule_starts_on_the_hour() -> None:
    # GitHub delays scheduled runs most, and drops some, at :00 (docs/ci.md).
    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        for entry in load(path)["on"].get("schedule", []):
            minutes = entry["cron"].split()[0]
            assert not minutes.startswith("*"), (path.name, entry["cron"])
            assert "0" not in minutes.split(","), (path.name, entry["cron"])


def test_an_access_repository_installs_the_pinned_engine(tmp_path: Path) -> None:
    repo = access_repo(tmp_path, "providers:\n  aws-prod:\n    platform: aws\n"
                                 "  okta-main:\n    platform: okta\n"
                                 "    org_url: https://acme.okta.com\n")
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    pins = (repo / "requirements.in").read_text()
    assert f"accessctl[aws,github,okta]=={__version__}\n" in pins
    for path in (repo / ".github" / "workflows").glob("*.yml"):
        text = path.read_text()
        # Every job, those with credentials first: the lock, hash-checked, nothing resolved.
        assert "pip install --quiet --require-hashes --no-deps -r requirements.txt" in text
        assert "'.[" not in text, "no engine in this repository to install from"
        assert "pip install --quiet -r" not in text
    # No lock yet: the check says what to run.
    checked = invoke("workflows", "--check", "--repo", str(repo))
    assert checked.code == 1
    assert "requirements.txt: missing: run 'accessctl lock'" in checked.out
    write_lock(repo)
    assert invoke("workflows", "--check", "--repo", str(repo)).code == 0
    # The pinned version and where the wheel comes from are the owner's: kept by --write; the
    # lock must follow the version.
    bumped = pins.replace(__version__, "9.9.9").replace(
        "accessctl[", "--find-links https://example.com/wheels/\naccessctl[")
    (repo / "requirements.in").write_text(bumped)
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    assert (repo / "requirements.in").read_text() == bumped
    stale = invoke("workflows", "--check", "--repo", str(repo))
    assert stale.code == 1
    assert (f"pins accessctl=={__version__}, requirements.in asks for 9.9.9" in stale.out)
    write_lock(repo)
    assert invoke("workflows", "--check", "--repo", str(repo)).code == 0
    # A hand-edited lock line without its hash is caught.
    lock = (repo / "requirements.txt").read_text()
    unhashed = re.sub(r"(boto3==1\.0) \\\n    --hash=sha256:b+\n", r"\1\n", lock)
    assert unhashed != lock
    (repo / "requirements.txt").write_text(unhashed)
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert "boto3 is not pinned with == and --hash=" in result.out


def test_an_older_repository_keeps_its_pinned_version(tmp_path: Path) -> None:
    # requirements.txt used to hold only `accessctl[...]==VERSION`: that version carries over
    # into requirements.in, and the old file is reported as not being a lock.
    repo = access_repo(tmp_path, "providers:\n  aws-prod:\n    platform: aws\n")
    (repo / "requirements.txt").write_text("accessctl[aws,github]==0.0.9\n")
    assert invoke("workflows", "--write", "--repo", str(repo)).code == 0
    assert "accessctl[aws,github]==0.0.9\n" in (repo / "requirements.in").read_text()
    result = invoke("workflows", "--check", "--repo", str(repo))
    assert result.code == 1
    assert "requirements.txt: not a lock (no --hash= on any line" in result.out


def test_the_engine_repository_s_own_jobs_install_dependencies_with_hashes() -> None:
    # This repository's workflows run the engine from the checkout; its dependencies still come
    # pinned with hashes, from the action's lock for the job's platform, which must exist.
    seen = 0
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job.get("steps", []):
                if step.get("name") != "Install accessctl":
                    continue
                seen += 1
                line = step["run"]
                assert "--require-hashes" in line and "--no-deps" in line, (path.name, line)
                lock = re.search(r"-r (action/locks/\w+\.txt)", line)
                assert lock and (ROOT / lock[1]).is_file(), (path.name, line)
                assert "'.[" not in line, (path.name, line)  # no unpinned extras from source
    assert seen >= 4


@pytest.mark.parametrize(("extras", "lock"), [("aws,gitlab", "action/locks/aws.txt"),
                                              ("okta,gitlab", "action/locks/okta.txt"),
                                              ("github,gitlab", "action/locks/base.txt")])
def test_the_engine_repository_s_gitlab_jobs_install_the_lock_of_their_platform(
        extras: str, lock: str) -> None:
    pipeline = yaml.load((ROOT / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    line = pipeline[".mutate"]["before_script"][0]
    assert "--require-hashes" in line and "'.[" not in line and '".[' not in line, line
    # The line as the job's shell runs it, with pip standing in to say what it was given.
    script = "python() { shift 3; printf '%s\\n' \"$*\"; }\n" + line
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT,
                          env={"EXTRAS": extras, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30, check=True)
    first, second = done.stdout.splitlines()
    assert first.endswith(f"-r {lock}") and (ROOT / lock).is_file(), first
    assert second == "--quiet --no-deps ."
    validate = pipeline["validate"]["script"][0]
    assert "--require-hashes" in validate and "-r action/locks/base.txt" in validate
