"""Google Cloud: IAM role bindings with an expiry condition, and Cloud Identity group memberships.

Both kinds expire natively, so access ends at `expires_at` even when the scheduled revoke job is
late (give or take IAM's propagation: minutes for a policy, up to hours for a group membership):

- `iam_binding`: a conditional binding `request.time < timestamp("<expires_at>")` for the member,
  written with a read-modify-write on the resource's IAM policy (policy version 3, guarded by the
  etag). The engine's bindings carry a condition title starting with "accessctl:"; only those are
  the engine's. Unconditional bindings, and conditional bindings another tool wrote, are never
  read as the engine's grants and never removed. An expired condition stops working on time but
  the binding stays in the policy until the revoke job removes it.
- `group_membership`: a Cloud Identity membership whose MEMBER role has
  `expiryDetail.expireTime = expires_at`; Google deletes the membership itself at that time.
  Membership expiry needs Cloud Identity Premium or Google Workspace Enterprise: on another
  edition Google refuses it, and the provider adds the membership without one and says that the
  revoke job ends it (`membership_expiry: false` skips the attempt).

The Google API client is imported only when a GCP entitlement is used.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target, isoformat
from accessctl.core.retry_after import retry_after
from accessctl.providers.base import NotFound, ProviderError, principal_key

PLATFORM = "gcp"

TITLE_PREFIX = "accessctl:"
"""Condition titles of the engine's own bindings start with this; nothing else is touched."""

ETAG_ATTEMPTS = 5
"""Read-modify-write rounds before an etag race is handed to the engine's retry loop."""

_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-identity.groups",
)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_RESOURCE = re.compile(r"^(projects/[a-z0-9][a-z0-9.:-]{0,62}|folders/[0-9]{1,20}"
                       r"|organizations/[0-9]{1,20})$")
_EMAIL = r"^[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+$"
_EXPRESSION = re.compile(r'^request\.time < timestamp\("([^"]+)"\)$')
_TITLE_MAX, _DESCRIPTION_MAX = 100, 256
_MEMBERS_PAGE = 500  # the most Cloud Identity gives per page in the FULL view

SETTINGS_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "endpoint": {
            "type": "string",
            "format": "uri",
            "description": (
                "Override of the Google API endpoint, for local test servers only. When it points "
                "at 127.0.0.1 or localhost the engine sends no credentials; otherwise Application "
                "Default Credentials are used as in production."
            ),
            "examples": ["http://127.0.0.1:8085/"],
        },
        "quota_project": {
            "type": "string",
            "description": (
                "Project billed for API quota. Cloud Identity needs one when the credentials are "
                "a user's rather than a service account's."
            ),
            "examples": ["platform-jit-prod"],
        },
        "timeout_seconds": {
            "type": "number",
            "exclusiveMinimum": 0,
            "description": "Socket timeout for each API call, in seconds (default 30).",
            "examples": [30],
        },
        "membership_expiry": {
            "type": "boolean",
            "default": True,
            "description": (
                "Whether Cloud Identity may expire group memberships (Cloud Identity Premium or "
                "Google Workspace Enterprise). false: memberships are added without expiry and "
                "the revoke job ends them. When true and Google refuses the expiry, the "
                "provider falls back the same way and says so."
            ),
            "examples": [True, False],
        },
    },
}

TARGET_SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "iam_binding": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resource", "role"],
        "properties": {
            "resource": {
                "type": "string",
                "pattern": _RESOURCE.pattern,
                "description": "The project, folder or organization whose IAM policy is changed.",
                "examples": ["projects/payments-prod", "folders/123456789012",
                             "organizations/987654321098"],
            },
            "role": {
                "type": "string",
                "pattern": r"^(roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/"
                           r"[A-Za-z0-9_.]+)$",
                "description": "The predefined or custom role granted, with an expiry condition.",
                "examples": ["roles/viewer", "organizations/987654321098/roles/jitDebugger"],
            },
        },
    },
    "group_membership": {
        "type": "object",
        "additionalProperties": False,
        "required": ["group"],
        "properties": {
            "group": {
                "type": "string",
                "pattern": _EMAIL,
                "description": (
                    "Email of the Cloud Identity / Google Workspace group the user joins, with "
                    "an expiring MEMBER role."
                ),
                "examples": ["prod-readers@example.com"],
            },
        },
    },
}

PERMISSIONS = """\
The engine authenticates with Application Default Credentials: in GitHub Actions, Workload
Identity Federation impersonating a service account such as
`accessctl@PROJECT.iam.gserviceaccount.com` (no key file).

`iam_binding`, on each managed project, folder or organization only, the least that works: a
custom role with exactly `resourcemanager.projects.getIamPolicy` and
`resourcemanager.projects.setIamPolicy` (`resourcemanager.folders.*` and
`resourcemanager.organizations.*` likewise). `roles/resourcemanager.projectIamAdmin` (projects)
and `roles/resourcemanager.folderIamAdmin` (folders) hold the same two permissions; for
organizations no predefined role is that narrow: use the custom role.

Setting an IAM policy lets its holder grant any role, to itself too. Grant the role with an IAM
condition on `iam.googleapis.com/modifiedGrantsByRole` naming the roles the entitlements grant,
so that the engine can grant and revoke those and nothing else:
`api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/ROLE', ...])`.
(An IAM deny policy cannot do this: it denies permissions such as setIamPolicy, not the roles a
policy write adds.)

`group_membership`: the service account needs the Google Workspace admin role
"Groups Admin" (or a custom admin role limited to Groups read/update), assigned in the Admin
console, and the OAuth scope `https://www.googleapis.com/auth/cloud-identity.groups`.
Alternatively make the service account a MANAGER of each managed group; a manager can add and
remove members of that group only. Membership expiry needs Cloud Identity Premium or Google
Workspace Enterprise (`membership_expiry: false` otherwise).
"""


class GcpProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._http: Any = None
        self._crm: Any = None
        self._identity: Any = None
        self._group_names: dict[str, str] = {}
        self._membership_expiry = bool(instance.settings.get("membership_expiry", True))
        """Whether memberships get an expiry: the setting, until Google refuses one."""

    # -- clients -------------------------------------------------------------------------------
    def _authorized_http(self) -> Any:
        if self._http is None:
            # Imported by name: neither ships type information.
            google_auth_httplib2 = importlib.import_module("google_auth_httplib2")
            httplib2 = importlib.import_module("httplib2")

            timeout = float(self.instance.settings.get("timeout_seconds", 30))
            self._http = google_auth_httplib2.AuthorizedHttp(
                _credentials(self.instance.settings), http=httplib2.Http(timeout=timeout)
            )
        return self._http

    def _build(self, name: str, version: str) -> Any:
        from googleapiclient.discovery import build

        endpoint = self.instance.settings.get("endpoint")
        options = {"api_endpoint": endpoint} if endpoint else None
        with _errors(f"the {name} API"):
            return build(name, version, http=self._authorized_http(), client_options=options,
                         static_discovery=True, cache_discovery=False)

    @property
    def crm(self) -> Any:
        if self._crm is None:
            self._crm = self._build("cloudresourcemanager", "v3")
        return self._crm

    @property
    def identity(self) -> Any:
        if self._identity is None:
            self._identity = self._build("cloudidentity", "v1")
        return self._identity

    # -- Provider protocol ---------------------------------------------------------------------
    def native_expiry(self, target: Target) -> bool:
        if target.kind == "group_membership":
            return self._membership_expiry
        return target.kind == "iam_binding"

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result: dict[Target, frozenset[str]] = {}
        policies: dict[str, dict[str, Any]] = {}
        for target in targets:
            if target.kind == "iam_binding":
                resource = _resource(target)
                if resource not in policies:
                    policies[resource] = self._get_policy(resource)
                role = target.param("role")
                result[target] = frozenset(
                    principal_key(_principal(member))
                    for binding in _ours(policies[resource], role)
                    for member in binding.get("members", [])
                )
            elif target.kind == "group_membership":
                result[target] = frozenset(
                    principal_key(m.get("preferredMemberKey", {}).get("id", ""))
                    for m in self._memberships(self._group_name(target))
                )
            else:
                _kind(target)
        return result

    def grant(self, change: Change) -> Outcome:
        if change.expires_at is None:
            raise ProviderError(f"{change.target.display}: a GCP grant needs an expiry time")
        if _kind(change.target) == "iam_binding":
            return self._grant_binding(change)
        return self._grant_membership(change)

    def revoke(self, change: Change) -> Outcome:
        if _kind(change.target) == "iam_binding":
            return self._revoke_binding(change)
        return self._revoke_membership(change)

    # -- IAM bindings --------------------------------------------------------------------------
    def _get_policy(self, resource: str) -> dict[str, Any]:
        with _errors(resource):
            policy: dict[str, Any] = _collection(self.crm, resource).getIamPolicy(
                resource=resource, body={"options": {"requestedPolicyVersion": 3}}
            ).execute(num_retries=0)
        return policy

    def _set_policy(self, resource: str, policy: dict[str, Any], subject: str) -> None:
        body = {"policy": {**policy, "version": 3}, "updateMask": "bindings,etag,version"}
        with _errors(subject, resource):
            _collection(self.crm, resource).setIamPolicy(resource=resource, body=body).execute(
                num_retries=0
            )

    def _read_modify_write(
        self, change: Change, edit: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> bool:
        """Apply `edit` to the current policy and write it back with its etag, re-reading on a
        concurrent change. `edit` returns None when nothing needs writing. True if written."""
        resource = _resource(change.target)
        for _ in range(ETAG_ATTEMPTS):
            policy = self._get_policy(resource)
            edited = edit(policy)
            if edited is None:
                return False
            try:
                self._set_policy(resource, edited, f"member {_member(change.principal)}")
            except _EtagConflict:
                continue
            return True
        raise ProviderError(
            f"{resource}: the IAM policy kept changing under us ({ETAG_ATTEMPTS} etag conflicts)",
            retryable=True,
        )

    def _grant_binding(self, change: Change) -> Outcome:
        role, member = change.target.param("role"), _member(change.principal)
        wanted = _condition(change)

        def edit(policy: dict[str, Any]) -> dict[str, Any] | None:
            bindings = policy.get("bindings", [])
            mine = [b for b in _ours(policy, role) if _holds(b, member)]
            if (len(mine) == 1 and mine[0].get("members") == [member]
                    and mine[0]["condition"].get("expression") == wanted["expression"]):
                return None
            kept = _without(bindings, role, member)
            kept.append({"role": role, "members": [member], "condition": wanted})
            return {"bindings": kept, "etag": policy.get("etag")}

        resource = _resource(change.target)
        if not self._read_modify_write(change, edit):
            return Outcome(change, Status.UNCHANGED, f"{role} on {resource} already held until "
                           f"{isoformat(_expires(change))}", native_expiry_set=True)
        return Outcome(change, Status.DONE, f"granted {role} on {resource} until "
                       f"{isoformat(_expires(change))}", native_expiry_set=True)

    def _revoke_binding(self, change: Change) -> Outcome:
        role, member = change.target.param("role"), _member(change.principal)

        def edit(policy: dict[str, Any]) -> dict[str, Any] | None:
            if not any(_holds(b, member) for b in _ours(policy, role)):
                return None
            return {"bindings": _without(policy.get("bindings", []), role, member),
                    "etag": policy.get("etag")}

        resource = _resource(change.target)
        if not self._read_modify_write(change, edit):
            return Outcome(change, Status.UNCHANGED, f"no accessctl binding of {role} on "
                           f"{resource}")
        return Outcome(change, Status.DONE, f"removed the accessctl binding of {role} on "
                       f"{resource}")

    # -- Cloud Identity memberships ------------------------------------------------------------
    def _group_name(self, target: Target) -> str:
        email = target.param("group")
        if email not in self._group_names:
            with _errors(f"group {email}"):
                found = self.identity.groups().lookup(groupKey_id=email).execute(num_retries=0)
            self._group_names[email] = found["name"]
        return self._group_names[email]

    def _memberships(self, group: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            with _errors(group):
                page = self.identity.groups().memberships().list(
                    parent=group, view="FULL", pageSize=_MEMBERS_PAGE, pageToken=token
                ).execute(num_retries=0)
            yield from page.get("memberships", [])
            token = page.get("nextPageToken")
            if not token:
                return

    def _find_membership(self, group: str, email: str) -> dict[str, Any] | None:
        memberships = self.identity.groups().memberships()
        try:
            with _errors(f"member {email} of {group}"):
                name = memberships.lookup(parent=group, memberKey_id=email).execute(
                    num_retries=0
                )["name"]
                found: dict[str, Any] = memberships.get(name=name).execute(num_retries=0)
        except NotFound:
            return None
        return found

    def _grant_membership(self, change: Change) -> Outcome:
        group_email, email = change.target.param("group"), _email(change.principal)
        group = self._group_name(change.target)
        expires = _expires(change)
        existing = self._find_membership(group, email)
        memberships = self.identity.groups().memberships()
        if existing is None:
            subject = f"member {email} of group {group_email}"
            if self._membership_expiry:
                role = {"name": "MEMBER", "expiryDetail": {"expireTime": isoformat(expires)}}
                body = {"preferredMemberKey": {"id": email}, "roles": [role]}
                try:
                    with _errors(subject):
                        memberships.create(parent=group, body=body).execute(num_retries=0)
                except _Refused as refused:
                    if not _expiry_refused(refused):
                        raise
                    self._membership_expiry = False  # learnt: no second refusal this run
                    return self._add_without_expiry(change, group, email, _EDITION_NOTICE)
                return Outcome(change, Status.DONE, f"added to {group_email} until "
                               f"{isoformat(expires)}", native_expiry_set=True)
            return self._add_without_expiry(change, group, email, _SETTING_NOTICE)
        roles = {r.get("name"): r for r in existing.get("roles", [])}
        if set(roles) - {"MEMBER"}:
            # A manager or owner is standing access the engine does not manage: an expiry would
            # end it, so leave it as it is.
            return Outcome(change, Status.UNCHANGED, f"already {'/'.join(sorted(roles))} of "
                           f"{group_email}; expiry not set on a standing membership")
        held = roles.get("MEMBER", {}).get("expiryDetail", {}).get("expireTime")
        if held is not None and _same_time(held, expires):
            return Outcome(change, Status.UNCHANGED, f"already in {group_email} until "
                           f"{isoformat(expires)}", native_expiry_set=True)
        if not self._membership_expiry:
            return Outcome(change, Status.UNCHANGED, f"already in {group_email}; "
                           f"{_SETTING_NOTICE}")
        body = {"updateRolesParams": [{
            "fieldMask": "expiryDetail.expireTime",
            "membershipRole": {"name": "MEMBER",
                               "expiryDetail": {"expireTime": isoformat(expires)}},
        }]}
        try:
            with _errors(f"member {email} of group {group_email}"):
                memberships.modifyMembershipRoles(name=existing["name"], body=body).execute(
                    num_retries=0
                )
        except _Refused as refused:
            if not _expiry_refused(refused):
                raise
            self._membership_expiry = False
            return Outcome(change, Status.UNCHANGED, f"already in {group_email}; "
                           f"{_EDITION_NOTICE}")
        return Outcome(change, Status.DONE, f"membership of {group_email} now expires "
                       f"{isoformat(expires)}", native_expiry_set=True)

    def _add_without_expiry(self, change: Change, group: str, email: str, notice: str
                            ) -> Outcome:
        """A plain MEMBER: the revoke job is what ends it."""
        body = {"preferredMemberKey": {"id": email}, "roles": [{"name": "MEMBER"}]}
        with _errors(f"member {email} of group {change.target.param('group')}"):
            self.identity.groups().memberships().create(parent=group, body=body).execute(
                num_retries=0)
        return Outcome(change, Status.DONE,
                       f"added to {change.target.param('group')} without expiry; {notice}")

    def _revoke_membership(self, change: Change) -> Outcome:
        group_email, email = change.target.param("group"), _email(change.principal)
        group = self._group_name(change.target)
        existing = self._find_membership(group, email)
        if existing is None:
            return Outcome(change, Status.UNCHANGED, f"not a member of {group_email}")
        roles = {r.get("name") for r in existing.get("roles", [])}
        if roles - {"MEMBER"}:
            return Outcome(change, Status.UNCHANGED, f"{'/'.join(sorted(r or '' for r in roles))} "
                           f"of {group_email} is standing access; left alone")
        try:
            with _errors(f"member {email} of group {group_email}"):
                self.identity.groups().memberships().delete(name=existing["name"]).execute(
                    num_retries=0
                )
        except NotFound:
            # Expired (Google removed it) or removed by someone else meanwhile: the end state holds.
            return Outcome(change, Status.UNCHANGED, f"not a member of {group_email}")
        return Outcome(change, Status.DONE, f"removed from {group_email}")


# -- helpers -----------------------------------------------------------------------------------
def uses_anonymous_credentials(endpoint: str | None) -> bool:
    """Only a local test server is spoken to without credentials."""
    return bool(endpoint) and urlsplit(str(endpoint)).hostname in _LOCAL_HOSTS


def _credentials(settings: Mapping[str, Any]) -> Any:
    if uses_anonymous_credentials(settings.get("endpoint")):
        from google.auth import credentials as google_credentials

        anonymous: Any = google_credentials.AnonymousCredentials
        return anonymous()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        # ADC: GOOGLE_APPLICATION_CREDENTIALS (in GitHub Actions, the external-account config
        # google-github-actions/auth writes for Workload Identity Federation), gcloud, or the
        # metadata server. No key is ever read from the repository.
        credentials, _ = google.auth.default(scopes=list(_SCOPES))
    except DefaultCredentialsError as error:
        raise ProviderError(f"no Google credentials: {error}") from None
    quota_project = settings.get("quota_project")
    if quota_project and hasattr(credentials, "with_quota_project"):
        credentials = credentials.with_quota_project(quota_project)
    return credentials


def _kind(target: Target) -> str:
    if target.kind not in TARGET_SCHEMAS:
        raise ProviderError(f"{target.display}: gcp has no target kind {target.kind!r}; "
                            f"known: {', '.join(sorted(TARGET_SCHEMAS))}")
    return target.kind


def _collection(crm: Any, resource: str) -> Any:
    kind = resource.split("/", 1)[0]
    return {"projects": crm.projects, "folders": crm.folders,
            "organizations": crm.organizations}[kind]()


def _resource(target: Target) -> str:
    resource = target.param("resource")
    if not _RESOURCE.match(resource):
        raise ProviderError(f"{target.display}: {resource!r} is not projects/ID, folders/ID or "
                            "organizations/ID")
    return resource


def _member(principal: str) -> str:
    """IAM member for a principal: a bare email is a user; `serviceAccount:...` etc. pass."""
    principal = principal.strip()
    return principal if ":" in principal else f"user:{principal.lower()}"


def _principal(member: str) -> str:
    return member.removeprefix("user:")


def _email(principal: str) -> str:
    return principal.strip().split(":", 1)[-1].lower()


def _expires(change: Change) -> datetime:
    assert change.expires_at is not None
    return change.expires_at


def _condition(change: Change) -> dict[str, str]:
    who = change.person or change.principal
    title = f"{TITLE_PREFIX} {change.entitlement} for {who}"
    requests = ", ".join(change.requests) or "no request file"
    description = f"Just-in-time access granted by accessctl for {requests}"
    return {
        "title": title[:_TITLE_MAX],
        "description": description[:_DESCRIPTION_MAX],
        "expression": f'request.time < timestamp("{isoformat(_expires(change))}")',
    }


def is_engine_binding(binding: Mapping[str, Any]) -> bool:
    condition = binding.get("condition")
    return isinstance(condition, Mapping) and str(condition.get("title", "")).startswith(
        TITLE_PREFIX
    )


def condition_expiry(binding: Mapping[str, Any]) -> str | None:
    """The RFC 3339 time in an engine binding's condition, or None."""
    condition = binding.get("condition") or {}
    match = _EXPRESSION.match(str(condition.get("expression", "")))
    return match.group(1) if match else None


def _ours(policy: Mapping[str, Any], role: str) -> list[dict[str, Any]]:
    return [b for b in policy.get("bindings", []) if b.get("role") == role and is_engine_binding(b)]


def _holds(binding: Mapping[str, Any], member: str) -> bool:
    return any(m.casefold() == member.casefold() for m in binding.get("members", []))


def _without(bindings: list[dict[str, Any]], role: str, member: str) -> list[dict[str, Any]]:
    """`bindings` minus `member` in the engine's bindings for `role`; everything else as read."""
    kept = []
    for binding in bindings:
        if binding.get("role") == role and is_engine_binding(binding) and _holds(binding, member):
            members = [m for m in binding["members"] if m.casefold() != member.casefold()]
            if not members:
                continue
            binding = {**binding, "members": members}
        kept.append(binding)
    return kept


def _same_time(held: str, wanted: datetime) -> bool:
    try:
        value = datetime.fromisoformat(held.replace("Z", "+00:00"))
    except ValueError:
        return False
    return abs((value.astimezone(UTC) - wanted).total_seconds()) < 1


_EDITION_NOTICE = ("Google refused the membership expiry (it needs Cloud Identity Premium or "
                   "Google Workspace Enterprise), so the revoke job ends this membership at "
                   "expires_at; set membership_expiry: false on this instance to skip the "
                   "attempt")
_SETTING_NOTICE = ("the revoke job ends it at expires_at (membership_expiry: false: this "
                   "Google account cannot expire memberships)")


class _Refused(ProviderError):
    """A 4xx Google answered that is neither a retry nor a NotFound, with its status."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def _expiry_refused(error: _Refused) -> bool:
    """Google refused the expiry itself: what an edition without membership expiry answers.
    Google documents the edition requirement, not its error, so any 400/403/412 whose words are
    about expiry counts (a refused member or group says nothing of expiry)."""
    return error.status in (400, 403, 412) and "expir" in error.reason.casefold()


class _EtagConflict(Exception):
    """setIamPolicy answered 409 ABORTED: someone wrote the policy since we read it."""


def _retry_after(value: str | None) -> float | None:
    return retry_after(value, datetime.now(UTC))


@contextmanager
def _errors(subject: str, resource: str | None = None) -> Iterator[None]:
    """Map the client's errors to the engine's: NotFound, retryable, or plain."""
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    try:
        yield
    except HttpError as error:
        status = int(error.resp.status)
        try:
            body = json.loads(error.content or b"{}").get("error", {})
        except (ValueError, AttributeError):
            body = {}
        code = body.get("status", "") if isinstance(body, dict) else ""
        message = (body.get("message") if isinstance(body, dict) else None) or str(error)
        where = f"{subject} on {resource}" if resource else subject
        if status == 409 and code == "ABORTED":
            raise _EtagConflict(message) from None
        if status == 429 or status >= 500:
            raise ProviderError(f"Google {status} {code}: {message}", retryable=True,
                                retry_after=_retry_after(error.resp.get("retry-after"))) from None
        if status == 404 or (status == 400 and "does not exist" in message):
            # IAM answers 400 "User x does not exist." for an unknown member.
            raise NotFound(f"{where}: {message}") from None
        hint = " (the resource may not exist, or the engine may lack permission)" \
            if status == 403 else ""
        raise _Refused(f"{where}: Google {status} {code}: {message}{hint}", status,
                       message) from None
    except RefreshError as error:
        raise ProviderError(f"Google credentials refused: {error}") from None
    except (TransportError, importlib.import_module("httplib2").HttpLib2Error, OSError) as error:
        raise ProviderError(f"Google API unreachable: {error}", retryable=True) from None


def create(instance: ProviderInstance, environ: Mapping[str, str]) -> GcpProvider:
    return GcpProvider(instance, environ)
