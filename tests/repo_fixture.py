"""A small access repository written into a temp dir, for CLI tests."""

from __future__ import annotations

from pathlib import Path

PROVIDERS = """\
providers:
  aws-test:
    platform: aws
    region: us-east-1
    endpoint_url: {endpoint}
"""

IDENTITIES = """\
people:
  alice: {aws: alice}
  bob: {aws: bob}
  carol: {aws: carol}
  mallory: {}
teams:
  "@acme/sre": [alice, bob]
  "@acme/security": [carol]
admins: ["@acme/security"]
"""

ENTITLEMENT = """\
name: {name}
provider: aws-test
target:
  kind: iam_group
  group: {group}
eligible: ["@acme/sre", mallory]
approvers: ["@acme/security"]
approvals: 1
max_duration: 4h
require_ticket: true
ticket_pattern: "^INC-[0-9]+$"
exclusive: {exclusive}
"""


def request(requester: str, entitlement: str, expires: str, starts: str | None = None,
            ticket: str = "INC-1", reason: str = "debugging") -> str:
    text = f"requester: {requester}\nentitlement: {entitlement}\nreason: {reason}\n"
    if ticket:
        text += f"ticket: {ticket}\n"
    if starts:
        text += f"starts_at: {starts}\n"
    return text + f"expires_at: {expires}\n"


def write_repo(root: Path, endpoint: str = "http://127.0.0.1:1",
               requests: dict[str, str] | None = None, exclusive: bool = False) -> Path:
    (root / "policies" / "entitlements").mkdir(parents=True)
    (root / "access-requests").mkdir()
    (root / "policies" / "providers.yaml").write_text(PROVIDERS.format(endpoint=endpoint))
    (root / "policies" / "identities.yaml").write_text(IDENTITIES)
    (root / "policies" / "entitlements" / "prod-admin.yaml").write_text(
        ENTITLEMENT.format(name="prod-admin", group="prod-admins", exclusive="false"))
    (root / "policies" / "entitlements" / "break-glass.yaml").write_text(
        ENTITLEMENT.format(name="break-glass", group="break-glass",
                           exclusive="true" if exclusive else "false"))
    for path, text in (requests or {}).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root
