"""Webhook notifications: pure formatting, and delivery to a small local HTTP server."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from accessctl.change.notify import (
    WEBHOOK_ENV,
    Kind,
    Notice,
    denied,
    expiring,
    from_outcome,
    notify,
    payload,
    send,
)
from accessctl.core.model import Action, Change, Grant, Outcome, Status, Target
from accessctl.emulators.http import Emulator, Faults, HttpError, Request

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
TARGET = Target.build("aws-prod", "aws", "iam_group", {"group": "prod-admins"})


class Webhook(Emulator):
    """A chat webhook: accepts JSON on /hook, refuses on /broken, like Slack's 4xx on /gone."""

    name = "webhook"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict[str, object]] = []
        self.route("POST", "/hook", self._hook)
        self.route("POST", "/gone", self._gone)

    def _hook(self, request: Request) -> object:
        with self.lock:
            self.received.append(request.json())
        return {"ok": True}

    def _gone(self, request: Request) -> object:
        raise HttpError(404, {"error": "no_service"})


@pytest.fixture
def hook() -> Iterator[Webhook]:
    with Webhook() as server:
        assert isinstance(server, Webhook)
        yield server


def grant(hours: float = 0.5, person: str = "alice") -> Grant:
    return Grant(TARGET, person, person, "aws-prod-admin", None,
                 NOW + timedelta(hours=hours), ("access-requests/aws-prod-admin/alice-x.yaml",))


def change(action: Action) -> Change:
    return Change(action, TARGET, "alice", "aws-prod-admin", "requested by alice", "alice",
                  NOW + timedelta(hours=2), ("access-requests/aws-prod-admin/alice-x.yaml",))


def test_granted_and_revoked_come_from_changes_that_were_made() -> None:
    granted = from_outcome(Outcome(change(Action.GRANT), Status.DONE))
    assert granted is not None and granted.kind is Kind.GRANTED
    body = payload(granted)
    assert body["text"] == (
        "accessctl: granted aws-prod-admin to alice until 2026-11-23T14:30:00Z "
        "(aws-prod:iam_group(group=prod-admins)) [access-requests/aws-prod-admin/alice-x.yaml]")
    assert body["accessctl"] == {
        "event": "granted", "entitlement": "aws-prod-admin", "person": "alice",
        "principal": "alice", "target": "aws-prod:iam_group(group=prod-admins)",
        "expires_at": "2026-11-23T14:30:00Z",
        "requests": ["access-requests/aws-prod-admin/alice-x.yaml"],
        "detail": "requested by alice"}
    revoked = from_outcome(Outcome(change(Action.REVOKE), Status.DONE))
    assert revoked is not None and payload(revoked)["text"].startswith(
        "accessctl: revoked aws-prod-admin from alice")
    for status in (Status.UNCHANGED, Status.FAILED, Status.SKIPPED):
        assert from_outcome(Outcome(change(Action.GRANT), status)) is None


def test_a_denial_carries_its_reasons() -> None:
    body = payload(denied("access-requests/aws-prod-admin/bob-x.yaml", "aws-prod-admin", "bob",
                          ["needs 1 more approval(s)", "not counted: bob: the requester"]))
    assert body["text"] == ("accessctl: denied aws-prod-admin for bob "
                            "[access-requests/aws-prod-admin/bob-x.yaml]: needs 1 more "
                            "approval(s); not counted: bob: the requester")
    assert body["accessctl"]["event"] == "denied"


def test_expiring_names_grants_ending_within_thirty_minutes() -> None:
    grants = [grant(0.25, "alice"), grant(0.5, "bob"), grant(0.51, "carol"), grant(-0.1, "dave")]
    assert [n.person for n in expiring(grants, NOW)] == ["alice", "bob"]
    text = payload(expiring([grant(0.25)], NOW)[0], NOW)["text"]
    assert text.startswith("accessctl: alice's aws-prod-admin expires in 15 minutes "
                           "(at 2026-11-23T12:45:00Z)")


def test_a_job_every_ten_minutes_warns_once() -> None:
    every = timedelta(minutes=10)
    ends = NOW + timedelta(hours=3)
    runs = [ends - timedelta(minutes=m) for m in (45, 35, 25, 15, 5)]
    # Each run judged at its own time: only the one 25 minutes before the end warns.
    held = [Grant(TARGET, "alice", "alice", "x", None, ends, ())]
    warned = [run for run in runs if expiring(held, run, every=every)]
    assert warned == [ends - timedelta(minutes=25)]


def test_notices_are_posted_as_json(hook: Webhook) -> None:
    notices = [from_outcome(Outcome(change(Action.GRANT), Status.DONE)),
               denied("access-requests/x/bob-x.yaml", "x", "bob", ["no"])]
    err = io.StringIO()
    sent = notify({WEBHOOK_ENV: f"{hook.base_url}/hook"}, [n for n in notices if n], err)
    assert sent == 2 and err.getvalue() == ""
    assert [r["accessctl"]["event"] for r in hook.received] == ["granted", "denied"]  # type: ignore[index]
    entry = hook.log[0]
    assert entry.method == "POST" and entry.headers["content-type"] == "application/json"
    assert json.loads(entry.body)["text"].startswith("accessctl: granted")


def test_without_the_setting_nothing_is_sent(hook: Webhook) -> None:
    assert notify({}, [denied("p", "x", "bob", ["no"])], io.StringIO()) == 0
    assert hook.count() == 0


def test_a_refusing_webhook_is_logged_not_raised(hook: Webhook) -> None:
    err = io.StringIO()
    secret = f"{hook.base_url}/gone"
    assert send(secret, [denied("p", "x", "bob", ["no"])], err) == 0
    assert "answered HTTP 404 for a denied notice: not delivered" in err.getvalue()
    assert "/gone" not in err.getvalue(), "the URL is a secret"


def test_server_errors_and_dropped_connections_are_logged(hook: Webhook) -> None:
    hook.set_faults(Faults(script=["500", "drop"]))
    err = io.StringIO()
    notices = [denied("p", "x", "bob", ["no"])] * 3
    assert send(f"{hook.base_url}/hook", notices, err) == 1
    lines = err.getvalue().splitlines()
    assert len(lines) == 2 and "HTTP 500" in lines[0] and "unreachable" in lines[1]


def test_a_slow_webhook_is_cut_off_by_the_timeout(hook: Webhook) -> None:
    hook.set_faults(Faults(latency=2.0))
    err = io.StringIO()
    started = time.monotonic()
    assert send(f"{hook.base_url}/hook", [denied("p", "x", "bob", ["no"])], err,
                timeout=0.3) == 0
    assert time.monotonic() - started < 1.5
    assert "unreachable" in err.getvalue() and "timed out" in err.getvalue()


def test_an_unreachable_or_bad_url_never_raises() -> None:
    err = io.StringIO()
    notice = Notice(Kind.REVOKED, "x", "alice")
    assert send("http://127.0.0.1:9/hook", [notice], err, timeout=1) == 0
    assert "unreachable for a revoked notice" in err.getvalue()
    bad = io.StringIO()
    assert send("file:///etc/passwd", [notice], bad) == 0
    assert "is not an http(s) URL" in bad.getvalue()
