"""The GitHub Actions workflows of an access repository, generated from policies/providers.yaml.

apply, revoke and reconcile have one job per provider instance, each holding only that
instance's credentials (scaffold/credentials.py); validate has one job and no secret. The text is
written here line by line rather than dumped from a dict, so that it keeps its comments: the
files are read by the people who approve changes to them.
"""

from __future__ import annotations

from collections.abc import Sequence

from accessctl.core.model import ProviderInstance
from accessctl.scaffold import requirements
from accessctl.scaffold.credentials import JobCredentials, for_all
from accessctl.scaffold.install import Install, extras_for

GENERATED = ("# Generated from policies/providers.yaml by `accessctl workflows --write`: do not "
             "edit by hand;\n# change policies/providers.yaml and run the command again "
             "(`accessctl workflows --check`\n# and `accessctl validate` report a stale file).\n")
"""The first lines of every generated file; `validate` checks only files that carry them."""

CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0"
SETUP_PYTHON = "actions/setup-python@e797f83bcb11b83ae66e0230d6156d7c80228e7c # v6.0.0"
UPLOAD = "actions/upload-artifact@330a01c490aca151604b8cf639adc76d48f6c5d4 # v5.0.0"

APPLY_CRON = "37 * * * *"
REVOKE_CRON = "4,19,34,49 * * * *"
RECONCILE_CRON = "17 6 * * *"
"""Off the top of the hour and of the quarter-hours: GitHub delays scheduled runs most, and
drops some, at :00 when every repository's hourly jobs start (docs/ci.md)."""


def job_id(instance: str) -> str:
    """The job's id: the instance name, which GitHub accepts unless it starts with a digit."""
    return instance if instance[0].isalpha() else f"instance-{instance}"


def render(instances: Sequence[ProviderInstance], install: Install) -> dict[str, str]:
    """path -> text of each workflow; CredentialsError when an instance cannot be wired."""
    if not instances:
        raise ValueError("policies/providers.yaml names no provider instance: there is no job "
                         "to generate")
    jobs = for_all(instances)
    return {
        ".github/workflows/apply.yml": _apply(jobs, install),
        ".github/workflows/revoke.yml": _revoke(jobs, install),
        ".github/workflows/reconcile.yml": _reconcile(jobs, install),
        ".github/workflows/validate.yml": _validate(install),
    }


_MUTATE_HEAD = """\
# Nothing by default; each job asks for what it needs.
permissions: {}

# apply, revoke and reconcile change the same platforms: never two of them at once, and never
# cancel one half-way.
concurrency:
  group: accessctl-mutate
  cancel-in-progress: false

jobs:
"""

_CHECKOUT_STEP = f"""\
      - uses: {CHECKOUT}
        with:
          fetch-depth: 0
          persist-credentials: false
"""

_FIND_APPLIED = """\

      - name: Find the last applied revision
        id: applied
        env:
          GITHUB_TOKEN: ${{ github.token }}
        run: |
          # The credential is handed to these two git calls only, never stored in .git/config.
          auth="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
          git_auth() { git -c "http.$GITHUB_SERVER_URL/.extraheader=$auth" "$@"; }
          if git_auth ls-remote --exit-code origin refs/accessctl/applied > /dev/null; then
            git_auth fetch --no-tags origin '+refs/accessctl/applied:refs/accessctl/applied'
            echo "since=$(git rev-parse refs/accessctl/applied)" >> "$GITHUB_OUTPUT"
          else
            status=$?
            # 2 means the ref does not exist yet (the first run); anything else is an error.
            if [ "$status" -ne 2 ]; then exit "$status"; fi
            echo "No applied revision yet: the first run has nothing deleted to catch up on."
          fi
"""

_LEDGER_AUTH = """\
          # The engine fetches and pushes its ledger (refs/accessctl/ledger/$INSTANCE) itself,
          # before any platform write; the token reaches git through this step's environment
          # only, never .git/config.
          auth="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
          export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="http.$GITHUB_SERVER_URL/.extraheader"
          export GIT_CONFIG_VALUE_0="$auth"
"""

_LEDGER_ENV = """\
          ACCESSCTL_LEDGER_REMOTE: origin
          ACCESSCTL_LEDGER_KEY: ${{ secrets.ACCESSCTL_LEDGER_KEY }}
"""

_VCS_ENV = """\
          # Optional: a GitHub App token with Members: read, for approver teams that
          # policies/identities.yaml does not list (the workflow token cannot read teams).
          ACCESSCTL_VCS_TOKEN: ${{ secrets.ACCESSCTL_VCS_TOKEN }}
          # Optional: where grants, revocations and denials are announced.
          ACCESSCTL_WEBHOOK_URL: ${{ secrets.ACCESSCTL_WEBHOOK_URL }}
"""

_PERMISSION_NOTES = {
    "apply": "approvals re-verified; break-glass asks code owners to review",
    "revoke": "break-glass grants: was the merged pull request ratified?",
}


_ISSUES_NOTE = "a request a bot opened from an issue is that issue's author's"


def _job_head(verb: str, job: JobCredentials, pull_requests: str | None) -> str:
    lines = [
        f"  {job_id(job.instance)}:",
        f"    name: {verb} {job.instance}",
        "    if: github.ref == 'refs/heads/main'  # the protected environment also allows main "
        "only",
        "    runs-on: ubuntu-24.04",
        "    timeout-minutes: 30",
        "    environment: production",
        "    permissions:",
        "      contents: write  # the ledger: refs/accessctl/ledger/$INSTANCE, pushed before any "
        "platform write",
    ]
    if pull_requests is not None:
        lines.append(f"      pull-requests: {pull_requests}  # {_PERMISSION_NOTES[verb]}")
        lines.append(f"      issues: read  # {_ISSUES_NOTE}")
    if job.oidc:
        lines.append("      id-token: write  # the OIDC token the cloud exchanges for credentials")
    lines += ["    env:", f"      INSTANCE: {job.instance}", "    steps:"]
    return "\n".join(lines) + "\n"


_ACTION_NOTE = """\
      # Installed before any credential exists in the job: the engine from its repository at the
      # pinned commit, its dependencies from the lock beside its action.yml, with hashes.
"""

_LOCK_NOTE = """\
      # Installed before any credential exists in the job, from the lock: every package pinned with
      # its hashes, nothing resolved (accessctl lock writes it).
"""

_SOURCE_NOTE = "      # Installed before any credential exists in the job.\n"


def _install_step(install: Install, extras: Sequence[str], credentials: bool = True) -> str:
    """Python and the engine: setup-python and the pip line, or the engine's action. In a job
    with credentials, a comment says why it comes first."""
    if install.action is not None:
        return "\n" + (_ACTION_NOTE if credentials else "") + f"""\
      - name: Install accessctl
        uses: {install.action}
        with:
          command: install
          extras: {','.join(extras)}
"""
    note = (_LOCK_NOTE if install.uses_lock else _SOURCE_NOTE) if credentials else ""
    return f"""
      - uses: {SETUP_PYTHON}
        with:
          python-version: "{requirements.PYTHON}"

""" + note + f"""\
      - name: Install accessctl
        run: {install.command(extras)}
"""


def _action_step(name: str, install: Install, env: str, command: str, instance: str | None,
                 args: Sequence[str], summary: bool = False) -> str:
    """A step that runs `accessctl COMMAND` through the engine's action; `args` one per line,
    passed to the engine as they are (never through a shell)."""
    text = f"\n      - name: {name}\n        uses: {install.action}\n"
    text += f"        env:\n{env}" if env else ""
    text += f"        with:\n          command: {command}\n"
    text += f"          instance: {instance}\n" if instance else ""
    text += '          summary: "true"\n' if summary else ""
    if len(args) == 1:
        text += f"          args: {args[0]}\n"
    elif args:
        text += "          args: |\n" + "".join(f"            {a}\n" for a in args)
    return text


def _install_and_credentials(job: JobCredentials, install: Install, vcs: bool,
                             pagerduty: bool = False) -> str:
    extras = extras_for(job.platform, vcs) + (["pagerduty"] if pagerduty else [])
    text = _install_step(install, extras)
    for step in job.steps:
        if step.uses.startswith("actions/create-github-app-token@"):
            text += _APP_TOKEN_NOTE
        text += f"\n      - name: {step.name}\n"
        text += f"        id: {step.id}\n" if step.id else ""
        text += f"        uses: {step.uses}\n        with:\n"
        text += "".join(f"          {key}: {value}\n" for key, value in step.with_)
    return text


_APP_TOKEN_NOTE = """
      # A GitHub App installation token lives one hour, so none is stored: this job mints its
      # own from the App's client id and private key, for the managed organization and
      # repositories (the members permission is the organization's), with only what team and
      # collaborator changes need; the action revokes it when the job ends."""


def _platform_env(job: JobCredentials) -> str:
    return "".join(f"          {name}: {value}\n" for name, value in job.env)


_ARTIFACT_SUFFIX = ("${{ env.INSTANCE }}-${{ github.run_id }}"
                    "-${{ github.run_attempt }}")


def _audit_step(verb: str) -> str:
    return f"""
      - name: Keep the audit log
        if: ${{{{ !cancelled() }}}}
        uses: {UPLOAD}
        with:
          name: audit-{verb}-{_ARTIFACT_SUFFIX}
          path: ${{{{ runner.temp }}}}/audit.jsonl
          if-no-files-found: ignore
          retention-days: 90
"""


_HEARTBEAT_ENV = """\
          # Optional: a dead man's switch pinged after every successful sweep (docs/ci.md).
          ACCESSCTL_HEARTBEAT_URL: ${{ secrets.ACCESSCTL_HEARTBEAT_URL }}
"""


_SINK_ENV = """\
          # Optional: an S3 audit sink (s3://bucket/prefix) that outlives the runner (docs/ci.md).
          ACCESSCTL_AUDIT_SINK: ${{ vars.ACCESSCTL_AUDIT_SINK }}
"""

_PAGERDUTY_ENV = """\
          # Optional: auto-approval rules that ask PagerDuty who is on call (apply only).
          PAGERDUTY_TOKEN: ${{ secrets.PAGERDUTY_TOKEN }}
"""


def _sweep_job(verb: str, step_name: str, job: JobCredentials, install: Install,
               pull_requests: str) -> str:
    """An apply or revoke job: catch up from the applied ref, run with --confirm."""
    heartbeat = _HEARTBEAT_ENV if verb == "revoke" else ""
    pagerduty = _PAGERDUTY_ENV if verb == "apply" else ""
    if install.action is not None:
        # The action runs the engine with the workflow token for its ledger pushes (for that
        # process only); the whole first-parent history names what it may have granted, so no
        # --since is needed.
        env = ("          GITHUB_TOKEN: ${{ github.token }}\n" + _platform_env(job)
               + _LEDGER_ENV + _VCS_ENV + _SINK_ENV + heartbeat + pagerduty)
        return (_job_head(verb, job, pull_requests) + _CHECKOUT_STEP
                + _install_and_credentials(job, install, vcs=True, pagerduty=verb == "apply")
                + _action_step(step_name, install, env, verb, job.instance, [
                    "--vcs=github", "--confirm", "--commit=${{ github.sha }}",
                    "--audit-file=${{ runner.temp }}/audit.jsonl"], summary=True)
                + _audit_step(verb))
    return (
        _job_head(verb, job, pull_requests) + _CHECKOUT_STEP + _FIND_APPLIED
        + _install_and_credentials(job, install, vcs=True, pagerduty=verb == "apply")
        + f"""
      - name: {step_name}
        env:
          GITHUB_TOKEN: ${{{{ github.token }}}}
          SINCE: ${{{{ steps.applied.outputs.since }}}}
""" + _platform_env(job) + _LEDGER_ENV + _VCS_ENV + _SINK_ENV + heartbeat + pagerduty
        + "        run: |\n"
        + _LEDGER_AUTH + f"""\
          args=(--confirm --provider "$INSTANCE" --commit "$GITHUB_SHA"
                --audit-file "$RUNNER_TEMP/audit.jsonl" --summary "$GITHUB_STEP_SUMMARY")
          if [ -n "$SINCE" ]; then args+=(--since "$SINCE"); fi
          accessctl {verb} --vcs github "${{args[@]}}"
""" + _audit_step(verb))


def _apply(jobs: Sequence[JobCredentials], install: Install) -> str:
    head = GENERATED + f"""#
# Grants what merged, approved requests ask for and revokes what they no longer back.
#
# One job per platform instance, so that each job holds only its own platform's credentials: the
# clouds by OIDC federation (no stored keys), GitHub by an App token the job mints, the others by
# one secret each, in their own job.
# After all of them succeed, the applied commit is recorded as refs/accessctl/applied; the next
# run passes it as --since, so requests deleted while a run failed or was skipped are still
# revoked.
#
# The hourly schedule grants requests whose start time has come, and catches up if a run waiting
# in the concurrency group was replaced by a newer one (GitHub keeps one pending run per group).
name: apply

on:
  push:
    branches: [main]
    paths:
      - "access-requests/**"
  schedule:
    - cron: "{APPLY_CRON}"
  workflow_dispatch:

""" + _MUTATE_HEAD
    body = "\n".join(_sweep_job("apply", "Grant approved requests, revoke ended ones", job,
                                install, "write") for job in jobs)
    needs = ", ".join(job_id(job.instance) for job in jobs)
    record = f"""
  record-applied:
    name: record the applied revision
    # Only after every platform applied cleanly: the next run's --since starts from here, so a
    # failed or skipped run leaves the previous revision in place and loses nothing.
    needs: [{needs}]
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: write  # to move refs/accessctl/applied
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false

      - name: Move refs/accessctl/applied to this commit
        env:
          GITHUB_TOKEN: ${{{{ github.token }}}}
        run: |
          auth="AUTHORIZATION: basic $(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)"
          git -c "http.$GITHUB_SERVER_URL/.extraheader=$auth" \\
            push --force origin "$GITHUB_SHA:refs/accessctl/applied"
"""
    return head + body + record


def _revoke(jobs: Sequence[JobCredentials], install: Install) -> str:
    head = GENERATED + f"""#
# The expiry sweep: every 15 minutes, revoke every grant no unexpired request backs.
#
# It only ever takes access away, so it needs no approval look-ups and no pull-request access.
# One job per platform instance, each with only its own credentials (see apply.yml).
name: revoke

on:
  schedule:
    - cron: "{REVOKE_CRON}"
  workflow_dispatch:

""" + _MUTATE_HEAD
    return head + "\n".join(_sweep_job("revoke", "Revoke expired grants", job, install, "read")
                            for job in jobs)


def _reconcile_job(job: JobCredentials, install: Install) -> str:
    if install.action is not None:
        env = (_platform_env(job) + "          GITHUB_TOKEN: ${{ github.token }}\n"
               + _LEDGER_ENV)
        return (_job_head("reconcile", job, None) + _CHECKOUT_STEP
                + _install_and_credentials(job, install, vcs=False)
                + _action_step("Report drift (remove unbacked members when asked)", install,
                               env, "reconcile", job.instance, [
                                   "--audit-file=${{ runner.temp }}/audit.jsonl",
                                   "${{ github.event_name == 'workflow_dispatch' && "
                                   "inputs.remove && '--confirm' || '' }}"], summary=True)
                + _audit_step("reconcile"))
    return (
        _job_head("reconcile", job, None) + _CHECKOUT_STEP
        + _install_and_credentials(job, install, vcs=False)
        + """
      - name: Report drift (remove unbacked members when asked)
        env:
          REMOVE: ${{ github.event_name == 'workflow_dispatch' && inputs.remove }}
""" + _platform_env(job) + """\
          GITHUB_TOKEN: ${{ github.token }}
""" + _LEDGER_ENV + "        run: |\n" + _LEDGER_AUTH + """\
          args=(--provider "$INSTANCE" --audit-file "$RUNNER_TEMP/audit.jsonl")
          if [ "$REMOVE" = "true" ]; then args+=(--confirm); fi
          {
            echo "## accessctl reconcile: $INSTANCE"
            echo '```text'
          } >> "$GITHUB_STEP_SUMMARY"
          status=0
          accessctl reconcile "${args[@]}" 2>&1 | tee -a "$GITHUB_STEP_SUMMARY" || status=$?
          echo '```' >> "$GITHUB_STEP_SUMMARY"
          exit "$status"
""" + _audit_step("reconcile"))


def _reconcile(jobs: Sequence[JobCredentials], install: Install) -> str:
    head = GENERATED + f"""#
# Daily drift report: members of managed targets that no request backs. Run it by hand with
# remove=true to remove such members on entitlements marked exclusive (capped per target).
name: reconcile

on:
  schedule:
    - cron: "{RECONCILE_CRON}"
  workflow_dispatch:
    inputs:
      remove:
        description: "Remove unbacked members of exclusive entitlements (default: report only)"
        type: boolean
        default: false

""" + _MUTATE_HEAD
    return head + "\n".join(_reconcile_job(job, install) for job in jobs)


def _validate(install: Install) -> str:
    return GENERATED + f"""#
# Pull request check: judges the request files a pull request adds or changes by the policies of
# its base commit, and keeps one comment on the pull request up to date.
#
# It runs with no secrets and no cloud credentials: the code it installs comes from the pull
# request itself, so it must never hold anything worth stealing. The workflow token can read the
# repository and write the comment, nothing else (and on pull requests from forks GitHub makes it
# read-only, so the comment is skipped there). Approval is not decided here: apply re-verifies it
# from main when the change is merged.
name: validate

on:
  pull_request:
    paths:
      - "access-requests/**"
      - "policies/**"
      - "schemas/**"
      - ".github/**"

# Nothing at the workflow level; the one job below asks for exactly what it needs.
permissions: {{}}

concurrency:
  group: validate-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true

jobs:
  validate:
    name: validate
    runs-on: ubuntu-24.04
    timeout-minutes: 10
    permissions:
      contents: read  # to check out the pull request
      pull-requests: write  # to write the one accessctl comment on it
      issues: read  # {_ISSUES_NOTE}
    steps:
{_CHECKOUT_STEP}{_validate_steps(install)}"""


def _validate_steps(install: Install) -> str:
    if install.action is not None:
        return _install_step(install, ["github"], credentials=False) + _action_step(
            "Check the pull request's requests", install,
            "          GITHUB_TOKEN: ${{ github.token }}\n", "validate", None, [
                "--event=${{ github.event_path }}", "--format=github",
                "${{ github.event.pull_request.head.repo.fork && '--no-comment' || "
                "'--comment' }}"]) + "".join(
            _action_step(name, install, "", command, None, ["--check"]).replace(
                "        uses:", "        if: ${{ !cancelled() }}\n        uses:")
            for name, command in (("CODEOWNERS matches the policies", "codeowners"),
                                  ("The workflows match policies/providers.yaml", "workflows"),
                                  ("schemas/ matches the engine", "schemas")))
    return _install_step(install, ["github"], credentials=False) + """
      - name: Check the pull request's requests
        env:
          GITHUB_TOKEN: ${{ github.token }}
          FROM_FORK: ${{ github.event.pull_request.head.repo.fork }}
        run: |
          comment=--comment
          if [ "$FROM_FORK" = "true" ]; then comment=--no-comment; fi
          accessctl validate --event "$GITHUB_EVENT_PATH" --format github "$comment"

      - name: CODEOWNERS matches the policies
        if: ${{ !cancelled() }}
        run: accessctl codeowners --check

      - name: The workflows match policies/providers.yaml
        if: ${{ !cancelled() }}
        run: accessctl workflows --check

      - name: schemas/ matches the engine
        if: ${{ !cancelled() }}
        run: accessctl schemas --check
"""
