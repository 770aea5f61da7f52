"""apply and the revoke sweep post Slack-compatible notices when ACCESSCTL_WEBHOOK_URL is set."""

from __future__ import annotations

import json

from tests.e2e.github_world import World, hours
from tests.test_notify import Webhook


def test_granted_denied_expiring_and_revoked_are_announced(world: World) -> None:
    _, approved = world.ask("alice")
    world.approve(approved, "carol")
    world.merge(approved)
    _, unapproved = world.ask("bob")
    world.merge(unapproved)
    with Webhook() as hook:
        world.env["ACCESSCTL_WEBHOOK_URL"] = f"{hook.base_url}/hook"
        applied = world.apply(hours(1))
        assert applied.code == 1  # bob's request is denied
        first = json.dumps(hook.received)
        assert "alice" in first and "granted" in first.lower()
        assert "bob" in first and "denied" in first.lower()
        # 20 minutes before alice's grant ends, the sweep warns; after it ends, it revokes.
        hook.received.clear()
        from tests.cli_runner import invoke

        audit = str(world.workspace.parent / "audit.jsonl")
        invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file", audit,
               environ=world.env, now=hours(2.7))
        assert "expire" in json.dumps(hook.received).lower()
        hook.received.clear()
        invoke("revoke", "--repo", str(world.workspace), "--confirm", "--audit-file", audit,
               environ=world.env, now=hours(3.5))
        assert "revoked" in json.dumps(hook.received).lower()
    assert world.members() == set()
