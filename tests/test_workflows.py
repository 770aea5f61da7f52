"""The CI definitions: linted by actionlint and zizmor, held to the security rules of docs/ci.md.

Each linter is also run once on a deliberately bad workflow, so a linter that silently checks
nothing cannot make these tests pass.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
MUTATING = ("apply.yml", "revoke.yml", "reconcile.yml")
PLATFORM_JOBS = {"aws-prod", "github-acme", "okta-main", "gcp-main"}
OIDC_JOBS = {"aws-prod", "gcp-main"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  x:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
"""


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is in the dev extra)")
    return found


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


class GitLabLoader(yaml.SafeLoader):
    """Reads GitLab's !reference tag as the list it names."""


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    assert isinstance(node, yaml.SequenceNode)
    return loader.construct_sequence(node)


GitLabLoader.add_constructor("!reference", _reference)


def gitlab() -> dict[str, Any]:
    data = yaml.load((ROOT / ".gitlab-ci.yml").read_text(), Loader=GitLabLoader)
    assert isinstance(data, dict)
    return data


def test_there_are_the_five_workflows() -> None:
    assert [f.name for f in FILES] == ["apply.yml", "reconcile.yml", "request-from-issue.yml",
                                       "revoke.yml", "validate.yml"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_actionlint_is_clean(path: Path) -> None:
    result = subprocess.run([tool("actionlint"), "-no-color", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW)
    result = subprocess.run([tool("actionlint"), "-no-color", str(bad)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def zizmor(target: Path) -> list[dict[str, Any]]:
    result = subprocess.run([tool("zizmor"), "--offline", "--persona", "pedantic",
                             "--format", "json", str(target)],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def test_zizmor_finds_nothing_even_pedantic() -> None:
    findings = zizmor(WORKFLOWS)
    assert [(f["ident"], f["determinations"]["severity"]) for f in findings] == []


def test_zizmor_catches_a_bad_workflow(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(BAD_WORKFLOW)
    high = {f["ident"] for f in zizmor(tmp_path / ".github" / "workflows")
            if f["determinations"]["severity"] == "High"}
    assert {"dangerous-triggers", "template-injection", "unpinned-uses"} <= high


def test_no_pull_request_target_anywhere() -> None:
    for path in [*FILES, ROOT / ".gitlab-ci.yml"]:
        assert "pull_request_target" not in path.read_text(), path.name


def test_validate_runs_without_secrets_and_with_only_what_it_needs() -> None:
    text = (WORKFLOWS / "validate.yml").read_text()
    assert "secrets." not in text
    workflow = load(WORKFLOWS / "validate.yml")
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    # issues: read: a request a bot opened from an issue is judged by who opened that issue.
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "issues": "read"}
    assert "environment" not in job
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["persist-credentials"] is False
    scripts = " ".join(step.get("run", "") for step in job["steps"])
    assert 'accessctl validate --event "$GITHUB_EVENT_PATH" --format github' in scripts
    assert "accessctl codeowners --check" in scripts
    assert "accessctl schemas --check" in scripts


def test_no_expression_reaches_a_shell() -> None:
    """Issue and pull request text is the author's: an expression in `run:` would put it into
    the shell's source (template injection). Values reach scripts through `env:` only."""
    for path in FILES:
        for job_name, job in load(path)["jobs"].items():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), (path.name, job_name, step.get("name"))
    text = (WORKFLOWS / "request-from-issue.yml").read_text()
    for untrusted in ("issue.body", "issue.title", "pull_request.body", "pull_request.title",
                      "comment.body"):
        assert untrusted not in text, untrusted


def test_the_request_workflow_opens_with_an_app_token_and_closes_with_none() -> None:
    workflow = load(WORKFLOWS / "request-from-issue.yml")
    assert workflow["on"] == {"issues": {"types": ["opened", "edited"]},
                              "pull_request": {"types": ["closed"], "branches": ["main"]}}
    assert workflow["permissions"] == {}
    opening, closing = workflow["jobs"]["open-pull-request"], workflow["jobs"]["close-issue"]
    assert "github.event_name == 'issues'" in opening["if"]
    assert "contains(github.event.issue.labels.*.name, 'access-request')" in opening["if"]
    # The App's key is a secret of an environment that allows the default branch only.
    assert opening["environment"] == "access-requests"
    assert opening["permissions"] == {"contents": "read"}
    steps = opening["steps"]
    (mint,) = [s for s in steps if s.get("uses", "").startswith("actions/create-github-app-token@")]
    assert {k: v for k, v in mint["with"].items() if k.startswith("permission-")} == {
        "permission-contents": "write", "permission-pull-requests": "write",
        "permission-issues": "write"}
    assert mint["with"]["repositories"] == "${{ github.event.repository.name }}"
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("Install accessctl") < steps.index(mint)
    (run,) = [s for s in steps if "accessctl request" in s.get("run", "")]
    # A pull request opened with GITHUB_TOKEN starts no workflow: the App's token opens it.
    assert run["env"]["GITHUB_TOKEN"] == "${{ steps.app-token.outputs.token }}"
    assert run["env"]["ISSUE"] == "${{ github.event.issue.number }}"
    assert run["run"] == 'accessctl request --from-issue "$ISSUE"'
    # Closing the loop runs on the pull request event: no secret, the workflow token only,
    # and the default branch's code, never the pull request's.
    assert "secrets." not in yaml.safe_dump(closing)
    assert "environment" not in closing
    assert closing["permissions"] == {"contents": "read", "pull-requests": "read",
                                      "issues": "write"}
    assert closing["steps"][0]["with"]["ref"] == "main"
    (close,) = [s for s in closing["steps"] if "accessctl request" in s.get("run", "")]
    assert close["env"] == {"GITHUB_TOKEN": "${{ github.token }}",
                            "PULL": "${{ github.event.pull_request.number }}"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        reference, _, comment = line.split("uses:", 1)[1].partition("#")
        assert PINNED.match(reference.strip()), line
        assert re.fullmatch(r" v\d+\.\d+\.\d+", comment), f"no '# vX.Y.Z' comment: {line}"


def test_one_version_of_each_action() -> None:
    seen: dict[str, set[str]] = {}
    for path in FILES:
        for match in re.finditer(r"uses: ([\w/.-]+)@([0-9a-f]{40})", path.read_text()):
            seen.setdefault(match[1], set()).add(match[2])
    assert {action: len(shas) for action, shas in seen.items() if len(shas) > 1} == {}


def test_mutating_workflows_share_one_uncancelled_concurrency_group() -> None:
    groups = {name: load(WORKFLOWS / name)["concurrency"] for name in MUTATING}
    assert all(g == {"group": "accessctl-mutate", "cancel-in-progress": False}
               for g in groups.values()), groups


@pytest.mark.parametrize("name", MUTATING)
def test_one_job_per_platform_each_with_only_its_own_credentials(name: str) -> None:
    workflow = load(WORKFLOWS / name)
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert set(jobs) >= PLATFORM_JOBS
    for job_name in PLATFORM_JOBS:
        job = jobs[job_name]
        text = yaml.safe_dump(job)
        assert job["environment"] == "production"
        assert job["env"]["INSTANCE"] == job_name
        permissions = job["permissions"]
        # The ledger (refs/accessctl/ledger/<instance>) is pushed before any platform write.
        assert permissions.get("contents") == "write"
        assert (permissions.get("id-token") == "write") == (job_name in OIDC_JOBS), job_name
        # apply asks for break-glass reviews; revoke reads whether they came.
        assert permissions.get("pull-requests") == {"apply.yml": "write", "revoke.yml": "read"
                                                    }.get(name), (name, job_name)
        # Who opened the issue a request bot's pull request names (docs/requesting.md).
        assert permissions.get("issues") == ("read" if name != "reconcile.yml" else None)
        secrets = set(re.findall(r"secrets\.(\w+)", text))
        expected = {"okta-main": {"OKTA_API_TOKEN"},
                    "github-acme": {"ACCESSCTL_APP_PRIVATE_KEY"}}.get(job_name, set())
        expected = expected | {"ACCESSCTL_LEDGER_KEY"}
        if name != "reconcile.yml":
            # Teams read with a token that may (optional), and the webhook: apply and revoke
            # verify approvals and announce changes; reconcile does neither.
            expected |= {"ACCESSCTL_VCS_TOKEN", "ACCESSCTL_WEBHOOK_URL"}
        if name == "revoke.yml":
            expected |= {"ACCESSCTL_HEARTBEAT_URL"}  # the dead man's switch of the sweep
        if name == "apply.yml":
            expected |= {"PAGERDUTY_TOKEN"}  # on-call rules are judged by apply only
        assert secrets == expected, job_name
        assert ("configure-aws-credentials" in text) == (job_name == "aws-prod")
        assert ("google-github-actions/auth" in text) == (job_name == "gcp-main")
        run = "\n".join(step.get("run", "") for step in job["steps"])
        assert '--provider "$INSTANCE"' in run
        assert any("upload-artifact" in step.get("uses", "") for step in job["steps"])
        # Credentials arrive after the install step, so package installation never sees them.
        names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
        install = names.index("Install accessctl")
        for index, step in enumerate(job["steps"]):
            uses = step.get("uses", "")
            if any(word in uses for word in ("auth", "credentials", "app-token")):
                assert index > install


@pytest.mark.parametrize("name", MUTATING)
def test_the_github_app_token_is_minted_in_the_job_never_stored(name: str) -> None:
    """An installation token lives one hour (GitHub: generating an installation access token):
    a stored one would fail every run after the first hour. The job mints its own from the App's
    id and private key, scoped to what the provider needs, right before the step that uses it."""
    for path in FILES:
        assert "secrets.ACCESSCTL_GITHUB_TOKEN" not in path.read_text(), path.name
    job = load(WORKFLOWS / name)["jobs"]["github-acme"]
    steps = job["steps"]
    (index,) = [i for i, s in enumerate(steps)
                if s.get("uses", "").startswith("actions/create-github-app-token@")]
    mint = steps[index]
    assert PINNED.match(mint["uses"]), mint["uses"]
    assert mint["id"] == "app-token"
    assert mint["with"]["private-key"] == "${{ secrets.ACCESSCTL_APP_PRIVATE_KEY }}"
    assert mint["with"]["client-id"] == "${{ vars.ACCESSCTL_APP_CLIENT_ID }}"
    # One organisation, named repositories (zizmor's github-app audit), never all of them.
    assert "owner" in mint["with"] and "repositories" in mint["with"]
    # Only what team and collaborator changes need (docs/platforms/github.md).
    granted = {k: v for k, v in mint["with"].items() if k.startswith("permission-")}
    assert granted == {"permission-members": "write", "permission-administration": "write"}
    (user,) = [s for s in steps if "ACCESSCTL_GITHUB_TOKEN" in s.get("env", {})]
    assert steps.index(user) > index
    assert user["env"]["ACCESSCTL_GITHUB_TOKEN"] == "${{ steps.app-token.outputs.token }}"
    # No other platform's job sees the App's key.
    for other, body in load(WORKFLOWS / name)["jobs"].items():
        if other != "github-acme":
            assert "ACCESSCTL_APP" not in yaml.safe_dump(body), (name, other)


@pytest.mark.parametrize("name", ["apply.yml", "revoke.yml"])
def test_mutations_catch_up_from_the_applied_ref_and_summarise(name: str) -> None:
    for job_name in PLATFORM_JOBS:
        job = load(WORKFLOWS / name)["jobs"][job_name]
        run = "\n".join(step.get("run", "") for step in job["steps"])
        assert "refs/accessctl/applied" in run
        assert 'args+=(--since "$SINCE")' in run
        assert '--summary "$GITHUB_STEP_SUMMARY"' in run
        assert "--confirm" in run


def test_only_a_fully_successful_apply_moves_the_applied_ref() -> None:
    jobs = load(WORKFLOWS / "apply.yml")["jobs"]
    record = jobs["record-applied"]
    assert set(record["needs"]) == PLATFORM_JOBS
    assert "if" not in record, "an if: always() would record a failed run"
    assert record["permissions"] == {"contents": "write"}
    assert "refs/accessctl/applied" in record["steps"][-1]["run"]
    # Besides the ledger, which each platform job's engine pushes itself (a ref of its own,
    # refs/accessctl/ledger/<instance>), only record-applied pushes: the applied ref.
    for name in ("apply.yml", "revoke.yml", "reconcile.yml"):
        for job_name, job in load(WORKFLOWS / name)["jobs"].items():
            script = "\n".join(step.get("run", "") for step in job["steps"])
            pushes = re.search(r"\bpush\s+(--|origin)", script) is not None
            assert pushes == (job_name == "record-applied"), (name, job_name)


@pytest.mark.parametrize("name", MUTATING)
def test_every_platform_job_keeps_the_ledger_on_the_remote(name: str) -> None:
    for job_name in PLATFORM_JOBS:
        job = load(WORKFLOWS / name)["jobs"][job_name]
        step = next(s for s in job["steps"] if re.search(r"accessctl (apply|revoke|reconcile)",
                                                         s.get("run", "")))
        assert step["env"]["ACCESSCTL_LEDGER_REMOTE"] == "origin"
        assert step["env"]["ACCESSCTL_LEDGER_KEY"] == "${{ secrets.ACCESSCTL_LEDGER_KEY }}"
        # The token reaches git through the environment of this step, never .git/config.
        assert "GIT_CONFIG_VALUE_0" in step["run"]
        assert job["steps"][0]["with"]["persist-credentials"] is False


def test_reconcile_removes_only_when_asked() -> None:
    workflow = load(WORKFLOWS / "reconcile.yml")
    remove = workflow["on"]["workflow_dispatch"]["inputs"]["remove"]
    assert remove["type"] == "boolean" and remove["default"] is False
    for job_name in PLATFORM_JOBS:
        step = next(s for s in workflow["jobs"][job_name]["steps"] if "accessctl" in
                    s.get("run", ""))
        assert "if [ \"$REMOVE\" = \"true\" ]; then args+=(--confirm); fi" in step["run"]
        assert "inputs.remove" in step["env"]["REMOVE"]


def logical_lines(script: str) -> list[str]:
    """Lines of shell, with a multi-line array assignment `x=(...)` joined into one."""
    lines: list[str] = []
    for line in script.splitlines():
        if lines and lines[-1].count("(") > lines[-1].count(")"):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def accessctl_calls() -> list[tuple[str, str, list[str]]]:
    """(where, subcommand, every --option) for each script that runs accessctl."""
    scripts: list[tuple[str, str]] = []
    for path in FILES:
        for job_name, job in load(path)["jobs"].items():
            for step in job["steps"]:
                if "run" in step:
                    scripts.append((f"{path.name}:{job_name}", step["run"]))
    for job_name, job in gitlab().items():
        if isinstance(job, dict) and "script" in job:
            scripts.append((f".gitlab-ci.yml:{job_name}", "\n".join(job["script"])))
    calls = []
    for where, script in scripts:
        subs = sorted(set(re.findall(r"\baccessctl (\w+)", script)))
        found: dict[str, set[str]] = {sub: set() for sub in subs}
        for line in logical_lines(script):
            options = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", line.split(" #")[0]))
            called = re.findall(r"\baccessctl (\w+)", line)
            if called:
                found[called[0]] |= options
            elif options and re.search(r"\b(args\+?=|comment=)", line):
                # Options collected in a shell variable belong to the script's one command.
                assert len(subs) == 1, f"{where}: which command do {options} belong to?"
                found[subs[0]] |= options
        calls += [(where, sub, sorted(opts)) for sub, opts in found.items()]
    return calls


@pytest.mark.parametrize(("where", "sub", "options"), accessctl_calls(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_accessctl_option_used_in_ci_exists(where: str, sub: str,
                                                  options: list[str]) -> None:
    from accessctl.cli import cli

    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, sub)
    assert command is not None, f"{where}: no command {sub}"
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    assert [o for o in options if o not in known] == [], where


def test_gitlab_template_mutates_in_one_resource_group_with_oidc() -> None:
    data = gitlab()
    mutating = {n: j for n, j in data.items()
                if isinstance(j, dict) and n.split(":")[0] in ("apply", "revoke", "reconcile")}
    assert {n.split(":")[1] for n in mutating} == PLATFORM_JOBS
    assert data[".mutate"]["resource_group"] == "accessctl-mutate"
    assert data["record-applied"]["resource_group"] == "accessctl-mutate"
    for name, job in mutating.items():
        parents = job["extends"]
        assert parents[0] == "." + name.split(":")[0] and parents[1] == "." + name.split(":")[1]
        assert data[parents[0]]["extends"] == ".mutate"
    assert data[".aws-prod"]["id_tokens"]["AWS_OIDC_TOKEN"]["aud"] == "sts.amazonaws.com"
    assert "GCP_OIDC_TOKEN" in data[".gcp-main"]["id_tokens"]
    validate = data["validate"]
    assert validate["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    assert "resource_group" not in validate and "id_tokens" not in validate
    revoke_rules = data[".revoke"]["rules"]
    assert all('$CI_PIPELINE_SOURCE == "schedule"' in r["if"] for r in revoke_rules)
    assert set(data["record-applied"]["needs"]) == {f"apply:{p}" for p in PLATFORM_JOBS}


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook == {
        "id": "accessctl-validate", "name": "accessctl validate",
        "description": hook["description"], "language": "python",
        "entry": "accessctl validate", "pass_filenames": False,
        "files": "^(access-requests|policies)/",
    }
    pattern = re.compile(hook["files"])
    assert pattern.search("access-requests/aws-prod-admin/alice.yaml")
    assert pattern.search("policies/providers.yaml")
    assert not pattern.search("engine/policies/x.py")
    assert not pattern.search("docs/access-requests.md")
