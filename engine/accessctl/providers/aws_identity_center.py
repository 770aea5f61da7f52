"""AWS IAM Identity Center: a permission set assigned to an Identity Store user on one account.

The `account_assignment` target kind of the `aws` platform (`accessctl.providers.aws` dispatches to
it). Only USER assignments are the engine's: GROUP assignments on the same permission set and
account are never reported nor touched. Identity Center has no expiry on assignments, so the
revoke job ends them.

A principal is an Identity Store user name; an assignment is made to (and removed from) the
user's UserId, which is what the engine keeps: a user name can be changed, the UserId cannot.

Assignment writes are asynchronous on AWS: create and delete answer a request id with status
IN_PROGRESS, and the outcome is known only by polling the request's status.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target
from accessctl.providers.aws_client import make_client, map_errors
from accessctl.providers.base import NotFound, ProviderError, principal_key

POLL_FIRST_DELAY = 0.5
POLL_MAX_DELAY = 5.0
POLL_TIMEOUT = 120.0
"""Seconds to wait for one assignment request; AWS usually finishes within a few seconds."""
_USER_ID = re.compile(r"^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-"
                      r"[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$")
"""An Identity Store UserId (the API's own pattern)."""


def wait_for_request(
    describe: Callable[[], Mapping[str, Any]],
    what: str,
    *,
    timeout: float = POLL_TIMEOUT,
    first_delay: float = POLL_FIRST_DELAY,
    max_delay: float = POLL_MAX_DELAY,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """Poll an assignment request's status until it SUCCEEDED; its final status.

    `describe` returns the `AccountAssignment{Creation,Deletion}Status` object. FAILED raises a
    plain ProviderError with AWS's FailureReason; still IN_PROGRESS at `timeout` raises a
    retryable one (the engine's retry then observes again before it writes anything).
    """
    deadline = clock() + timeout
    delay = first_delay
    while True:
        status = describe()
        state = status.get("Status")
        if state == "SUCCEEDED":
            return status
        if state == "FAILED":
            reason = status.get("FailureReason") or "no reason given"
            raise ProviderError(f"{what} failed: {reason}")
        if clock() + delay > deadline:
            raise ProviderError(
                f"{what} still {state} after {timeout:g}s (request {status.get('RequestId')})",
                retryable=True,
            )
        sleep(delay)
        delay = min(delay * 2, max_delay)


@dataclass(frozen=True)
class _Place:
    """Where a target's assignments live, resolved to the ARNs and ids the API wants."""

    instance_arn: str
    identity_store_id: str
    account_id: str
    permission_set_arn: str


class IdentityCenterProvider:
    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        self.instance = instance
        self._environ = environ
        self._lock = threading.Lock()
        self._sso: Any = None
        self._store: Any = None
        self._instances: dict[str, str] | None = None
        """Instance ARN -> its Identity Store id, listed once."""
        self._permission_sets: dict[tuple[str, str], str] = {}
        """(instance ARN, name or ARN as written) -> permission set ARN."""
        self._described: set[str] = set()
        """Permission set ARNs whose name is already in `_permission_sets`."""
        self._durations: dict[str, str | None] = {}
        """Permission set ARN -> its SessionDuration (None: not set), from the
        DescribePermissionSet answers read anyway to resolve it."""
        self._user_ids: dict[tuple[str, str], str] = {}
        """(identity store, principal_key(user name)) -> UserId."""
        self._user_names: dict[tuple[str, str], str] = {}
        """(identity store, UserId) -> UserName."""
        self._holders: dict[Target, dict[str, str]] = {}
        """Target -> its holders' principal keys -> their UserIds, as observe read them."""

    # Clients and lookups, each made once per provider.

    @property
    def sso(self) -> Any:
        with self._lock:  # boto3 sessions are not thread-safe; grants run in a thread pool
            if self._sso is None:
                self._sso = make_client(self.instance, self._environ, "sso-admin")
        return self._sso

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                self._store = make_client(self.instance, self._environ, "identitystore")
        return self._store

    def _list_instances(self) -> dict[str, str]:
        if self._instances is None:
            found: dict[str, str] = {}
            with map_errors("Identity Center instances"):
                for page in self.sso.get_paginator("list_instances").paginate():
                    for item in page["Instances"]:
                        found[item["InstanceArn"]] = item["IdentityStoreId"]
            self._instances = found
        return self._instances

    def _place(self, target: Target) -> _Place:
        instances = self._list_instances()
        wanted = target.param("instance_arn", "")
        if wanted:
            if wanted not in instances:
                raise NotFound(f"Identity Center instance {wanted} not found")
            instance_arn = wanted
        elif len(instances) == 1:
            (instance_arn,) = instances
        elif not instances:
            raise NotFound("no IAM Identity Center instance in this region")
        else:
            raise ProviderError(
                f"{len(instances)} Identity Center instances: set instance_arn on {target.display}"
            )
        return _Place(
            instance_arn=instance_arn,
            identity_store_id=instances[instance_arn],
            account_id=target.param("account_id"),
            permission_set_arn=self._permission_set_arn(instance_arn,
                                                        target.param("permission_set")),
        )

    def _permission_set_arn(self, instance_arn: str, written: str) -> str:
        key = (instance_arn, written)
        if key in self._permission_sets:
            return self._permission_sets[key]
        subject = f"permission set {written}"
        if written.startswith("arn:"):
            with map_errors(subject):
                self._note_duration(written, self.sso.describe_permission_set(
                    InstanceArn=instance_arn, PermissionSetArn=written)["PermissionSet"])
            self._permission_sets[key] = written
            return written
        # The API lists ARNs only: describe each until the name matches, remembering every name
        # seen so that other targets on the same instance resolve without more calls.
        with map_errors(subject):
            for page in self.sso.get_paginator("list_permission_sets").paginate(
                InstanceArn=instance_arn
            ):
                arns: list[str] = page["PermissionSets"]
                for arn in arns:
                    if arn in self._described:
                        continue
                    described = self.sso.describe_permission_set(
                        InstanceArn=instance_arn, PermissionSetArn=arn
                    )["PermissionSet"]
                    self._permission_sets[(instance_arn, described["Name"])] = arn
                    self._described.add(arn)
                    self._note_duration(arn, described)
                    if described["Name"] == written:
                        return arn
        raise NotFound(f"{subject} not found in Identity Center instance {instance_arn}")

    def _note_duration(self, arn: str, described: Mapping[str, Any]) -> None:
        value = described.get("SessionDuration")
        # AWS answers an ISO 8601 duration ("PT12H"); moto answers the seconds it defaults
        # to (3600) for a permission set created without one.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"PT{int(value)}S"
        with self._lock:
            self._durations[arn] = str(value) if value else None

    def session_duration(self, target: Target) -> str | None:
        """How long a role session of the target's permission set lasts (its SessionDuration,
        ISO 8601; None when none is set), read once per permission set and run: it is what
        outlives a revoke (sessions already started keep working until they expire)."""
        place = self._place(target)
        arn = place.permission_set_arn
        with self._lock:
            known = arn in self._durations
        if not known:
            with map_errors(f"permission set {arn}"):
                self._note_duration(arn, self.sso.describe_permission_set(
                    InstanceArn=place.instance_arn, PermissionSetArn=arn)["PermissionSet"])
        with self._lock:
            return self._durations[arn]

    def _user_id(self, place: _Place, user_name: str) -> str:
        key = (place.identity_store_id, principal_key(user_name))
        if key not in self._user_ids:
            with map_errors(f"Identity Store user {user_name}"):
                user_id: str = self.store.get_user_id(
                    IdentityStoreId=place.identity_store_id,
                    AlternateIdentifier={"UniqueAttribute": {
                        "AttributePath": "userName", "AttributeValue": user_name,
                    }},
                )["UserId"]
            self._user_ids[key] = user_id
            self._user_names[(place.identity_store_id, user_id)] = user_name
        return self._user_ids[key]

    def _user_name(self, place: _Place, user_id: str) -> str:
        key = (place.identity_store_id, user_id)
        if key not in self._user_names:
            try:
                with map_errors(f"Identity Store user id {user_id}"):
                    name: str = self.store.describe_user(
                        IdentityStoreId=place.identity_store_id, UserId=user_id
                    )["UserName"]
            except NotFound:
                # An assignment left behind by a deleted user: report the bare id, which no
                # person's account name matches, so that drift reports show it.
                name = user_id
            self._user_names[key] = name
        return self._user_names[key]

    def _assigned_user_ids(self, place: _Place) -> set[str]:
        """UserIds holding the permission set on the account; GROUP assignments are left out."""
        ids: set[str] = set()
        paginator = self.sso.get_paginator("list_account_assignments")
        with map_errors(f"assignments of {place.permission_set_arn} on {place.account_id}"):
            for page in paginator.paginate(InstanceArn=place.instance_arn,
                                           AccountId=place.account_id,
                                           PermissionSetArn=place.permission_set_arn):
                ids.update(a["PrincipalId"] for a in page["AccountAssignments"]
                           if a["PrincipalType"] == "USER")
        return ids

    # The Provider protocol.

    def native_expiry(self, target: Target) -> bool:
        return False

    def observe(self, targets: Sequence[Target]) -> Mapping[Target, frozenset[str]]:
        result: dict[Target, frozenset[str]] = {}
        for target in targets:
            place = self._place(target)
            holders = {principal_key(self._user_name(place, user_id)): user_id
                       for user_id in self._assigned_user_ids(place)}
            with self._lock:
                self._holders[target] = holders
            result[target] = frozenset(holders)
        return result

    def member_ids(self, target: Target) -> Mapping[str, str]:
        with self._lock:
            return dict(self._holders.get(target, {}))

    def grant(self, change: Change) -> Outcome:
        place = self._place(change.target)
        user_id = self._user_id(place, change.principal)
        # Read before writing: a second identical create is not rejected everywhere (moto stores
        # a duplicate), and an assignment already there is the wanted end state.
        if user_id in self._assigned_user_ids(place):
            return Outcome(change, Status.UNCHANGED, "already assigned", principal_id=user_id)
        what = f"assigning {change.principal} to {change.target.display}"
        with map_errors(what):
            request = self.sso.create_account_assignment(
                **self._assignment(place, user_id)
            )["AccountAssignmentCreationStatus"]
        self._wait(what, request, "describe_account_assignment_creation_status",
                   "AccountAssignmentCreationRequestId", "AccountAssignmentCreationStatus", place)
        return Outcome(change, Status.DONE,
                       f"assigned permission set on account {place.account_id}",
                       principal_id=user_id)

    def revoke(self, change: Change) -> Outcome:
        place = self._place(change.target)
        if change.principal_id is not None:
            # The user the engine granted, by UserId: whatever their user name is now.
            user_id = change.principal_id
            if not _USER_ID.match(user_id):
                raise NotFound(f"Identity Store UserId {user_id!r} is not a UserId")
        else:
            try:
                user_id = self._user_id(place, change.principal)
            except NotFound:
                return Outcome(change, Status.UNCHANGED,
                               "no such Identity Store user: not assigned")
        if user_id not in self._assigned_user_ids(place):
            return Outcome(change, Status.UNCHANGED, "not assigned")
        what = f"removing {change.principal} from {change.target.display}"
        with map_errors(what):
            request = self.sso.delete_account_assignment(
                **self._assignment(place, user_id)
            )["AccountAssignmentDeletionStatus"]
        self._wait(what, request, "describe_account_assignment_deletion_status",
                   "AccountAssignmentDeletionRequestId", "AccountAssignmentDeletionStatus", place)
        return Outcome(change, Status.DONE,
                       f"removed permission set assignment on account {place.account_id}")

    @staticmethod
    def _assignment(place: _Place, user_id: str) -> dict[str, str]:
        return {
            "InstanceArn": place.instance_arn,
            "TargetId": place.account_id,
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": place.permission_set_arn,
            "PrincipalType": "USER",
            "PrincipalId": user_id,
        }

    def _wait(self, what: str, request: Mapping[str, Any], operation: str, id_param: str,
              result_key: str, place: _Place) -> None:
        request_id = request["RequestId"]

        def describe() -> Mapping[str, Any]:
            with map_errors(f"status of {what}"):
                status: Mapping[str, Any] = getattr(self.sso, operation)(
                    InstanceArn=place.instance_arn, **{id_param: request_id}
                )[result_key]
            return status

        # Always ask at least once: the write's own answer is IN_PROGRESS on AWS.
        wait_for_request(describe, what)
