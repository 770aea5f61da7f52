"""The GitLab CI template (.gitlab-ci.yml), generated from policies/providers.yaml.

The same flow as the GitHub workflows: one apply, revoke and reconcile job per provider instance,
each extending a hidden job that holds only that instance's credentials (id_tokens for the
clouds; for the others, a secret scoped to the environment `production/<instance>`).
"""

from __future__ import annotations

from collections.abc import Sequence

from accessctl.core.model import ProviderInstance
from accessctl.scaffold.credentials import JobCredentials, for_all, variable
from accessctl.scaffold.github_workflows import GENERATED, Install, extras_for

PATH = ".gitlab-ci.yml"

_HEAD = """\
#
# accessctl on GitLab CI: the same flow as .github/workflows/ (see docs/ci.md).
#
#   merge request  -> validate (no cloud credentials; comments on the merge request)
#   default branch -> apply, one job per platform instance, each with only its own credentials
#   schedule       -> revoke every 15 minutes, apply hourly, reconcile daily: one pipeline
#                     schedule each, told apart by the schedule variable ACCESSCTL_TASK
#                     (set their minutes off :00, e.g. "4,19,34,49 * * * *" for revoke)
#
# All mutating jobs share one resource group, so no two of them ever run at once. Clouds are
# reached by OIDC (id_tokens), never by stored keys; the other platforms' secrets are masked,
# protected CI/CD variables scoped to the environment of their own job.
# ACCESSCTL_VCS_TOKEN and ACCESSCTL_WEBHOOK_URL, when set as CI/CD variables, reach the engine
# as they are.

stages: [validate, mutate, record]

default:
  image: python:3.11  # the full image: it has git, which --since needs
  interruptible: false

variables:
  GIT_DEPTH: "0"  # full history: --since compares against the last applied revision
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

validate:
  stage: validate
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
      changes:
        - access-requests/**/*
        - policies/**/*
        - schemas/**/*
        - .gitlab-ci.yml
        - .gitlab/**/*
  interruptible: true
  script:
    - {validate_install}
    # GitLab has no event file: the merge request's number is all --event needs.
    - |
      {event_line}
    # ACCESSCTL_VCS_TOKEN: a project access token (Reporter, api scope) that may read the merge
    # request and write its comment; nothing here can change a platform.
    - accessctl validate --vcs gitlab --event "$CI_BUILDS_DIR/mr-event.json" --format text
    - accessctl codeowners --check --vcs gitlab
    - accessctl workflows --check --vcs gitlab
    - accessctl schemas --check

# The shared shape of every mutating job.
.mutate:
  stage: mutate
  resource_group: accessctl-mutate
  before_script:
    - {mutate_install}
    - |
      # The last applied revision, if any: requests deleted since then are revoked too.
      SINCE=""
      if git fetch --no-tags origin '+refs/accessctl/applied:refs/accessctl/applied'; then
        SINCE="$(git rev-parse refs/accessctl/applied)"
      else
        echo "No applied revision yet: the first run has nothing deleted to catch up on."
      fi
      export SINCE
  artifacts:
    when: always
    expire_in: 90 days
    paths:
      - audit-*.jsonl

.apply:
  extends: .mutate
  rules:
{apply_rules}
  script:
    - {sweep_args}
    - if [ -n "$SINCE" ]; then args+=(--since "$SINCE"); fi
    - accessctl apply --vcs gitlab "${{args[@]}}"

.revoke:
  extends: .mutate
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule" && $ACCESSCTL_TASK == "revoke"
  script:
    - {sweep_args}
    - if [ -n "$SINCE" ]; then args+=(--since "$SINCE"); fi
    - accessctl revoke "${{args[@]}}"

.reconcile:
  extends: .mutate
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule" && $ACCESSCTL_TASK == "reconcile"
  script:
    # Report only; set ACCESSCTL_REMOVE=true on a manual run to remove unbacked members.
    - args=(--provider "$INSTANCE" --audit-file "audit-$INSTANCE.jsonl")
    - if [ "$ACCESSCTL_REMOVE" = "true" ]; then args+=(--confirm); fi
    - accessctl reconcile "${{args[@]}}"

# Per-platform credentials. The OIDC token's sub claim is
# project_path:GROUP/PROJECT:ref_type:branch:ref:main: trust only that in each cloud.
"""

_APPLY_RULES = """\
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == "push"
      changes:
        - access-requests/**/*
    - if: $CI_PIPELINE_SOURCE == "schedule" && $ACCESSCTL_TASK == "apply"
    - if: $CI_PIPELINE_SOURCE == "web" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"""


# Lines of shell longer than this file's own lines, kept whole in the output.
_EVENT_LINE = ("printf '{\"object_attributes\": {\"iid\": %s}}\\n' \"$CI_MERGE_REQUEST_IID\" "
               '> "$CI_BUILDS_DIR/mr-event.json"')
_SWEEP_ARGS = ('args=(--confirm --provider "$INSTANCE" --commit "$CI_COMMIT_SHA" '
               '--audit-file "audit-$INSTANCE.jsonl")')
_PUSH_APPLIED = ('git push --force "https://oauth2:${ACCESSCTL_PUSH_TOKEN}@${CI_SERVER_HOST}/'
                 '${CI_PROJECT_PATH}.git" "$CI_COMMIT_SHA:refs/accessctl/applied"')


def _install(install: Install, extras: str) -> str:
    if install.from_source:
        return f"python -m pip install --quiet {extras}"
    return install.command([])


def _credentials(job: JobCredentials, shared: bool) -> str:
    name = job.instance
    extras = ",".join(dict.fromkeys([*extras_for(job.platform, vcs=False), "gitlab"]))
    head = f".{name}:\n  variables:\n    INSTANCE: {name}\n    EXTRAS: {extras}\n"
    if job.platform == "aws":
        role = variable("AWS_ROLE_ARN", name, shared)
        role_line = (f"    AWS_ROLE_ARN: ${role}\n" if shared else
                     "    # AWS_ROLE_ARN: a CI/CD variable holding the role to assume (not a "
                     "secret).\n")
        return head + f"""\
    AWS_WEB_IDENTITY_TOKEN_FILE: $CI_BUILDS_DIR/aws-oidc-token
    AWS_ROLE_SESSION_NAME: accessctl-$CI_PIPELINE_ID
{role_line}  id_tokens:
    AWS_OIDC_TOKEN:
      aud: sts.amazonaws.com
  before_script:
    - !reference [.mutate, before_script]
    # boto3 exchanges this token for the role itself (AssumeRoleWithWebIdentity).
    - printf '%s' "$AWS_OIDC_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"
"""
    if job.platform == "gcp":
        provider = variable("GCP_WORKLOAD_IDENTITY_PROVIDER", name, shared)
        account = variable("GCP_SERVICE_ACCOUNT", name, shared)
        return head + f"""\
    GOOGLE_APPLICATION_CREDENTIALS: $CI_BUILDS_DIR/gcp-external-account.json
    # {provider} (projects/N/locations/global/workloadIdentityPools/P/
    # providers/X) and {account}: CI/CD variables (not secrets).
  id_tokens:
    GCP_OIDC_TOKEN:
      aud: https://iam.googleapis.com/${provider}
  before_script:
    - !reference [.mutate, before_script]
    - printf '%s' "$GCP_OIDC_TOKEN" > "$CI_BUILDS_DIR/gcp-oidc-token"
    # An external-account credential: google.auth.default() exchanges the token through STS.
    - >-
      printf '{{"type": "external_account",
      "audience": "//iam.googleapis.com/%s",
      "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
      "token_url": "https://sts.googleapis.com/v1/token",
      "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/%s:generateAccessToken",
      "credential_source": {{"file": "%s"}}}}\\n'
      "${provider}" "${account}" "$CI_BUILDS_DIR/gcp-oidc-token"
      > "$GOOGLE_APPLICATION_CREDENTIALS"
"""
    if job.platform == "entra" and job.oidc:
        # Entra trusts the token for the app registration's federated credential;
        # azure-identity reads it from the file.
        ids = "".join(f"    {var}: ${ci}\n" for var, ci in job.ci_variables if var != ci)
        return head + f"""\
    AZURE_FEDERATED_TOKEN_FILE: $CI_BUILDS_DIR/azure-oidc-token
{ids}    # AZURE_CLIENT_ID and AZURE_TENANT_ID (unless providers.yaml sets them): CI/CD variables.
  id_tokens:
    AZURE_OIDC_TOKEN:
      aud: api://AzureADTokenExchange
  before_script:
    - !reference [.mutate, before_script]
    - printf '%s' "$AZURE_OIDC_TOKEN" > "$AZURE_FEDERATED_TOKEN_FILE"
"""
    secrets = ", ".join(job.secrets)
    ids = "".join(f"    {var}: ${ci}\n" for var, ci in job.ci_variables if var != ci)
    return head + ids + f"""\
  # {secrets}: masked and protected, scoped to this environment: GitLab hands
  # every variable to every job, the environment keeps it to this instance's jobs.
  environment:
    name: production/{name}
    action: access
"""


def render(instances: Sequence[ProviderInstance], install: Install) -> str:
    if not instances:
        raise ValueError("policies/providers.yaml names no provider instance: there is no job "
                         "to generate")
    jobs = for_all(instances)
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.platform] = counts.get(job.platform, 0) + 1
    text = GENERATED + _HEAD.format(
        validate_install=_install(install, "'.[gitlab]'"),
        mutate_install=_install(install, '".[$EXTRAS]"'),
        apply_rules=_APPLY_RULES,
        event_line=_EVENT_LINE,
        sweep_args=_SWEEP_ARGS,
    )
    text += "\n".join(_credentials(job, counts[job.platform] > 1) for job in jobs)
    for verb in ("apply", "revoke", "reconcile"):
        text += "\n" + "".join(f"{verb}:{job.instance}:\n  extends: [.{verb}, .{job.instance}]\n"
                               for job in jobs)
    needs = ", ".join(f"apply:{job.instance}" for job in jobs)
    text += f"""
# Only after every platform applied cleanly, move refs/accessctl/applied to this commit.
# ACCESSCTL_PUSH_TOKEN: a protected project access token with write_repository.
record-applied:
  stage: record
  resource_group: accessctl-mutate
  rules:
{_APPLY_RULES}
  needs: [{needs}]
  script:
    - {_PUSH_APPLIED}
"""
    return text
