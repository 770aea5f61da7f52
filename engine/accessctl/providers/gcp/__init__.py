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

The package, by what each part does: `schema` (settings, target blocks, permissions), `client`
(the Google API clients, credentials, errors), `iam` and `groups` (the target kinds) and
`provider` (the `Provider` interface). Importing it imports no Google library: the Google API
client loads when a GCP entitlement is used.
"""

from __future__ import annotations

from accessctl.providers.gcp.client import uses_anonymous_credentials
from accessctl.providers.gcp.iam import (
    ETAG_ATTEMPTS,
    TITLE_PREFIX,
    condition_expiry,
    is_engine_binding,
)
from accessctl.providers.gcp.provider import GcpProvider, create
from accessctl.providers.gcp.schema import PERMISSIONS, SETTINGS_SCHEMA, TARGET_SCHEMAS

PLATFORM = "gcp"

__all__ = [
    "ETAG_ATTEMPTS",
    "PERMISSIONS",
    "PLATFORM",
    "SETTINGS_SCHEMA",
    "TARGET_SCHEMAS",
    "TITLE_PREFIX",
    "GcpProvider",
    "condition_expiry",
    "create",
    "is_engine_binding",
    "uses_anonymous_credentials",
]
