"""Which credentials each provider instance's CI job holds, and how they reach the engine.

One job per instance holds only that instance's credentials: the clouds by OIDC federation (no
stored key), the others by one secret each, named after the environment variable the provider
reads (`token_env`, `private_key_env`, `password_env`...), so that a secret is exposed to the
one job, and the one step, that needs it. Values from providers.yaml are written into workflow
text only when they match a strict pattern: nothing there can become an expression or YAML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accessctl.core.model import ProviderInstance

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}$")

AWS_ACTION = ("aws-actions/configure-aws-credentials@a03048d87541d1d9fcf2ecf528a4a65ba9bd7838"
              " # v5.0.0")
GCP_ACTION = "google-github-actions/auth@7c6bc770dae815cd3e89ee6cdf493a5fab2cc093 # v3.0.0"


class CredentialsError(ValueError):
    """An instance whose credentials cannot be wired into a workflow as configured."""


@dataclass(frozen=True)
class Step:
    """A step that obtains credentials, placed after the install step."""

    name: str
    uses: str
    with_: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class JobCredentials:
    instance: str
    platform: str
    oidc: bool
    """The job needs `id-token: write` (a cloud trusts GitHub's OIDC token)."""
    steps: tuple[Step, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    """Variables for the engine's step only: (name, value or expression)."""
    secrets: tuple[str, ...] = field(default=())
    """The secrets this job reads (documented in the workflow's comments)."""
    ci_variables: tuple[tuple[str, str], ...] = ()
    """(variable the engine reads, CI variable that holds it): ids, not secrets."""


def variable(base: str, instance: str, shared: bool) -> str:
    """A repository variable's name: plain when the platform has one instance, else suffixed
    with the instance (AWS_ROLE_ARN_AWS_STAGING), so that two accounts never share a role."""
    return f"{base}_{instance.upper().replace('-', '_')}" if shared else base


def _secret(instance: ProviderInstance, setting: str, default: str) -> tuple[str, str]:
    name = str(instance.settings.get(setting) or default)
    if not _ENV_NAME.match(name):
        raise CredentialsError(f"{instance.name}: {setting} {name!r} is not a variable name")
    if name.upper().startswith("GITHUB_"):
        # GitHub refuses secrets named GITHUB_*; GITHUB_TOKEN is the workflow's own token.
        raise CredentialsError(
            f"{instance.name}: {setting} is {name}, a name GitHub reserves (no secret may start "
            f"with GITHUB_): set {setting} in policies/providers.yaml to another name, such as "
            f"ACCESSCTL_{instance.platform.upper()}_TOKEN")
    return name, f"${{{{ secrets.{name} }}}}"


def _setting_or_variable(instance: ProviderInstance, setting: str, base: str,
                         shared: bool) -> tuple[str, str] | None:
    """An id the engine also reads from settings: the variable only when settings lack it."""
    if instance.settings.get(setting):
        return None
    return base, variable(base, instance.name, shared)


def _from_variables(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, f"${{{{ vars.{ci} }}}}") for name, ci in pairs)


def for_instance(instance: ProviderInstance, shared: bool) -> JobCredentials:
    """The credentials of one instance's job; `shared`: its platform has other instances."""
    settings: Mapping[str, Any] = instance.settings
    name, platform = instance.name, instance.platform
    if platform == "aws":
        region = settings.get("region")
        if region is not None and not _REGION.match(str(region)):
            raise CredentialsError(f"{name}: region {region!r} is not an AWS region name")
        return JobCredentials(name, platform, oidc=True, steps=(Step(
            "AWS credentials (OIDC, no stored keys)", AWS_ACTION, (
                ("role-to-assume", f"${{{{ vars.{variable('AWS_ROLE_ARN', name, shared)} }}}}"),
                ("aws-region", str(region) if region else "${{ vars.AWS_REGION || 'us-east-1' }}"),
                ("role-session-name", "accessctl-${{ github.run_id }}"),
            )),))
    if platform == "gcp":
        return JobCredentials(name, platform, oidc=True, steps=(Step(
            "Google credentials (Workload Identity Federation, no key)", GCP_ACTION, (
                ("workload_identity_provider",
                 f"${{{{ vars.{variable('GCP_WORKLOAD_IDENTITY_PROVIDER', name, shared)} }}}}"),
                ("service_account",
                 f"${{{{ vars.{variable('GCP_SERVICE_ACCOUNT', name, shared)} }}}}"),
                ("create_credentials_file", "true"),
            )),))
    if platform == "entra":
        auth = settings.get("auth", "workload_identity")
        if auth == "static_token":
            env_name, value = _secret(instance, "static_token_env", "GRAPH_TOKEN")
            return JobCredentials(name, platform, oidc=False, env=((env_name, value),),
                                  secrets=(env_name,))
        ids = [pair for pair in (
            _setting_or_variable(instance, "client_id", "AZURE_CLIENT_ID", shared),
            _setting_or_variable(instance, "tenant_id", "AZURE_TENANT_ID", shared),
        ) if pair is not None]
        if auth == "client_secret":
            env_name, value = _secret(instance, "client_secret_env", "AZURE_CLIENT_SECRET")
            return JobCredentials(name, platform, oidc=False,
                                  env=(*_from_variables(ids), (env_name, value)),
                                  secrets=(env_name,), ci_variables=tuple(ids))
        # The engine asks GitHub for the OIDC token itself and exchanges it with Entra.
        return JobCredentials(name, platform, oidc=True, env=_from_variables(ids),
                              ci_variables=tuple(ids))
    setting, default = {
        "okta": (("private_key_env", "OKTA_PRIVATE_KEY")
                 if settings.get("auth") == "private_key" else ("token_env", "OKTA_API_TOKEN")),
        "github": ("token_env", "GITHUB_TOKEN"),
        "gitlab": ("token_env", "GITLAB_TOKEN"),
        "ad": ("password_env", "AD_BIND_PASSWORD"),
    }.get(platform, ("", ""))
    if not setting:
        raise CredentialsError(f"{name}: no CI credentials are known for platform {platform}")
    env_name, value = _secret(instance, setting, default)
    return JobCredentials(name, platform, oidc=False, env=((env_name, value),),
                          secrets=(env_name,))


def for_all(instances: Sequence[ProviderInstance]) -> list[JobCredentials]:
    """Every instance's credentials, in providers.yaml order; all problems in one error."""
    counts: dict[str, int] = {}
    for instance in instances:
        counts[instance.platform] = counts.get(instance.platform, 0) + 1
    found: list[JobCredentials] = []
    problems: list[str] = []
    for instance in instances:
        try:
            found.append(for_instance(instance, counts[instance.platform] > 1))
        except CredentialsError as error:
            problems.append(str(error))
    if problems:
        raise CredentialsError("; ".join(problems))
    return found
