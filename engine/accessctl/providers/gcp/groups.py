"""GCP target kind `group_membership`: a Cloud Identity membership whose MEMBER role has
`expiryDetail.expireTime = expires_at`; Google deletes the membership itself at that time.
Membership expiry needs Cloud Identity Premium or Google Workspace Enterprise: on another
edition Google refuses it, and the provider adds the membership without one and says that the
revoke job ends it (`membership_expiry: false` skips the attempt)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from accessctl.core.model import Change, Outcome, ProviderInstance, Status, Target, isoformat
from accessctl.providers.base import NotFound, principal_key
from accessctl.providers.gcp.client import GcpClient, Refused, errors, expiry_of

_MEMBERS_PAGE = 500  # the most Cloud Identity gives per page in the FULL view


class GroupMemberships(GcpClient):
    """Observe, grant and revoke members of a Cloud Identity group."""

    def __init__(self, instance: ProviderInstance, environ: Mapping[str, str]) -> None:
        super().__init__(instance, environ)
        self._group_names: dict[str, str] = {}
        self._membership_expiry = bool(instance.settings.get("membership_expiry", True))
        """Whether memberships get an expiry: the setting, until Google refuses one."""

    def _membership_holders(self, target: Target) -> frozenset[str]:
        return frozenset(
            principal_key(m.get("preferredMemberKey", {}).get("id", ""))
            for m in self._memberships(self._group_name(target))
        )

    def _group_name(self, target: Target) -> str:
        email = target.param("group")
        if email not in self._group_names:
            with errors(f"group {email}"):
                found = self.identity.groups().lookup(groupKey_id=email).execute(num_retries=0)
            self._group_names[email] = found["name"]
        return self._group_names[email]

    def _memberships(self, group: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            with errors(group):
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
            with errors(f"member {email} of {group}"):
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
        expires = expiry_of(change)
        existing = self._find_membership(group, email)
        memberships = self.identity.groups().memberships()
        if existing is None:
            subject = f"member {email} of group {group_email}"
            if self._membership_expiry:
                role = {"name": "MEMBER", "expiryDetail": {"expireTime": isoformat(expires)}}
                body = {"preferredMemberKey": {"id": email}, "roles": [role]}
                try:
                    with errors(subject):
                        memberships.create(parent=group, body=body).execute(num_retries=0)
                except Refused as refused:
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
            with errors(f"member {email} of group {group_email}"):
                memberships.modifyMembershipRoles(name=existing["name"], body=body).execute(
                    num_retries=0
                )
        except Refused as refused:
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
        with errors(f"member {email} of group {change.target.param('group')}"):
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
            with errors(f"member {email} of group {group_email}"):
                self.identity.groups().memberships().delete(name=existing["name"]).execute(
                    num_retries=0
                )
        except NotFound:
            # Expired (Google removed it) or removed by someone else meanwhile: the end state holds.
            return Outcome(change, Status.UNCHANGED, f"not a member of {group_email}")
        return Outcome(change, Status.DONE, f"removed from {group_email}")


def _email(principal: str) -> str:
    return principal.strip().split(":", 1)[-1].lower()


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


def _expiry_refused(error: Refused) -> bool:
    """Google refused the expiry itself: what an edition without membership expiry answers.
    Google documents the edition requirement, not its error, so any 400/403/412 whose words are
    about expiry counts (a refused member or group says nothing of expiry)."""
    return error.status in (400, 403, 412) and "expir" in error.reason.casefold()
