"""Google Cloud emulator: Resource Manager v3 IAM policies and Cloud Identity v1 memberships.

Paths, bodies and error shapes follow the discovery documents shipped in google-api-python-client
(`cloudresourcemanager.v3.json`, `cloudidentity.v1.json`): the client builds
`v3/{+resource}:getIamPolicy` and `v1/{+parent}/memberships`, where `{+...}` is a reserved
expansion, so `projects/p1` arrives with its slash intact. Errors use Google's JSON body
`{"error": {"code", "message", "status", "details"}}`.

Behaviour kept from the real services because the engine depends on it:
- IAM: an etag per policy that changes on every write; a stale etag on setIamPolicy answers
  409 ABORTED; conditional bindings need policy version 3 on write and on read (reading a
  conditional policy with a lower requested version answers 400 INVALID_ARGUMENT); the update
  mask defaults to "bindings,etag"; unknown resources answer 403 PERMISSION_DENIED (Google does
  not say whether a resource exists to a caller without access); a `user:` member that is not
  a known account answers 400 "User ... does not exist.". Conditions are stored, not evaluated:
  an expired conditional binding stays in the policy, as on Google Cloud.
- Cloud Identity: memberships with a MEMBER role `expiryDetail.expireTime` disappear once that
  time has passed (the emulator's `clock` is injectable); a duplicate create answers 409
  ALREADY_EXISTS; unknown groups answer 403 "(or it may not exist)"; the member listing pages
  with pageSize and nextPageToken.
- Membership expiry is a Cloud Identity Premium / Google Workspace Enterprise feature: with
  `membership_expiry = False` (another edition) a create or update that sets
  `expiryDetail` is refused with 400 FAILED_PRECONDITION. Google documents the edition
  requirement, not the error it answers: the status and wording are the emulator's.

Where things are: `wire.py` (status names, the error body, timestamps, reading requests),
`state.py` (the records), `server.py` (state, clock, the response log, user accounts),
`iam.py` (Resource Manager IAM policies), `identity.py` (Cloud Identity groups and
memberships), and `emulator.py`, which combines them into `GcpEmulator`.
"""

from __future__ import annotations

from accessctl.emulators.gcp.emulator import GcpEmulator
from accessctl.emulators.gcp.state import Group, LoggedResponse, Membership, Policy
from accessctl.emulators.gcp.wire import google_error, parse_rfc3339, rfc3339

__all__ = ["GcpEmulator", "Group", "LoggedResponse", "Membership", "Policy", "google_error",
           "parse_rfc3339", "rfc3339"]
